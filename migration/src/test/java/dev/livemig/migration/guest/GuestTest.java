package dev.livemig.migration.guest;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.livemig.migration.guest.GuestSpec.RegionKind;
import dev.livemig.migration.guest.GuestSpec.RegionSpec;
import dev.livemig.migration.guest.GuestSpec.Workload;
import dev.livemig.migration.stats.PageChecksums;
import dev.livemig.migration.transport.PageTransfer.RegionChecksums;
import dev.livemig.mm.Kernel;
import java.util.List;
import org.junit.jupiter.api.Test;

class GuestTest {
    private static final long MIB = 1 << 20;

    private static GuestSpec spec(long seed, Workload w) {
        return spec(seed, w, 2);
    }

    private static GuestSpec spec(long seed, Workload w, int vcpus) {
        return GuestSpec.builder()
                .region(new RegionSpec("anon", RegionKind.ANON, 2 * MIB, 0.5, 0.5))
                .region("huge", RegionKind.HUGETLB, 4 * MIB)
                .workload(w).writeRatePagesPerS(50_000).vcpuCount(vcpus).seed(seed).build();
    }

    @Test
    void create_laysOutRegionsAndPopulatesTheRequestedFraction() {
        try (Kernel k = new Kernel(); Guest g = Guest.create(k, spec(1, Workload.IDLE))) {
            GuestLayout l = g.layout();
            assertEquals(2, l.regions().size());
            assertEquals(512 + 2, l.pages(), "4 KiB pages of anon, 2 MiB pages of hugetlb");
            assertEquals(2 * MIB, l.pageSize(512));
            boolean[] present = PageChecksums.presentPages(g.mm(), l);
            int anonPresent = 0;
            for (int i = 0; i < 512; i++) {
                anonPresent += present[i] ? 1 : 0;
            }
            assertTrue(anonPresent > 200 && anonPresent < 312, "about half populated: " + anonPresent);
            assertTrue(present[512] && present[513]);
            assertTrue(g.stampedPages() > 1024, "hugetlb pages are stamped on every 4 KiB");
            assertEquals(0, g.checkStamps(g.mm()));
        }
    }

    @Test
    void sameSeed_sameContents_otherSeed_otherContents() {
        try (Kernel k = new Kernel(); Guest a = Guest.create(k, spec(5, Workload.IDLE));
             Guest b = Guest.create(k, spec(5, Workload.IDLE)); Guest c = Guest.create(k, spec(6, Workload.IDLE))) {
            List<RegionChecksums> ca = PageChecksums.of(a.mm(), a.layout());
            List<RegionChecksums> cb = PageChecksums.of(b.mm(), b.layout());
            List<RegionChecksums> cc = PageChecksums.of(c.mm(), c.layout());
            assertArrayEquals(ca.get(0).crc32c(), cb.get(0).crc32c());
            assertFalse(java.util.Arrays.equals(ca.get(0).crc32c(), cc.get(0).crc32c()));
        }
    }

    @Test
    void pause_stopsEveryWriteUntilResume() throws Exception {
        try (Kernel k = new Kernel(); Guest g = Guest.create(k, spec(2, Workload.UNIFORM))) {
            g.start();
            while (g.writeLog().writes() < 100) {
                Thread.onSpinWait();
            }
            g.pause();
            long writes = g.writeLog().writes();
            long accesses = g.accessesDone();
            Thread.sleep(30);
            assertEquals(writes, g.writeLog().writes());
            assertEquals(accesses, g.accessesDone());
            assertFalse(g.isRunning());
            g.resume();
            while (g.writeLog().writes() < writes + 100) {
                Thread.onSpinWait();
            }
            assertTrue(g.firstInstructionNanos(1000) > 0);
        }
    }

    @Test
    void vcpuState_roundTripsAndTheRestoredGuestWritesWhereTheSourceWould() throws Exception {
        try (Kernel k = new Kernel(); Guest g = Guest.create(k, spec(3, Workload.SEQUENTIAL, 1))) {
            g.start();
            while (g.writeLog().writes() < 200) {
                Thread.onSpinWait();
            }
            g.pause();
            List<Vcpu.State> saved = g.saveVcpus();
            try (Kernel k2 = new Kernel(); Guest t = Guest.incoming(k2, g.layout())) {
                assertEquals(g.layout(), t.layout());
                t.loadVcpus(saved);
                List<Vcpu.State> again = t.saveVcpus();
                for (int i = 0; i < saved.size(); i++) {
                    assertArrayEquals(saved.get(i).state(), again.get(i).state());
                    assertEquals(saved.get(i).accessesDone(), again.get(i).accessesDone());
                }
                assertNotEquals(0, saved.get(0).accessesDone());
                // a sequential sweep continues from its cursor: the next writes land where the source left off
                t.start();
                while (t.writeLog().writes() < 10) {
                    Thread.onSpinWait();
                }
                t.pause();
                PageBitmap written = t.writeLog().mark();
                g.resume();
                long before = g.writeLog().writes();
                while (g.writeLog().writes() < before + 10) {
                    Thread.onSpinWait();
                }
                g.pause();
                PageBitmap srcWritten = g.writeLog().mark();
                // one vCPU: both resumed at the same cursor, so their first writes hit the same page
                assertTrue(written.and(srcWritten).cardinality() > 0,
                        "both continued the same sweep: " + written + " vs " + srcWritten);
            }
        }
    }
}
