package dev.livemig.migctl;

import java.util.Optional;
import java.util.ServiceLoader;

/**
 * SEAM for the node modules: starts a target and a source node on loopback (separate
 * processes, real gRPC) for {@code migctl demo}, and stops them on {@link Running#close()}.
 *
 * <p>migctl does not depend on source-node/target-node yet. The implementation registers
 * itself in {@code META-INF/services/dev.livemig.migctl.DemoNodes}; until one is on the
 * classpath, {@code migctl demo} says so and exits 1 rather than pretending to migrate.
 */
public interface DemoNodes {
    /** Started nodes: where migctl reaches the source, and where the source reaches the target. */
    interface Running extends AutoCloseable {
        HostPort source();

        HostPort target();

        @Override
        void close();
    }

    Running start() throws Exception;

    /** The implementation on the classpath, if any. */
    static Optional<DemoNodes> find() {
        return ServiceLoader.load(DemoNodes.class).findFirst();
    }
}
