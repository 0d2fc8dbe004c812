package dev.livemig.bench;

import dev.livemig.mm.proc.PagemapScan;
import java.util.SplittableRandom;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Group;
import org.openjdk.jmh.annotations.GroupThreads;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;

/**
 * The migration's dirty tracker beside a running vCPU on one address space: one thread
 * loops PAGEMAP_SCAN(WP_MATCHING | CHECK_WPASYNC, WRITTEN) over the first half of a
 * populated 256 MiB region registered with WP_ASYNC, while another stores to random pages
 * of the second half. The scan takes one PMD slot's lock at a time, so the vCPU, whose
 * slots it never visits, runs as if the scan were not there; with one lock for the whole
 * machine each store that comes during a scan waits for the rest of it.
 *
 * <p>{@code tracked:scan} and {@code tracked:store} run together; {@code scanAlone} and
 * {@code storeAlone} are the same operations with nothing beside them. One store
 * operation is one 8-byte store to a random page.
 */
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
@Fork(1)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@State(Scope.Benchmark)
public class ScanBesideWriters {
    static final long LEN = 256L << 20;

    Guest guest;
    PagemapScan.Arg arg;

    @Setup(Level.Trial)
    public void setUp() {
        guest = new Guest(LEN).populate().registerWpAsync();
        guest.writeprotect(true);
        arg = PagemapScan.Arg.of(guest.base, guest.base + LEN / 2)
                .withFlags(PagemapScan.PM_SCAN_WP_MATCHING | PagemapScan.PM_SCAN_CHECK_WPASYNC)
                .withMasks(0, PagemapScan.PAGE_IS_WRITTEN, 0, PagemapScan.PAGE_IS_WRITTEN)
                .withVec(false, guest.pages, 0);
    }

    @TearDown(Level.Trial)
    public void tearDown() {
        guest.close();
    }

    /** The vCPU's random page choices. */
    @State(Scope.Thread)
    public static class Vcpu {
        final SplittableRandom rnd = new SplittableRandom(7);
    }

    private void store(Vcpu v, long half) {
        long p = half + v.rnd.nextLong(half);
        guest.mm.writeLong(guest.base + (p << 12), p);
    }

    @Benchmark
    @Group("tracked")
    @GroupThreads(1)
    public PagemapScan.Result scan() {
        return PagemapScan.scan(guest.mm, arg);
    }

    @Benchmark
    @Group("tracked")
    @GroupThreads(1)
    public void store(Vcpu v) {
        store(v, guest.pages / 2);
    }

    @Benchmark
    public void storeAlone(Vcpu v) {
        store(v, guest.pages / 2);
    }

    @Benchmark
    public PagemapScan.Result scanAlone() {
        return PagemapScan.scan(guest.mm, arg);
    }
}
