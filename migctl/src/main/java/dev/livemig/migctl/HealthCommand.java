package dev.livemig.migctl;

import io.grpc.health.v1.HealthCheckRequest;
import io.grpc.health.v1.HealthCheckResponse;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/**
 * {@code migctl health}: grpc.health.v1.Health/Check against a node, exit 0 only when
 * SERVING (the docker-compose health checks use it).
 */
@Command(name = "health", mixinStandardHelpOptions = true,
        description = "Asks a node's gRPC health service; exits 0 only when it is SERVING.")
final class HealthCommand implements Callable<Integer> {
    @Spec
    CommandSpec spec;
    @Mixin
    NodeOptions node;
    @Option(names = "--target", paramLabel = "HOST:PORT", converter = HostPort.Converter.class,
            description = "Check this target node instead of the source node.")
    HostPort target;
    @Option(names = "--service", defaultValue = "",
            description = "Service name, e.g. livemig.v1.MigrationControl (default: the whole server).")
    String service;

    @Override
    public Integer call() {
        try (NodeClient n = target == null ? node.source() : node.open("target", target)) {
            HealthCheckResponse r = n.health(h -> h.check(HealthCheckRequest.newBuilder().setService(service).build()));
            spec.commandLine().getOut().println(n.address() + (service.isEmpty() ? "" : " " + service) + ": "
                    + r.getStatus());
            return r.getStatus() == HealthCheckResponse.ServingStatus.SERVING ? Migctl.EXIT_OK : Migctl.EXIT_FAILED;
        }
    }
}
