package dev.livemig.bench;

import dev.livemig.mm.proc.PagemapScan;
import java.util.SplittableRandom;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;

/**
 * One dirty-tracking round: PAGEMAP_SCAN with PM_SCAN_WP_MATCHING | PM_SCAN_CHECK_WPASYNC,
 * category mask and return mask PAGE_IS_WRITTEN, over a populated 1 GiB region registered
 * with WP_ASYNC, after the guest wrote {@code writtenPercent} % of its pages (chosen at
 * random, fixed seed). The scan reports the written pages and re-protects them. Real
 * kernel (6.18): 0.8–1.2 ms at 1 %, 13–18 ms at 100 %.
 *
 * <p>The guest's writes happen before every invocation, outside the measured section.
 */
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
@State(Scope.Thread)
@Fork(1)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
public class PagemapScanWritten {
    static final long LEN = 1L << 30;

    @Param({"1", "100"})
    public int writtenPercent;

    Guest guest;
    long[] written;
    PagemapScan.Arg arg;

    @Setup(Level.Trial)
    public void setUp() {
        guest = new Guest(LEN).populate().registerWpAsync();
        guest.writeprotect(true);
        SplittableRandom rnd = new SplittableRandom(42);
        written = rnd.longs(0, guest.pages).distinct().limit(guest.pages * writtenPercent / 100).sorted().toArray();
        arg = PagemapScan.Arg.of(guest.base, guest.base + LEN)
                .withFlags(PagemapScan.PM_SCAN_WP_MATCHING | PagemapScan.PM_SCAN_CHECK_WPASYNC)
                .withMasks(0, PagemapScan.PAGE_IS_WRITTEN, 0, PagemapScan.PAGE_IS_WRITTEN)
                .withVec(false, guest.pages, 0);
    }

    @Setup(Level.Invocation)
    public void guestWrites() {
        for (long p : written) {
            guest.mm.writeLong(guest.page(p), p);
        }
    }

    @TearDown(Level.Trial)
    public void tearDown() {
        guest.close();
    }

    @Benchmark
    public PagemapScan.Result scan() {
        return PagemapScan.scan(guest.mm, arg);
    }
}
