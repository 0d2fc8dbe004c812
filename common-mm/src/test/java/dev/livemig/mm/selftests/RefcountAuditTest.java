package dev.livemig.mm.selftests;

import static dev.livemig.mm.MmConstants.HPAGE_PMD_NR;
import static dev.livemig.mm.MmConstants.PMD_SIZE;
import static dev.livemig.mm.uffd.UserfaultfdCtx.REGISTER_MODE_MISSING;
import static dev.livemig.mm.uffd.UserfaultfdCtx.REGISTER_MODE_WP;
import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.livemig.mm.MmStruct;
import dev.livemig.mm.SignalException;
import dev.livemig.mm.debug.MmVerify;
import dev.livemig.mm.uffd.PageSource;
import dev.livemig.mm.uffd.UffdFeatures;
import dev.livemig.mm.uffd.UserfaultfdCtx;
import dev.livemig.mm.vma.Mmap;
import java.util.List;
import org.junit.jupiter.api.Assertions;
import org.junit.jupiter.api.Test;

/**
 * Sequences that split, share, zap and copy folios, audited by {@link MmVerify} at each
 * step (the after-test check only sees the end state).
 */
class RefcountAuditTest extends MmTestBase {
    private final List<dev.livemig.mm.page.AddressSpace> files = new java.util.ArrayList<>();

    private void audit(String step) {
        assertEquals(List.of(), MmVerify.check(kernel, files), step);
    }

    // selftest: uffd-unit-tests.c "wp-fork-pmd" then writes on both sides of a COW-shared THP
    @Test
    void thpForkSplitCow() {
        long t = thp(HPAGE_PMD_NR);
        mm.writeLong(t, 1);
        audit("THP");
        MmStruct child = mm.fork();
        audit("fork");
        child.writeLong(t + 3 * P, 2);
        audit("child write");
        mm.writeLong(t + 5 * P, 3);
        audit("parent write");
        mm.madvise(t + P, 2 * P, Mmap.Advice.DONTNEED);
        audit("partial DONTNEED");
        child.mprotect(t, 4 * P, Mmap.PROT_READ);
        audit("mprotect part");
        child.munmap(t + 8 * P, P);
        audit("munmap one page");
        mm.madvise(t, PMD_SIZE, Mmap.Advice.COLLAPSE);
        audit("collapse");
        assertEquals(1, mm.readLong(t));
        assertEquals(0, mm.readLong(t + P));
        assertEquals(3, mm.readLong(t + 5 * P));
        assertEquals(2, child.readLong(t + 3 * P));
        child.exit();
        audit("child exit");
    }

    // selftest: pagemap_ioctl.c zeropfn_tests() then WP and writes on the huge zero page
    @Test
    void hugeZeroPageWp() {
        long t = thp(2 * HPAGE_PMD_NR);
        mm.readLong(t);
        UserfaultfdCtx u = uffd(UffdWpAsyncTest.INIT_FEATURES);
        u.register(t, 2 * PMD_SIZE, REGISTER_MODE_WP);
        wpRange(u, t, 2 * PMD_SIZE, true);
        audit("protected huge zero");
        mm.writeLong(t + 3 * P, 1);
        audit("write splits");
        MmStruct child = mm.fork();
        audit("fork");
        child.writeLong(t + PMD_SIZE + 3 * P, 1);
        audit("child write to a marker");
        mm.madvise(t, 2 * PMD_SIZE, Mmap.Advice.DONTNEED);
        audit("dontneed");
    }

    // selftest: uffd-unit-tests.c "poison" (uffd_poison_test) + fork: poison markers are copied
    @Test
    void poisonFork() {
        UserfaultfdCtx u = uffd(UffdFeatures.POISON);
        long a = anon(4);
        u.register(a, 4 * P, REGISTER_MODE_MISSING);
        u.copy(a + P, P, 0, PageSource.ofValue(1));
        assertEquals(P, u.poison(a, P, 0));
        MmStruct child = mm.fork();
        audit("fork");
        Assertions.assertThrows(SignalException.class, () -> child.readLong(a));
        Assertions.assertThrows(SignalException.class, () -> mm.readLong(a));
        assertEquals(1, child.readLong(a + P));
    }

    // selftest: uffd-unit-tests.c mem type "shmem-private": COPY creates a private anon page,
    // a hole punch in the file leaves the private copy alone
    @Test
    void shmemPrivateCopyAndPunch() {
        var f = shmemFile(4);
        files.add(f);
        long priv = mapPrivate(f);
        long sh = mapShared(f);
        mm.writeLong(sh, 5);
        mm.writeLong(sh + P, 6);
        assertEquals(5, mm.readLong(priv));
        mm.writeLong(priv + P, 7);
        audit("cow of a file page");
        UserfaultfdCtx u = uffd(UffdFeatures.MISSING_SHMEM);
        u.register(priv, 4 * P, REGISTER_MODE_MISSING);
        u.copy(priv + 2 * P, P, 0, PageSource.ofValue(8));
        audit("copy into a private file mapping");
        mm.madvise(sh, 4 * P, Mmap.Advice.REMOVE);
        audit("punch");
        assertEquals(7, mm.readLong(priv + P), "private COW copy survives the punch");
        assertEquals(8, mm.readLong(priv + 2 * P));
        MmStruct child = mm.fork();
        audit("fork");
        child.exit();
    }

    // selftest: uffd-unit-tests.c with mem type "hugetlb-private" + fork and zap
    @Test
    void hugetlbPrivateForkZap() {
        var f = hugetlbFile(2 * HPAGE_PMD_NR);
        files.add(f);
        long sh = mapShared(f);
        long priv = mapPrivate(f);
        mm.writeLong(sh, 1);
        assertEquals(1, mm.readLong(priv));
        mm.writeLong(priv + PMD_SIZE, 2);
        audit("private hugetlb");
        MmStruct child = mm.fork();
        audit("fork");
        child.writeLong(priv, 3);
        audit("child COW of a cache page");
        mm.madvise(priv, 2 * PMD_SIZE, Mmap.Advice.DONTNEED);
        audit("dontneed");
        mm.madvise(sh, PMD_SIZE, Mmap.Advice.REMOVE);
        audit("hugetlb punch");
        assertEquals(3, child.readLong(priv));
        assertEquals(2, child.readLong(priv + PMD_SIZE));
        assertEquals(0, mm.readLong(priv));
    }

    // selftest: uffd-unit-tests.c "minor-collapse" shape: THP anon, MISSING COPY then collapse
    @Test
    void copyThenCollapse() {
        long t = thp(HPAGE_PMD_NR);
        UserfaultfdCtx u = uffd(0);
        u.register(t, PMD_SIZE, REGISTER_MODE_MISSING);
        u.copy(t, 8 * P, 0, PageSource.ofValue(4));
        audit("copied");
        u.unregister(t, PMD_SIZE);
        mm.madvise(t, PMD_SIZE, Mmap.Advice.COLLAPSE);
        audit("collapsed");
        assertEquals(4, mm.readLong(t + 7 * P));
        assertEquals(0, mm.readLong(t + 9 * P));
    }

    // selftest: uffd-unit-tests.c close path (scenario 38): closing clears uffd-wp state
    @Test
    void closeClearsWp() {
        UserfaultfdCtx u = uffd(UffdWpAsyncTest.INIT_FEATURES);
        var f = shmemFile(4);
        files.add(f);
        long sh = mapShared(f);
        mm.writeLong(sh, 1);
        u.register(sh, 4 * P, REGISTER_MODE_WP);
        wpRange(u, sh, 4 * P, true);
        u.close();
        audit("closed");
        assertEquals(0, pagemap(sh + P), "markers dropped");
        assertEquals(false, uffdWpBit(pagemap(sh)));
        mm.writeLong(sh + 2 * P, 1);
    }

    // selftest: populate under a memory limit: ENOMEM / OOM paths release what they took
    @Test
    void populateWrite() {
        long t = thp(HPAGE_PMD_NR);
        long a = anon(64);
        mm.madvise(a, 64 * P, Mmap.Advice.POPULATE_WRITE);
        mm.madvise(t, PMD_SIZE, Mmap.Advice.POPULATE_READ);
        audit("populated");
        mm.madvise(t, PMD_SIZE, Mmap.Advice.POPULATE_WRITE);
        audit("populated write");
    }
}
