package dev.livemig.mm.vma;

import static dev.livemig.mm.MmConstants.PAGE_SIZE;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.livemig.mm.Errno;
import dev.livemig.mm.Kernel;
import dev.livemig.mm.KernelException;
import dev.livemig.mm.MmStruct;
import dev.livemig.mm.proc.Pagemap;
import org.junit.jupiter.api.Test;

/**
 * MADV_POPULATE_(READ|WRITE) reach a vma that check_vma_flags() rejects: the kernel
 * (__get_user_pages with FOLL_MADV_POPULATE) reports EINVAL, not EFAULT, after having
 * populated the pages before that vma.
 */
class PopulateIncompatibleVmaTest {
    @Test
    void populateWriteIntoReadOnlyVmaFailsWithEinvalAfterPopulatingTheWritablePart() {
        try (Kernel k = new Kernel()) {
            MmStruct mm = k.newMm();
            long base = mm.mmap(2 * PAGE_SIZE, Mmap.PROT_READ | Mmap.PROT_WRITE, false, null, 0, 0);
            mm.madvise(base, 2 * PAGE_SIZE, Mmap.Advice.NOHUGEPAGE);
            mm.mprotect(base + PAGE_SIZE, PAGE_SIZE, Mmap.PROT_READ);

            KernelException e = assertThrows(KernelException.class,
                    () -> mm.madvise(base, 2 * PAGE_SIZE, Mmap.Advice.POPULATE_WRITE));

            assertEquals(Errno.EINVAL, e.errno());
            long[] pme = Pagemap.read(mm, base, 2);
            assertTrue(Pagemap.present(pme[0]), "the writable page before the read-only vma is populated");
            assertFalse(Pagemap.present(pme[1]));
        }
    }

    @Test
    void populateReadOfProtNoneVmaFailsWithEinval() {
        try (Kernel k = new Kernel()) {
            MmStruct mm = k.newMm();
            long base = mm.mmap(PAGE_SIZE, Mmap.PROT_NONE, false, null, 0, 0);

            KernelException e = assertThrows(KernelException.class,
                    () -> mm.madvise(base, PAGE_SIZE, Mmap.Advice.POPULATE_READ));

            assertEquals(Errno.EINVAL, e.errno());
        }
    }
}
