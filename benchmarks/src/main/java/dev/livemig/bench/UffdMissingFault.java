package dev.livemig.bench;

import dev.livemig.mm.vma.Mmap;
import dev.livemig.mm.uffd.PageSource;
import java.util.SplittableRandom;
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
 * A missing fault resolved by UFFDIO_COPY, as a post-copy target serves a page it already
 * has: a load from an unpopulated page registered MISSING blocks in handle_userfault(), the
 * monitor thread reads the message and places the page with UFFDIO_COPY (which wakes the
 * vCPU), and the load is retried. Real kernel (6.18, this machine class): about 8 µs.
 *
 * <p>Each invocation touches {@link #PAGES} distinct missing pages once each; the region is
 * zapped with MADV_DONTNEED before every invocation, outside the measured section.
 */
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
@State(Scope.Thread)
@Fork(1)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
public class UffdMissingFault {
    static final int PAGES = 1024;

    Guest guest;
    UffdMonitor monitor;

    @Setup(Level.Trial)
    public void setUp() {
        guest = new Guest((long) PAGES * 4096).registerMissing();
        byte[] page = new byte[4096];
        new SplittableRandom(42).nextBytes(page);
        PageSource src = PageSource.ofBytes(page, 0);
        var uffd = guest.uffd;
        monitor = new UffdMonitor(uffd, "uffd-missing-monitor", addr -> uffd.copy(addr, 4096, 0, src));
    }

    @Setup(Level.Invocation)
    public void zap() {
        guest.mm.madvise(guest.base, guest.len, Mmap.Advice.DONTNEED);
    }

    @TearDown(Level.Trial)
    public void tearDown() throws InterruptedException {
        monitor.close();
        guest.close();
    }

    @Benchmark
    @OperationsPerInvocation(PAGES)
    public long missingFault() {
        var mm = guest.mm;
        long base = guest.base;
        long sum = 0;
        for (long i = 0; i < PAGES; i++) {
            sum += mm.readLong(base + (i << 12));
        }
        return sum;
    }
}
