package dev.livemig.target;

import dev.livemig.migration.target.IncomingMigration;
import dev.livemig.mm.Kernel;
import io.grpc.netty.shaded.io.grpc.netty.NettyServerBuilder;
import java.net.InetSocketAddress;
import java.util.concurrent.Callable;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** {@code java -jar target-node.jar --port 50052}: a target node on one simulated kernel. */
@Command(name = "target-node", mixinStandardHelpOptions = true,
        description = "Receives live migrations (livemig.v1.PageTransfer) into a simulated Linux kernel.")
public final class TargetNodeMain implements Callable<Integer> {
    @Option(names = "--host", defaultValue = "0.0.0.0", description = "Address to listen on (default: ${DEFAULT-VALUE}).")
    String host;

    @Option(names = "--port", defaultValue = "50052", description = "Port to listen on; 0 picks a free one (default: ${DEFAULT-VALUE}).")
    int port;

    @Option(names = "--hugepages", defaultValue = "64",
            description = "vm.nr_hugepages of the simulated kernel, 2 MiB each (default: ${DEFAULT-VALUE}).")
    int hugepages;

    @Option(names = "--mem-prealloc-mib", defaultValue = "0",
            description = "Touch this much guest memory at start, as QEMU's -mem-prealloc does, so that incoming pages "
                    + "land in frames the host has already faulted in (default: ${DEFAULT-VALUE}).")
    long memPreallocMib;

    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    @Override
    public Integer call() throws Exception {
        if (memPreallocMib < 0) {
            throw new CommandLine.ParameterException(spec.commandLine(),
                    "--mem-prealloc-mib must be >= 0, got " + memPreallocMib);
        }
        Kernel kernel = new Kernel(new Kernel.Config().softDirty(true).nrHugepages(hugepages));
        if (memPreallocMib > 0) {
            long t0 = System.nanoTime();
            long bytes = kernel.physMem().prealloc(memPreallocMib << 8);
            System.out.printf("target-node: mem-prealloc touched %d MiB in %.0f ms%n", bytes >> 20,
                    (System.nanoTime() - t0) / 1e6);
        }
        // an HTTP/2 window that holds the PushPages batches the service requests ahead
        TargetNode node = new TargetNode(NettyServerBuilder.forAddress(new InetSocketAddress(host, port))
                        .flowControlWindow(TargetNode.PUSH_FLOW_CONTROL_WINDOW_BYTES)
                        .callExecutor(TargetNode::callExecutor),
                () -> new IncomingMigration(kernel)).withPostcopyListener(host).start();
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            node.close();
            node.migrations().close();
        }, "target-node-shutdown"));
        System.out.println("target-node serves post-copy page requests also on " + host + ":" + node.postcopyPort()
                + " (an event loop of their own)");
        // a launcher waits for this line (and reads the port from it when --port 0)
        System.out.println("target-node listening on " + host + ":" + node.port());
        System.out.flush();
        node.awaitTermination();
        return 0;
    }

    public static void main(String[] args) {
        TargetNode.allowNettyNoCleanerBuffers();
        System.exit(new CommandLine(new TargetNodeMain()).execute(args));
    }
}
