package dev.livemig.bench.e2e;

import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;

/**
 * The raw-TCP baseline for round 0's throughput: a receiver and a sender, each run as its
 * own JVM, move a given number of bytes over one loopback socket in 1 MiB writes (the size
 * of a 256-page batch), with no framing at all.
 *
 * <pre>
 *   java -cp benchmarks.jar dev.livemig.bench.e2e.RawTcp receive            # prints "listening on 127.0.0.1:PORT"
 *   java -cp benchmarks.jar dev.livemig.bench.e2e.RawTcp send PORT BYTES    # prints "sent BYTES bytes in NANOS ns"
 * </pre>
 *
 * The sender's clock runs from connect to the receiver's one-byte acknowledgement that it
 * has read every byte, so the time covers the whole transfer, as a round's does.
 */
public final class RawTcp {
    static final int CHUNK = 1 << 20;

    private RawTcp() {
    }

    public static void main(String[] args) throws IOException {
        switch (args[0]) {
            case "receive" -> receive();
            case "send" -> send(Integer.parseInt(args[1]), Long.parseLong(args[2]));
            default -> throw new IllegalArgumentException("usage: RawTcp receive | send PORT BYTES");
        }
    }

    private static void receive() throws IOException {
        try (ServerSocketChannel server = ServerSocketChannel.open()) {
            server.bind(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0));
            System.out.println("raw-tcp receiver listening on 127.0.0.1:"
                    + ((InetSocketAddress) server.getLocalAddress()).getPort());
            System.out.flush();
            try (SocketChannel s = server.accept()) {
                ByteBuffer header = ByteBuffer.allocate(8);
                readFully(s, header);
                long total = header.flip().getLong();
                ByteBuffer buf = ByteBuffer.allocateDirect(CHUNK);
                long got = 0;
                while (got < total) {
                    buf.clear();
                    int n = s.read(buf);
                    if (n < 0) {
                        throw new IOException("eof after " + got + " of " + total + " bytes");
                    }
                    got += n;
                }
                new DataOutputStream(s.socket().getOutputStream()).write(1);
            }
        }
    }

    private static void send(int port, long total) throws IOException {
        ByteBuffer buf = ByteBuffer.allocateDirect(CHUNK);
        for (int i = 0; i < CHUNK; i += 8) {
            buf.putLong(i, i * 0x9E3779B97F4A7C15L); // not zeros: nothing on the path may shortcut them
        }
        long t0 = System.nanoTime();
        try (SocketChannel s = SocketChannel.open(new InetSocketAddress(InetAddress.getLoopbackAddress(), port))) {
            ByteBuffer header = ByteBuffer.allocate(8).putLong(total).flip();
            while (header.hasRemaining()) {
                s.write(header);
            }
            long sent = 0;
            while (sent < total) {
                buf.clear().limit((int) Math.min(CHUNK, total - sent));
                while (buf.hasRemaining()) {
                    sent += s.write(buf);
                }
            }
            if (new DataInputStream(s.socket().getInputStream()).read() != 1) {
                throw new IOException("no acknowledgement from the receiver");
            }
        }
        long nanos = System.nanoTime() - t0;
        System.out.println("sent " + total + " bytes in " + nanos + " ns");
    }

    private static void readFully(SocketChannel s, ByteBuffer b) throws IOException {
        while (b.hasRemaining()) {
            if (s.read(b) < 0) {
                throw new IOException("eof");
            }
        }
    }
}
