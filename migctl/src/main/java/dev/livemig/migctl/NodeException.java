package dev.livemig.migctl;

import io.grpc.Status;
import io.grpc.StatusRuntimeException;

/** A call to a node failed; the message is the one line migctl prints, with its exit code. */
public final class NodeException extends RuntimeException {
    private final int exitCode;

    public NodeException(String message, int exitCode) {
        super(message);
        this.exitCode = exitCode;
    }

    public int exitCode() {
        return exitCode;
    }

    /** One line for a failed RPC to the {@code role} node (source, target) at {@code address}. */
    public static NodeException of(String role, HostPort address, String rpc, StatusRuntimeException e) {
        Status s = e.getStatus();
        String desc = s.getDescription() == null ? "" : ": " + s.getDescription();
        return switch (s.getCode()) {
            case UNAVAILABLE -> new NodeException("cannot reach " + role + " node at " + address, Migctl.EXIT_UNREACHABLE);
            case DEADLINE_EXCEEDED -> new NodeException(role + " node at " + address + " did not answer " + rpc
                    + " in time", Migctl.EXIT_UNREACHABLE);
            case UNIMPLEMENTED -> new NodeException(role + " node at " + address + " does not implement " + rpc,
                    Migctl.EXIT_FAILED);
            default -> new NodeException(role + " node at " + address + " refused " + rpc + ": " + s.getCode() + desc,
                    Migctl.EXIT_FAILED);
        };
    }
}
