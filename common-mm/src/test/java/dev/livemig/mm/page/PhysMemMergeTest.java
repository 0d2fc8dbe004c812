package dev.livemig.mm.page;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.livemig.mm.MmConstants;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Random;
import java.util.Set;
import org.junit.jupiter.api.Test;

/** {@link PhysMem}: a chunk whose 4 KiB frames are all free again serves a 2 MiB folio (the buddy merge). */
class PhysMemMergeTest {
    private static final int HUGE = MmConstants.HPAGE_PMD_ORDER;
    private static final int CHUNK_PAGES = PhysMem.CHUNK_PAGES;

    /**
     * A regression test: small frames freed in any order across chunks stayed on the
     * small-frame stack for ever, so a later 2 MiB folio took a new chunk (MigrationSoakIT
     * saw the source's arena grow from 32 to 40 MiB between waves of guests).
     */
    @Test
    void smallFramesFreedAcrossChunks_areReusedForHugeFolios() {
        try (PhysMem pm = new PhysMem()) {
            List<Long> small = new ArrayList<>();
            for (int i = 0; i < 4 * CHUNK_PAGES; i++) {
                small.add(pm.allocFolio(0, 0, false));
            }
            long reserved = pm.reservedBytes();
            java.util.Collections.shuffle(small, new Random(1));
            for (long pfn : small) {
                Folio.put(pm, pfn);
            }
            assertEquals(0, pm.allocatedPages());
            for (int i = 0; i < 3; i++) {
                assertTrue(pm.allocFolio(HUGE, 0) >= 0);
            }
            assertEquals(reserved, pm.reservedBytes(), "three 2 MiB folios fit in the freed chunks");
        }
    }

    @Test
    void randomAllocationsAndFrees_neverHandOutAFrameTwice_andStayWithinTheirPeak() {
        try (PhysMem pm = new PhysMem()) {
            Random rnd = new Random(42);
            List<long[]> live = new ArrayList<>(); // {pfn, order}
            Set<Long> inUse = new HashSet<>();
            long peakPages = 0;
            for (int step = 0; step < 200_000; step++) {
                boolean alloc = live.isEmpty() || rnd.nextInt(100) < (live.size() < 3000 ? 55 : 45);
                if (alloc) {
                    int order = rnd.nextInt(50) == 0 ? HUGE : 0;
                    long pfn = pm.allocFolio(order, 0, false);
                    for (long p = pfn; p < pfn + (1L << order); p++) {
                        assertTrue(inUse.add(p), "frame " + p + " handed out twice");
                    }
                    live.add(new long[] {pfn, order});
                } else {
                    long[] f = live.remove(rnd.nextInt(live.size()));
                    for (long p = f[0]; p < f[0] + (1L << f[1]); p++) {
                        inUse.remove(p);
                    }
                    Folio.put(pm, f[0]);
                }
                assertEquals(inUse.size(), pm.allocatedPages());
                peakPages = Math.max(peakPages, inUse.size());
            }
            for (long[] f : live) {
                Folio.put(pm, f[0]);
            }
            assertEquals(0, pm.allocatedPages());
            // everything free: the whole arena serves 2 MiB folios again (the zero page's chunk aside)
            long chunks = pm.reservedBytes() / PhysMem.CHUNK_BYTES;
            for (long i = 0; i < chunks - 2; i++) {
                assertTrue(pm.allocFolio(HUGE, 0) >= 0);
            }
            assertEquals(chunks * PhysMem.CHUNK_BYTES, pm.reservedBytes(), "no new chunk: every free chunk merged");
            assertTrue(peakPages > 0);
        }
    }
}
