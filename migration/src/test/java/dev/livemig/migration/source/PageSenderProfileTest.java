package dev.livemig.migration.source;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.livemig.migration.MigrationControl.MigrationMode;
import dev.livemig.migration.MigrationControl.MigrationParameters;
import dev.livemig.migration.MigrationControl.TransferProfile;
import dev.livemig.migration.guest.Guest;
import dev.livemig.migration.guest.GuestSpec;
import dev.livemig.migration.guest.GuestSpec.RegionKind;
import dev.livemig.migration.guest.GuestSpec.RegionSpec;
import dev.livemig.migration.guest.PageBitmap;
import dev.livemig.migration.transport.MessageSink;
import dev.livemig.migration.transport.PageTransfer.PageBatch;
import dev.livemig.mm.Kernel;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/** Where a send's time went: the profile a round record carries (TransferProfile). */
class PageSenderProfileTest {
    private static final long MIB = 1 << 20;
    private static final int PAGES_PER_SPAN = 512;

    /** A page stream that keeps every batch and its own time inside onNext. */
    private static final class TimingSink implements MessageSink<PageBatch> {
        final List<PageBatch> batches = new ArrayList<>();
        long insideNanos;

        @Override
        public void onNext(PageBatch b) {
            long t0 = System.nanoTime();
            batches.add(b);
            Thread.yield(); // a stream that takes a while to accept: what the sender counts as waiting
            insideNanos += System.nanoTime() - t0;
        }

        @Override
        public void onCompleted() {
        }

        @Override
        public void onError(Throwable t) {
        }
    }

    @Test
    void sendPages_profilesTheWalkTheStreamWaitAndTheBatches() {
        try (Kernel k = new Kernel(new Kernel.Config());
             Guest g = Guest.create(k, GuestSpec.builder()
                     .region(new RegionSpec("anon", RegionKind.ANON, 16 * MIB, 1.0, 0.0))
                     .seed(5).build())) {
            TimingSink sink = new TimingSink();
            MigrationParameters p = new MigrationParameters(MigrationMode.PRECOPY, 0, 0, 0, null, null, 0, 0, 0, 0,
                    false, 64, false).withDefaults();
            PageSender s = new PageSender("m", g, sink, p, () -> false, () -> null);
            PageBitmap pages = new PageBitmap(g.layout().pages());
            pages.setRange(0, 100);                                   // span 0
            pages.setRange(3 * PAGES_PER_SPAN, 3 * PAGES_PER_SPAN + 100); // span 3
            pages.set(7 * PAGES_PER_SPAN + 9);                       // span 7
            PageSender.Transfer tr = s.sendPages(pages, 2, 0, true);

            assertEquals(201, tr.pages());
            assertEquals(3, tr.walkedSpans(), "spans 0, 3 and 7, none between them");
            // 64 pages a batch: 201 pages in 3 full batches and a last one of 9
            assertEquals(sink.batches.size(), tr.batches());
            assertEquals(4, tr.batches());
            assertTrue(sink.batches.get(3).roundComplete());
            // the wait wraps every onNext, so it holds at least the stream's own time in it
            assertTrue(tr.waitNanos() >= sink.insideNanos, tr.waitNanos() + " < " + sink.insideNanos);
            assertTrue(tr.walkNanos() > 0 && tr.walkNanos() + tr.waitNanos() <= tr.nanos(), tr.toString());

            TransferProfile prof = tr.profile();
            assertEquals(tr.nanos() / 1e6, prof.sendMs(), 1e-9);
            assertEquals(tr.walkNanos() / 1e6, prof.presentWalkMs(), 1e-9);
            assertEquals(tr.waitNanos() / 1e6, prof.streamWaitMs(), 1e-9);
            assertEquals(4, prof.batches());
            assertEquals(3, prof.walkedSpans());

            // a second send counts only its own batches and waits
            PageBitmap more = new PageBitmap(g.layout().pages());
            more.set(11);
            long insideBefore = sink.insideNanos;
            PageSender.Transfer tr2 = s.sendPages(more, 3, 0, true);
            assertEquals(1, tr2.batches());
            assertEquals(1, tr2.walkedSpans());
            assertTrue(tr2.waitNanos() >= sink.insideNanos - insideBefore);
            assertTrue(tr2.waitNanos() <= tr2.nanos());
        }
    }

    /**
     * A send that looks its pages up sends the very batches a walking send does (the same
     * pages, zero flags and checksums: the present pages found are the same), counts its
     * lookups instead of spans, and a walking round asked to sample the lookups measures a
     * cost per page without changing what it sends.
     */
    @Test
    void sendPages_byLookupsSendsWhatTheWalkSends() {
        try (Kernel k = new Kernel(new Kernel.Config());
             Guest g = Guest.create(k, GuestSpec.builder()
                     .region(new RegionSpec("anon", RegionKind.ANON, 16 * MIB, 0.5, 0.3))
                     .seed(8).build())) {
            MigrationParameters p = new MigrationParameters(MigrationMode.PRECOPY, 0, 0, 0, null, null, 0, 0, 0, 0,
                    false, 64, false).withDefaults();
            java.util.SplittableRandom rnd = new java.util.SplittableRandom(2);
            PageBitmap pages = new PageBitmap(g.layout().pages());
            for (int i = 0; i < 500; i++) {
                pages.set(rnd.nextInt(g.layout().pages()));
            }
            long wanted = pages.cardinality();
            long spans = dev.livemig.migration.stats.PageChecksums.spansOf(g.layout(), pages);
            TimingSink walkSink = new TimingSink();
            PageSender.Transfer walked = new PageSender("m", g, walkSink, p, () -> false, () -> null).sendPages(
                    pages.copy(), 1, 0, true, dev.livemig.migration.stats.PageChecksums.PresentMethod.WALK, true);
            TimingSink lookupSink = new TimingSink();
            PageSender.Transfer looked = new PageSender("m", g, lookupSink, p, () -> false, () -> null).sendPages(
                    pages.copy(), 1, 0, true, dev.livemig.migration.stats.PageChecksums.PresentMethod.LOOKUP, false);

            assertEquals(walkSink.batches.size(), lookupSink.batches.size());
            for (int b = 0; b < walkSink.batches.size(); b++) {
                PageBatch w = walkSink.batches.get(b);
                PageBatch l = lookupSink.batches.get(b);
                assertTrue(java.util.Arrays.equals(w.addresses(), l.addresses()), "batch " + b + " pages");
                assertTrue(java.util.Arrays.equals(w.flags(), l.flags()), "batch " + b + " flags");
                assertTrue(java.util.Arrays.equals(w.crc32c(), l.crc32c()), "batch " + b + " checksums");
            }
            assertEquals(walked.zeroPages(), looked.zeroPages());
            assertTrue(walked.zeroPages() > 0 && walked.zeroPages() < wanted, walked.toString());

            assertEquals(spans, walked.walkedSpans());
            assertTrue(walked.lookups() > 0
                    && walked.lookups() <= (long) PageSender.LOOKUP_SAMPLE_PAGES * PageSender.LOOKUP_SAMPLE_ROUNDS,
                    "the sample: " + walked.lookups());
            assertTrue(walked.lookupNanosPerPage() > 0 && walked.walkNanos() > 0, walked.toString());
            assertEquals(0, looked.walkedSpans());
            assertEquals(0, looked.walkNanos());
            assertEquals(wanted, looked.lookups());
            assertEquals((double) looked.lookupNanos() / wanted, looked.lookupNanosPerPage(), 1e-9);
            assertEquals(looked.nanos() - looked.lookupNanos(), looked.streamNanos());
            TransferProfile prof = looked.profile();
            assertEquals(looked.lookupNanos() / 1e6, prof.presentLookupMs(), 1e-9);
            assertEquals(wanted, prof.lookedUpPages());
        }
    }
}
