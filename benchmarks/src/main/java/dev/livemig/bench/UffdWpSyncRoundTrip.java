package dev.livemig.bench;

import dev.livemig.mm.uffd.UffdFeatures;
import dev.livemig.mm.uffd.UserfaultfdCtx;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OperationsPerInvocation;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;

/**
 * A synchronous uffd-wp fault round trip: a store to a write-protected page blocks in
 * handle_userfault(), the monitor thread reads the message and lifts the protection with
 * UFFDIO_WRITEPROTECT (which wakes the vCPU), and the store is retried. Real kernel (6.18,
 * this machine class): 8–12 µs; goal ≤ 10 µs.
 *
 * <p>Each invocation writes {@link #PAGES} distinct protected pages once each; the region is
 * re-protected before every invocation, outside the measured section, so the figure is
 * the time of one round trip.
 */
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
@State(Scope.Thread)
@Fork(1)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
public class UffdWpSyncRoundTrip {
    static final int PAGES = 1024;

    Guest guest;
    UffdMonitor monitor;

    @Setup(Level.Trial)
    public void setUp() {
        guest = new Guest((long) PAGES * 4096).populate();
        guest.uffd = guest.mm.userfaultfd();
        guest.uffd.api(UffdFeatures.WP_UNPOPULATED);
        guest.uffd.register(guest.base, guest.len, UserfaultfdCtx.REGISTER_MODE_WP);
        UserfaultfdCtx uffd = guest.uffd;
        monitor = new UffdMonitor(uffd, "uffd-wp-monitor", addr -> uffd.writeprotect(addr, 4096, 0));
    }

    @Setup(Level.Invocation)
    public void protect() {
        guest.writeprotect(true);
    }

    @TearDown(Level.Trial)
    public void tearDown() throws InterruptedException {
        monitor.close();
        guest.close();
    }

    @Benchmark
    @OperationsPerInvocation(PAGES)
    public void faultRoundTrip() {
        var mm = guest.mm;
        long base = guest.base;
        for (long i = 0; i < PAGES; i++) {
            mm.writeLong(base + (i << 12), i);
        }
    }
}
