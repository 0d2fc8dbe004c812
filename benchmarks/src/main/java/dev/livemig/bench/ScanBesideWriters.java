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
import org.openjdk.jmh.annotations.OperationsPerInvocation;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;

/**
 * The migration's dirty tracker beside a running vCPU on one address space: one thread
 * loops PAGEMAP_SCAN(WP_MATCHING | CHECK_WPASYNC, WRITTEN) over a populated 256 MiB
 * region registered with WP_ASYNC, while another stores to random pages of it (a store
 * to a page the scan re-protected is a WP_ASYNC fault). The scan holds one PMD slot's
 * lock at a time, so a store waits at most for the slot it hits, not for the whole walk.
 *
 * <p>{@code tracked:store} and {@code tracked:scan} run together; {@code storeAlone} and
 * {@code scanAlone} are the same operations with nothing beside them. A store operation
 * is {@link #STORES} stores to random pages.
 */
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
@Fork(1)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@State(Scope.Benchmark)
public class ScanBesideWriters {
    static final long LEN = 256L << 20;
    static final int STORES = 64;

    Guest guest;
    PagemapScan.Arg arg;

    @Setup(Level.Trial)
    public void setUp() {
        guest = new Guest(LEN).populate().registerWpAsync();
        guest.writeprotect(true);
        arg = PagemapScan.Arg.of(guest.base, guest.base + LEN)
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

    private void stores(Vcpu v) {
        var mm = guest.mm;
        long base = guest.base;
        long pages = guest.pages;
        for (int i = 0; i < STORES; i++) {
            long p = v.rnd.nextLong(pages);
            mm.writeLong(base + (p << 12), p);
        }
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
    @OperationsPerInvocation(STORES)
    public void store(Vcpu v) {
        stores(v);
    }

    @Benchmark
    @OperationsPerInvocation(STORES)
    public void storeAlone(Vcpu v) {
        stores(v);
    }

    @Benchmark
    public PagemapScan.Result scanAlone() {
        return PagemapScan.scan(guest.mm, arg);
    }
}
