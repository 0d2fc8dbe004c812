package dev.livemig.migctl;

import java.util.Optional;
import java.util.ServiceLoader;

/**
 * SEAM for the node modules: starts a target and a source node on loopback (separate
 * processes, real gRPC) for {@code migctl demo}, and stops them on {@link Running#close()}.
 *
 * <p>The implementation ({@link NodeProcesses}) registers itself in
 * {@code META-INF/services/dev.livemig.migctl.DemoNodes}; a build without one makes
 * {@code migctl demo} say so and exit 1 rather than pretend to migrate.
 */
public interface DemoNodes {
    /** Started nodes: where migctl reaches the source, and where the source reaches the target. */
    interface Running extends AutoCloseable {
        HostPort source();

        HostPort target();

        @Override
        void close();
    }

    /** Starts both nodes, telling {@code out} where they listen; both are stopped if either fails. */
    Running start(java.io.PrintWriter out) throws Exception;

    /** The implementation on the classpath, if any. */
    static Optional<DemoNodes> find() {
        return ServiceLoader.load(DemoNodes.class).findFirst();
    }
}
