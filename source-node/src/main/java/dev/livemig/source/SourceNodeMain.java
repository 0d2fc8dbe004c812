package dev.livemig.source;

import dev.livemig.mm.Kernel;
import dev.livemig.target.TargetNode;
import io.grpc.netty.shaded.io.grpc.netty.NettyServerBuilder;
import java.net.InetSocketAddress;
import java.util.concurrent.Callable;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * {@code java -jar source-node.jar --port 50051}: a source node on one simulated kernel. It
 * receives guests on the same port (PageTransfer), so two source nodes can migrate a guest
 * back and forth.
 */
@Command(name = "source-node", mixinStandardHelpOptions = true,
        description = "Runs guests in a simulated Linux kernel and live-migrates them (livemig.v1.MigrationControl).")
public final class SourceNodeMain implements Callable<Integer> {
    @Option(names = "--host", defaultValue = "0.0.0.0", description = "Address to listen on (default: ${DEFAULT-VALUE}).")
    String host;

    @Option(names = "--port", defaultValue = "50051", description = "Port to listen on; 0 picks a free one (default: ${DEFAULT-VALUE}).")
    int port;

    @Option(names = "--hugepages", defaultValue = "64",
            description = "vm.nr_hugepages of the simulated kernel, 2 MiB each (default: ${DEFAULT-VALUE}).")
    int hugepages;

    @Override
    public Integer call() throws Exception {
        Kernel kernel = new Kernel(new Kernel.Config().softDirty(true).nrHugepages(hugepages));
        // the node receives guests too (PageTransfer): a window that holds the batches requested ahead
        SourceNode node = new SourceNode(NettyServerBuilder.forAddress(new InetSocketAddress(host, port))
                .flowControlWindow(TargetNode.PUSH_FLOW_CONTROL_WINDOW_BYTES), kernel,
                SourceNode::dialOverNetty, SourceNode::dialOnOwnLoop).start();
        Runtime.getRuntime().addShutdownHook(new Thread(node::close, "source-node-shutdown"));
        // a launcher waits for this line (and reads the port from it when --port 0)
        System.out.println("source-node listening on " + host + ":" + node.port());
        System.out.flush();
        node.awaitTermination();
        return 0;
    }

    public static void main(String[] args) {
        dev.livemig.target.TargetNode.allowNettyNoCleanerBuffers();
        System.exit(new CommandLine(new SourceNodeMain()).execute(args));
    }
}
