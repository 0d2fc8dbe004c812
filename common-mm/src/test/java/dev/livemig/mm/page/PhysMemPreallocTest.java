package dev.livemig.mm.page;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.livemig.mm.MmConstants;
import org.junit.jupiter.api.Test;

/** {@link PhysMem#prealloc}: QEMU's -mem-prealloc for the frames an incoming guest will take. */
class PhysMemPreallocTest {
    private static final long CHUNK = PhysMem.CHUNK_BYTES;

    @Test
    void preallocTouchesWholeChunksWithoutAllocatingAnything() {
        try (PhysMem pm = new PhysMem()) {
            long reserved0 = pm.reservedBytes();
            long touched = pm.prealloc(2 * PhysMem.CHUNK_PAGES);
            // the zero page's chunk leaves 511 free frames: 1024 pages need 2 chunks more (1535 free)
            assertEquals(2 * CHUNK, touched);
            assertEquals(reserved0 + touched, pm.reservedBytes());
            assertEquals(0, pm.allocatedPages(), "preallocated frames stay free");
        }
    }

    @Test
    void aSecondPreallocOfTheSameSizeTouchesNothing() {
        try (PhysMem pm = new PhysMem()) {
            pm.prealloc(4096);
            assertEquals(0, pm.prealloc(4096));
        }
    }

    @Test
    void allocationsUsePreallocatedFramesBeforeNewHostMemory() {
        try (PhysMem pm = new PhysMem()) {
            pm.prealloc(8 * PhysMem.CHUNK_PAGES);
            long reserved = pm.reservedBytes();
            for (int i = 0; i < 4 * PhysMem.CHUNK_PAGES; i++) {
                assertTrue(pm.allocFolio(0, 0, false) >= 0);
            }
            assertTrue(pm.allocFolio(MmConstants.HPAGE_PMD_ORDER, 0) >= 0);
            assertEquals(reserved, pm.reservedBytes(), "no new chunk while preallocated frames are free");
        }
    }

    @Test
    void preallocDoesNotLiftTheMemoryLimit() {
        try (PhysMem pm = new PhysMem(16)) {
            pm.prealloc(4 * PhysMem.CHUNK_PAGES);
            for (int i = 0; i < 16; i++) {
                assertTrue(pm.allocFolio(0, 0) >= 0);
            }
            assertEquals(-1, pm.allocFolio(0, 0), "the limit still says ENOMEM");
        }
    }

    @Test
    void preallocAfterCloseFails() {
        PhysMem pm = new PhysMem();
        pm.close();
        assertThrows(IllegalStateException.class, () -> pm.prealloc(1));
    }
}
