package dev.livemig.mm.uffd;

import static dev.livemig.mm.MmConstants.PAGE_SIZE;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;

import dev.livemig.mm.Kernel;
import dev.livemig.mm.MmStruct;
import dev.livemig.mm.vma.Mmap;
import java.util.Arrays;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/**
 * UFFDIO_COPY from a full-page source takes frames without zeroing them (as
 * mfill_atomic_pte_copy() does); frames freed by MADV_DONTNEED and reused must still
 * read as zero wherever a later source or fault does not write.
 */
class UffdCopyReuseTest {
    static final int PAGES = 64;

    @Test
    void reusedFramesNeverShowStaleBytes() {
        try (Kernel kernel = new Kernel()) {
            MmStruct mm = kernel.newMm();
            long len = PAGES * PAGE_SIZE;
            long base = mm.mmap(len, Mmap.PROT_READ | Mmap.PROT_WRITE, false, null, 0, 0);
            mm.madvise(base, len, Mmap.Advice.NOHUGEPAGE);
            UserfaultfdCtx uffd = mm.userfaultfd();
            uffd.api(0);
            uffd.register(base, len, UserfaultfdCtx.REGISTER_MODE_MISSING);

            byte[] data = new byte[(int) len];
            new SplittableRandom(1).nextBytes(data);
            uffd.copy(base, len, 0, PageSource.ofBytes(data, 0));
            byte[] page = new byte[(int) PAGE_SIZE];
            for (int p = 0; p < PAGES; p++) {
                mm.readPage(base + p * PAGE_SIZE, page, 0);
                assertArrayEquals(Arrays.copyOfRange(data, p * (int) PAGE_SIZE, (p + 1) * (int) PAGE_SIZE), page);
            }

            mm.madvise(base, len, Mmap.Advice.DONTNEED);
            uffd.copy(base, len, 0, PageSource.ofValue(7));
            byte[] want = new byte[(int) PAGE_SIZE];
            want[0] = 7;
            for (int p = 0; p < PAGES; p++) {
                mm.readPage(base + p * PAGE_SIZE, page, 0);
                assertArrayEquals(want, page, "page " + p + " after a partial-page copy");
            }

            mm.madvise(base, len, Mmap.Advice.DONTNEED);
            uffd.copy(base, len, 0, PageSource.ofBytes(data, 0));
            mm.madvise(base, len, Mmap.Advice.DONTNEED);
            uffd.unregister(base, len);
            for (int p = 0; p < PAGES; p++) {
                mm.writeLong(base + p * PAGE_SIZE + 8, 9);
                mm.readPage(base + p * PAGE_SIZE, page, 0);
                byte[] faulted = new byte[(int) PAGE_SIZE];
                faulted[8] = 9;
                assertArrayEquals(faulted, page, "page " + p + " after an anonymous fault");
            }
        }
    }
}
