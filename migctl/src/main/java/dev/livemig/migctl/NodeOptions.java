package dev.livemig.migctl;

import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/** {@code --source}: the node serving MigrationControl, and how to open a client to it. */
public final class NodeOptions {
    public static final String DEFAULT_SOURCE = "localhost:50051";
    public static final String DEFAULT_TARGET = "localhost:50052";

    @Spec(Spec.Target.MIXEE)
    CommandSpec mixee;

    @Option(names = "--source", paramLabel = "HOST:PORT", defaultValue = DEFAULT_SOURCE,
            converter = HostPort.Converter.class,
            description = "The source node's MigrationControl service (default: ${DEFAULT-VALUE}).")
    HostPort source;

    public NodeClient source() {
        return open("source", source);
    }

    public NodeClient open(String role, HostPort address) {
        Migctl root = (Migctl) mixee.root().userObject();
        return new NodeClient(role, address, root.channels().open(address));
    }
}
