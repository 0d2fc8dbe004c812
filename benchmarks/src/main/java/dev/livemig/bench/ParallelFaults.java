package dev.livemig.bench;

import dev.livemig.mm.vma.Mmap;
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
import org.openjdk.jmh.infra.ThreadParams;

/**
 * vCPU threads faulting in disjoint ranges of one address space at once: each thread
 * stores once to every page of its own 16 MiB range (eight PMD slots), so every store is
 * a do_anonymous_page() fault that allocates and clears a frame. The range is zapped
 * with MADV_DONTNEED before each invocation, outside the measured section.
 *
 * <p>Run it with {@code -t 1} and {@code -t 2}: the figure is faults per microsecond
 * summed over the threads, so with page-table locks split per PMD slot two threads on two
 * idle cores approach twice the single-thread rate; with one lock for the whole mm (or
 * machine) they would not exceed it.
 */
@BenchmarkMode(Mode.Throughput)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
@Fork(1)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
public class ParallelFaults {
    static final int RANGE_PAGES = 4096;
    static final int MAX_THREADS = 8;

    /** The one address space all threads fault in. */
    @State(Scope.Benchmark)
    public static class Shared {
        Guest guest;

        @Setup(Level.Trial)
        public void setUp() {
            guest = new Guest((long) RANGE_PAGES * MAX_THREADS * 4096);
        }

        @TearDown(Level.Trial)
        public void tearDown() {
            guest.close();
        }
    }

    /** One thread's range, emptied before each invocation. */
    @State(Scope.Thread)
    public static class Range {
        long base;

        @Setup(Level.Trial)
        public void pick(Shared s, ThreadParams t) {
            if (t.getThreadIndex() >= MAX_THREADS) {
                throw new IllegalArgumentException("at most " + MAX_THREADS + " threads");
            }
            base = s.guest.base + (long) t.getThreadIndex() * RANGE_PAGES * 4096;
        }

        @Setup(Level.Invocation)
        public void zap(Shared s) {
            s.guest.mm.madvise(base, (long) RANGE_PAGES * 4096, Mmap.Advice.DONTNEED);
        }
    }

    @Benchmark
    @OperationsPerInvocation(RANGE_PAGES)
    public void anonFault(Shared s, Range r) {
        var mm = s.guest.mm;
        long base = r.base;
        for (long i = 0; i < RANGE_PAGES; i++) {
            mm.writeLong(base + (i << 12), i);
        }
    }
}
