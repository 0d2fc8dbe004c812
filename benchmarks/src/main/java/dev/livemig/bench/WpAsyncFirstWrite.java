package dev.livemig.bench;

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
 * The first guest store to a page write-protected with UFFD_FEATURE_WP_ASYNC: the store
 * faults, do_wp_page() clears the uffd-wp bit in place and the store is retried. Real
 * kernel (6.18, this machine class): about 1 µs per page.
 *
 * <p>Each invocation writes {@link #PAGES} distinct protected pages once each; the whole
 * region is re-protected before every invocation, outside the measured section, so the
 * figure is nanoseconds per first write.
 */
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
@State(Scope.Thread)
@Fork(1)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
public class WpAsyncFirstWrite {
    static final int PAGES = 16384;

    Guest guest;

    @Setup(Level.Trial)
    public void setUp() {
        guest = new Guest((long) PAGES * 4096).populate().registerWpAsync();
    }

    @Setup(Level.Invocation)
    public void protect() {
        guest.writeprotect(true);
    }

    @TearDown(Level.Trial)
    public void tearDown() {
        guest.close();
    }

    @Benchmark
    @OperationsPerInvocation(PAGES)
    public void firstWrite() {
        var mm = guest.mm;
        long base = guest.base;
        for (long i = 0; i < PAGES; i++) {
            mm.writeLong(base + (i << 12), i);
        }
    }
}
