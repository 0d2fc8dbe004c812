package dev.livemig.mm.selftests;

import static dev.livemig.mm.uffd.UffdFeatures.MINOR_HUGETLBFS;
import static dev.livemig.mm.uffd.UffdFeatures.MINOR_SHMEM;
import static dev.livemig.mm.uffd.UffdFeatures.MISSING_SHMEM;
import static dev.livemig.mm.uffd.UffdFeatures.PAGEFAULT_FLAG_WP;
import static dev.livemig.mm.uffd.UffdFeatures.WP_HUGETLBFS_SHMEM;
import static dev.livemig.mm.uffd.UserfaultfdCtx.CONTINUE_MODE_WP;
import static dev.livemig.mm.uffd.UserfaultfdCtx.REGISTER_MODE_MINOR;
import static dev.livemig.mm.uffd.UserfaultfdCtx.REGISTER_MODE_MISSING;
import static dev.livemig.mm.uffd.UserfaultfdCtx.REGISTER_MODE_WP;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.livemig.mm.Errno;
import dev.livemig.mm.KernelException;
import dev.livemig.mm.uffd.PageSource;
import dev.livemig.mm.uffd.UffdMsg;
import dev.livemig.mm.uffd.UserfaultfdCtx;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/** MINOR faults resolved by UFFDIO_CONTINUE (uffd-unit-tests.c uffd_minor_test_common, scenarios 44-46). */
class UffdMinorTest extends MmTestBase {
    private static final long FEATURES = MINOR_SHMEM | MINOR_HUGETLBFS | MISSING_SHMEM | PAGEFAULT_FLAG_WP
            | WP_HUGETLBFS_SHMEM;

    /** continue_range(): CONTINUE, then the deliberate repeat that must be EEXIST. */
    private static void continueRange(UserfaultfdCtx u, long start, long len, int mode) {
        assertEquals(len, u.cont(start, len, mode));
        KernelException e = assertThrows(KernelException.class, () -> u.cont(start, len, mode));
        assertEquals(Errno.EEXIST, e.errno());
        assertEquals(-17, e.result(), "mapped == -EEXIST");
    }

    private void minorCommon(MemType type, boolean wp) {
        UserfaultfdCtx u = uffd(FEATURES);
        int units = 3;
        MemType.Area a = type.allocate(this, units);
        long unit = type.unit();
        u.register(a.alias(), units * unit, REGISTER_MODE_MINOR | (wp ? REGISTER_MODE_WP : 0));
        // fill every page through the unregistered mapping: the page cache is populated
        for (int i = 0; i < units; i++) {
            mm.writeLong(a.dst() + i * unit, 0x0f0f + i);
        }
        int minorFaults = 0;
        for (int i = 0; i < units; i++) {
            long addr = a.alias() + i * unit;
            CompletableFuture<Long> reader = supply(() -> mm.readLong(addr));
            UffdMsg m = readMsg(u);
            assertEquals(UffdMsg.PAGEFAULT_FLAG_MINOR, m.flags());
            assertEquals(addr, m.address());
            minorFaults++;
            // the handler bit-flips the page through the non-registered mapping
            mm.writeLong(a.dst() + i * unit, ~mm.readLong(a.dst() + i * unit));
            continueRange(u, addr, unit, wp ? CONTINUE_MODE_WP : 0);
            assertEquals(~(0x0f0fL + i), result(reader), "reader sees the flipped contents");
            assertEquals(wp, uffdWpBit(pagemap(addr)), "MODE_WP installs the pte protected");
        }
        assertEquals(units, minorFaults);
        assertNull(u.read(0), "no missing faults");
        if (wp) {
            long addr = a.alias();
            CompletableFuture<Void> w = async(() -> mm.writeLong(addr, 5));
            UffdMsg m = readMsg(u);
            assertTrue(m.wp(), "a write through the alias is a WP fault");
            wpRange(u, addr, unit, false);
            join(w);
            assertEquals(5, mm.readLong(a.dst()));
        }
    }

    // selftest: uffd-unit-tests.c "minor" (uffd_minor_test)
    @ParameterizedTest
    @EnumSource(value = MemType.class, names = {"SHMEM", "HUGETLB"})
    void minor(MemType type) {
        minorCommon(type, false);
    }

    // selftest: uffd-unit-tests.c "minor-wp" (uffd_minor_wp_test)
    @ParameterizedTest
    @EnumSource(value = MemType.class, names = {"SHMEM", "HUGETLB"})
    void minorWp(MemType type) {
        minorCommon(type, true);
    }

    // selftest: UFFDIO_CONTINUE error matrix (kernel-semantics §7.2, scenario 45)
    @Test
    void continueErrors() {
        UserfaultfdCtx u = uffd(FEATURES);
        var f = shmemFile(4);
        long dst = mapShared(f);
        long alias = mapShared(f);
        u.register(alias, 4 * P, REGISTER_MODE_MINOR);
        KernelException hole = assertThrows(KernelException.class, () -> u.cont(alias, P, 0));
        assertEquals(Errno.EFAULT, hole.errno());
        assertEquals(-14, hole.result());
        mm.writeLong(dst, 1);
        mm.writeLong(dst + P, 2);
        u.cont(alias + P, P, 0);
        KernelException partial = assertThrows(KernelException.class, () -> u.cont(alias, 2 * P, 0));
        assertEquals(Errno.EAGAIN, partial.errno());
        assertEquals(P, partial.result());
        assertErrno(Errno.EINVAL, () -> u.cont(alias, P, 4), "bad mode");
        mm.writeLong(dst + 2 * P, 3);
        KernelException wpOnNonWp = assertThrows(KernelException.class, () -> u.cont(alias + 2 * P, P, CONTINUE_MODE_WP));
        assertEquals(Errno.EINVAL, wpOnNonWp.errno());
        assertEquals(-22, wpOnNonWp.result());
        // a hole accessed through a MINOR-only mapping is populated without any message
        assertEquals(0, mm.readLong(alias + 3 * P));
        assertNull(u.read(0));
    }

    // selftest: scenario 45: with MINOR|MISSING a hole is a MISSING fault, a cached page MINOR
    @Test
    void minorMissingCombined() {
        UserfaultfdCtx u = uffd(FEATURES);
        var f = shmemFile(2);
        long dst = mapShared(f);
        long alias = mapShared(f);
        u.register(alias, 2 * P, REGISTER_MODE_MINOR | REGISTER_MODE_MISSING);
        List<Long> flags = new ArrayList<>();
        CompletableFuture<Void> w = async(() -> mm.writeLong(alias, 8));
        UffdMsg m = readMsg(u);
        flags.add(m.flags());
        u.copy(alias, P, 0, PageSource.ZERO);
        join(w);
        assertEquals(8, mm.readLong(dst), "COPY filled the page cache, visible via the other mapping");
        mm.writeLong(dst + P, 1);
        w = async(() -> mm.writeLong(alias + P, 9));
        m = readMsg(u);
        flags.add(m.flags());
        u.cont(alias + P, P, 0);
        join(w);
        assertEquals(List.of(UffdMsg.PAGEFAULT_FLAG_WRITE, UffdMsg.PAGEFAULT_FLAG_WRITE | UffdMsg.PAGEFAULT_FLAG_MINOR),
                flags);
    }
}
