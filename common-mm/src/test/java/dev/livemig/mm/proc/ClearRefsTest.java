package dev.livemig.mm.proc;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.livemig.mm.Errno;
import dev.livemig.mm.Kernel;
import dev.livemig.mm.KernelException;
import dev.livemig.mm.MmStruct;
import dev.livemig.mm.shmem.ShmemFile;
import dev.livemig.mm.vma.Mmap;
import org.junit.jupiter.api.Test;

class ClearRefsTest {
    private static final int RW = Mmap.PROT_READ | Mmap.PROT_WRITE;

    private static boolean softDirty(MmStruct mm, long addr) {
        return (Pagemap.read(mm, addr, 1)[0] & Pagemap.PM_SOFT_DIRTY) != 0;
    }

    @Test
    void clearSoftDirty_anonPageIsCleanUntilWrittenAgain() {
        try (Kernel k = new Kernel(new Kernel.Config().softDirty(true))) {
            MmStruct mm = k.newMm();
            long a = mm.mmap(4 * 4096, RW, false, null, 0, 0);
            mm.writeLong(a, 1);
            mm.writeLong(a + 4096, 2);
            assertTrue(softDirty(mm, a));
            ClearRefs.write(mm, ClearRefs.CLEAR_REFS_SOFT_DIRTY);
            assertFalse(softDirty(mm, a));
            assertFalse(softDirty(mm, a + 4096));
            mm.writeLong(a + 4096, 3);
            assertFalse(softDirty(mm, a));
            assertTrue(softDirty(mm, a + 4096));
            assertEquals(3, mm.readLong(a + 4096));
        }
    }

    @Test
    void clearSoftDirty_sharedMappingTracksWritesThroughWriteNotify() {
        try (Kernel k = new Kernel(new Kernel.Config().softDirty(true))) {
            MmStruct mm = k.newMm();
            ShmemFile f = new ShmemFile(k.physMem(), "shm", 2);
            long a = mm.mmap(2 * 4096, RW, true, f, 0, 0);
            mm.writeLong(a, 1);
            ClearRefs.write(mm, ClearRefs.CLEAR_REFS_SOFT_DIRTY);
            assertFalse(softDirty(mm, a));
            mm.writeLong(a, 5);
            assertTrue(softDirty(mm, a));
            assertEquals(5, mm.readLong(a));
        }
    }

    @Test
    void clearSoftDirty_unpopulatedPagesOfANewVmaAreSoftDirtyUntilCleared() {
        try (Kernel k = new Kernel(new Kernel.Config().softDirty(true))) {
            MmStruct mm = k.newMm();
            long a = mm.mmap(4096, RW, false, null, 0, 0);
            assertTrue(softDirty(mm, a));
            ClearRefs.write(mm, ClearRefs.CLEAR_REFS_SOFT_DIRTY);
            assertFalse(softDirty(mm, a));
        }
    }

    @Test
    void write_youngBitTypesAreNotModelled() {
        try (Kernel k = new Kernel(new Kernel.Config().softDirty(true))) {
            MmStruct mm = k.newMm();
            KernelException e = assertThrows(KernelException.class, () -> ClearRefs.write(mm, 1));
            assertEquals(Errno.EINVAL, e.errno());
            assertEquals(Errno.EINVAL, assertThrows(KernelException.class, () -> ClearRefs.write(mm, 9)).errno());
        }
    }

    @Test
    void mmapFixedNoreplace_mapsAtTheAddressAndRefusesOverlap() {
        try (Kernel k = new Kernel()) {
            MmStruct mm = k.newMm();
            long want = 0x20_0000_0000L;
            assertEquals(want, mm.mmapFixedNoreplace(want, 8192, RW, false, null, 0, 0));
            mm.writeLong(want + 4096, 7);
            assertEquals(7, mm.readLong(want + 4096));
            KernelException e = assertThrows(KernelException.class,
                    () -> mm.mmapFixedNoreplace(want + 4096, 8192, RW, false, null, 0, 0));
            assertEquals(Errno.EEXIST, e.errno());
            long next = mm.mmap(4096, RW, false, null, 0, 0);
            assertTrue(next >= want + 8192, "later mmap must not land on the fixed mapping");
        }
    }
}
