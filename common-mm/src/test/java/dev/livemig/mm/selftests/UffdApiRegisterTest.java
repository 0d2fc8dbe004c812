package dev.livemig.mm.selftests;

import static dev.livemig.mm.MmConstants.HPAGE_PMD_NR;
import static dev.livemig.mm.MmConstants.PMD_SIZE;
import static dev.livemig.mm.MmConstants.TASK_SIZE;
import static dev.livemig.mm.uffd.UserfaultfdCtx.REGISTER_MODE_MINOR;
import static dev.livemig.mm.uffd.UserfaultfdCtx.REGISTER_MODE_MISSING;
import static dev.livemig.mm.uffd.UserfaultfdCtx.REGISTER_MODE_WP;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.livemig.mm.Errno;
import dev.livemig.mm.VmFlags;
import dev.livemig.mm.uffd.UffdFeatures;
import dev.livemig.mm.uffd.UserfaultfdCtx;
import dev.livemig.mm.vma.Mmap;
import dev.livemig.mm.vma.Vma;
import java.util.function.ToLongFunction;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/** UFFDIO_API negotiation and UFFDIO_REGISTER / UNREGISTER (uffd-unit-tests.c, scenarios 1-17). */
class UffdApiRegisterTest extends MmTestBase {
    private static final long ALL = UffdFeatures.MISSING_SHMEM | UffdFeatures.MISSING_HUGETLBFS
            | UffdFeatures.MINOR_SHMEM | UffdFeatures.MINOR_HUGETLBFS | UffdFeatures.PAGEFAULT_FLAG_WP
            | UffdFeatures.WP_HUGETLBFS_SHMEM;

    // selftest: uffd-unit-tests.c "test_uffd_api" (scenarios 2-4)
    @Test
    void testUffdApi() {
        UserfaultfdCtx u = mm.userfaultfd();
        assertErrno(Errno.EINVAL, () -> u.api(1L << 63), "unknown feature bit");
        assertErrno(Errno.EINVAL, () -> u.api(1L << 17), "unknown feature bit 17");
        assertEquals(0x1ffff, u.api(0), "every supported feature is offered");
        assertErrno(Errno.EINVAL, () -> u.api(UffdFeatures.PAGEFAULT_FLAG_WP), "should reject initialized uffd");
        assertErrno(Errno.EINVAL, () -> u.api(0));
    }

    // selftest: uffd-unit-tests.c "test_uffd_api" (scenario 5): nothing works before UFFDIO_API
    @Test
    void testUffdApiUninitialized() {
        UserfaultfdCtx u = mm.userfaultfd();
        long a = anon(1);
        assertErrno(Errno.EINVAL, () -> u.register(a, P, REGISTER_MODE_MISSING));
        assertErrno(Errno.EINVAL, () -> u.read(0));
    }

    // selftest: uffd-unit-tests.c "test_uffd_api" (scenario 7): WP_ASYNC implies WP_UNPOPULATED
    @Test
    void testUffdApiWpAsyncImpliesUnpopulated() {
        UserfaultfdCtx u = uffd(UffdFeatures.WP_ASYNC_MAINLINE);
        assertTrue(u.wpAsync());
        assertTrue(u.wpUnpopulated());
    }

    static Stream<Arguments> registerIoctlsMatrix() {
        // mem type, mode, expected ioctls (0 = EINVAL) as recorded on 6.18 (scenarios 9, 10)
        return Stream.of(
                Arguments.of(MemType.ANON, 0, 0L),
                Arguments.of(MemType.ANON, REGISTER_MODE_MISSING, 0x13cL),
                Arguments.of(MemType.ANON, REGISTER_MODE_WP, 0x17cL),
                Arguments.of(MemType.ANON, REGISTER_MODE_MISSING | REGISTER_MODE_WP, 0x17cL),
                Arguments.of(MemType.ANON, REGISTER_MODE_MINOR, 0L),
                Arguments.of(MemType.ANON, REGISTER_MODE_MINOR | REGISTER_MODE_WP, 0L),
                Arguments.of(MemType.SHMEM, REGISTER_MODE_MISSING, 0x13cL),
                Arguments.of(MemType.SHMEM, REGISTER_MODE_MINOR, 0x1bcL),
                Arguments.of(MemType.SHMEM, REGISTER_MODE_MISSING | REGISTER_MODE_WP | REGISTER_MODE_MINOR, 0x1fcL),
                Arguments.of(MemType.SHMEM_PRIVATE, REGISTER_MODE_WP, 0x17cL),
                Arguments.of(MemType.HUGETLB, REGISTER_MODE_MISSING, 0x10cL),
                Arguments.of(MemType.HUGETLB, REGISTER_MODE_MISSING | REGISTER_MODE_WP, 0x14cL),
                Arguments.of(MemType.HUGETLB, REGISTER_MODE_MINOR, 0x18cL),
                Arguments.of(MemType.HUGETLB_PRIVATE, REGISTER_MODE_WP, 0x14cL));
    }

    // selftest: uffd-unit-tests.c "register-ioctls" (do_register_ioctls_test)
    @ParameterizedTest(name = "{0} mode={1}")
    @MethodSource("registerIoctlsMatrix")
    void registerIoctls(MemType type, int mode, long expected) {
        UserfaultfdCtx u = uffd(ALL);
        MemType.Area a = type.allocate(this, 1);
        long len = type.unit();
        if (expected == 0) {
            assertErrno(Errno.EINVAL, () -> u.register(a.dst(), len, mode));
            assertEquals(0, mm.vmas().lookup(a.dst()).flags & VmFlags.VM_UFFD_ALL, "nothing registered");
            return;
        }
        assertEquals(expected, u.register(a.dst(), len, mode));
        u.unregister(a.dst(), len);
        assertEquals(0, mm.vmas().lookup(a.dst()).flags & VmFlags.VM_UFFD_ALL);
    }

    record BadRegister(String what, ToLongFunction<long[]> start, long len, int mode) {
        @Override
        public String toString() {
            return what;
        }
    }

    static Stream<BadRegister> registerArgErrors() {
        long p = P;
        return Stream.of(
                new BadRegister("mode 8", a -> a[0], p, 8),
                new BadRegister("start+1", a -> a[0] + 1, p, REGISTER_MODE_MISSING),
                new BadRegister("len 0", a -> a[0], 0, REGISTER_MODE_MISSING),
                new BadRegister("len P+1", a -> a[0], p + 1, REGISTER_MODE_MISSING),
                new BadRegister("start >= TASK_SIZE", a -> TASK_SIZE + p, p, REGISTER_MODE_MISSING),
                new BadRegister("no vma", a -> a[0] + 64 * p, p, REGISTER_MODE_MISSING),
                new BadRegister("hugetlb start unaligned", a -> a[1] + p, PMD_SIZE - p, REGISTER_MODE_MISSING),
                new BadRegister("hugetlb end unaligned", a -> a[1], PMD_SIZE - p, REGISTER_MODE_MISSING));
    }

    // selftest: uffd-unit-tests.c register argument checks (kernel-semantics §4.1, scenario 11)
    @ParameterizedTest(name = "{0}")
    @MethodSource
    void registerArgErrors(BadRegister bad) {
        UserfaultfdCtx u = uffd(ALL);
        long[] areas = {anon(4), mapShared(hugetlbFile(HPAGE_PMD_NR))};
        assertErrno(Errno.EINVAL, () -> u.register(bad.start().applyAsLong(areas), bad.len(), bad.mode()), bad.what());
    }

    // selftest: scenario 12-13: holes skipped, another ctx's vma is EBUSY, read-only shared file EPERM
    @Test
    void registerOwnershipAndHoles() {
        UserfaultfdCtx a = uffd(ALL);
        UserfaultfdCtx b = uffd(ALL);
        long x = anon(2);
        a.register(x, 2 * P, REGISTER_MODE_MISSING);
        assertErrno(Errno.EBUSY, () -> b.register(x, 2 * P, REGISTER_MODE_MISSING));
        assertErrno(Errno.EINVAL, () -> b.unregister(x, 2 * P), "unregister of another ctx's range");
        long y = anon(4);
        mm.munmap(y + 2 * P, 2 * P);
        a.register(y, 4 * P, REGISTER_MODE_MISSING);
        assertTrue(mm.vmas().lookup(y).uffdMissing());
    }

    // selftest: scenario 15: re-registration replaces the mode and merges vmas
    @Test
    void reRegisterReplacesMode() {
        UserfaultfdCtx u = uffd(ALL);
        long a = anon(3);
        u.register(a, P, REGISTER_MODE_MISSING);
        u.register(a + P, P, REGISTER_MODE_WP);
        u.register(a + 2 * P, P, REGISTER_MODE_MISSING | REGISTER_MODE_WP);
        u.register(a, P, REGISTER_MODE_WP);
        u.register(a + 2 * P, P, REGISTER_MODE_MISSING);
        Vma first = mm.vmas().lookup(a);
        assertEquals(a, first.start);
        assertEquals(a + 2 * P, first.end, "page 0 became WP-only and merged with page 1");
        assertEquals(VmFlags.VM_UFFD_WP, first.flags & VmFlags.VM_UFFD_ALL);
        assertEquals(VmFlags.VM_UFFD_WP | VmFlags.VM_UFFD_MISSING,
                mm.vmas().lookup(a + 2 * P).flags & VmFlags.VM_UFFD_ALL, "requested subset of current: unchanged");
    }

    // selftest: scenario 16-17: an incompatible vma registers nothing; unregister rules
    @Test
    void unregisterRules() {
        UserfaultfdCtx u = uffd(ALL);
        long a = anon(4);
        assertErrno(Errno.EINVAL, () -> u.unregister(a + 64 * P, P), "hole only");
        u.unregister(a, P);
        u.register(a, 4 * P, REGISTER_MODE_MISSING);
        u.unregister(a + P, P);
        assertEquals(a + P, mm.vmas().lookup(a).end, "vma split at the unregistered page");
        assertTrue(!mm.vmas().lookup(a + P).uffdMissing() && mm.vmas().lookup(a + 2 * P).uffdMissing());
        long ro = mm.mmap(P, Mmap.PROT_READ, true, shmemFile(1), 0, 0);
        mm.vmas().lookup(ro).flags &= ~VmFlags.VM_MAYWRITE; // an O_RDONLY file mapped MAP_SHARED
        assertErrno(Errno.EPERM, () -> u.register(ro, P, REGISTER_MODE_MISSING));
    }
}
