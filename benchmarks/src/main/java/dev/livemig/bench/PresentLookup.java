package dev.livemig.bench;

import dev.livemig.migration.guest.GuestLayout;
import dev.livemig.migration.guest.GuestSpec;
import dev.livemig.migration.guest.GuestSpec.RegionKind;
import dev.livemig.migration.guest.GuestSpec.RegionSpec;
import dev.livemig.migration.guest.PageBitmap;
import dev.livemig.migration.stats.PageChecksums;
import dev.livemig.mm.Kernel;
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
 * Finding which of a pass's pages are present, two ways, in a fully populated 1 GiB guest
 * whose {@code pages} wanted pages are scattered over it (as a stop-and-copy pass's are:
 * a hot set spread over the whole guest): the span walk the sender does
 * ({@link PageChecksums#presentWalk}, PAGEMAP_SCAN over every 2 MiB span holding a wanted
 * page, so every span here) against one pagemap entry per wanted page. The walk costs per
 * span, the lookups per page; the sender chooses between them by the costs its rounds
 * measure ({@code PassRate.method}), this shows where the two cross on a quiet machine.
 */
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
@State(Scope.Thread)
@Fork(1)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
public class PresentLookup {
    private static final long MIB = 1 << 20;

    @Param({"2000", "20000"})
    public int pages;

    Kernel kernel;
    dev.livemig.migration.guest.Guest guest;
    GuestLayout layout;
    PageBitmap wanted;

    @Setup(Level.Trial)
    public void setUp() {
        kernel = new Kernel(new Kernel.Config());
        guest = dev.livemig.migration.guest.Guest.create(kernel, GuestSpec.builder()
                .region(new RegionSpec("ram", RegionKind.ANON, 1024 * MIB, 1.0, 0.0)).seed(1).build());
        layout = guest.layout();
        wanted = new PageBitmap(layout.pages());
        SplittableRandom rnd = new SplittableRandom(pages);
        while (wanted.cardinality() < pages) {
            wanted.set(rnd.nextInt(layout.pages()));
        }
    }

    @TearDown(Level.Trial)
    public void tearDown() {
        guest.close();
        kernel.close();
    }

    @Benchmark
    public PageChecksums.PresentWalk spanWalk() {
        return PageChecksums.presentWalk(guest.mm(), layout, wanted);
    }

    /** The sender's lookups ({@link PageChecksums#presentLookup}): one pagemap entry per wanted page. */
    @Benchmark
    public PageChecksums.PresentWalk perPageLookup() {
        return PageChecksums.presentLookup(guest.mm(), layout, wanted);
    }
}
