package dev.livemig.mm.selftests;

import static dev.livemig.mm.MmConstants.PMD_SIZE;
import static dev.livemig.mm.MmConstants.TASK_SIZE;
import static dev.livemig.mm.uffd.UserfaultfdCtx.COPY_MODE_DONTWAKE;
import static dev.livemig.mm.uffd.UserfaultfdCtx.COPY_MODE_WP;
import static dev.livemig.mm.uffd.UserfaultfdCtx.REGISTER_MODE_MINOR;
import static dev.livemig.mm.uffd.UserfaultfdCtx.REGISTER_MODE_MISSING;
import static dev.livemig.mm.uffd.UserfaultfdCtx.REGISTER_MODE_WP;
import static dev.livemig.mm.uffd.UserfaultfdCtx.WRITEPROTECT_MODE_DONTWAKE;
import static dev.livemig.mm.uffd.UserfaultfdCtx.WRITEPROTECT_MODE_WP;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.livemig.mm.Errno;
import dev.livemig.mm.KernelException;
import dev.livemig.mm.MmStruct;
import dev.livemig.mm.VmFlags;
import dev.livemig.mm.debug.MmSnapshot;
import dev.livemig.mm.proc.PagemapScan;
import dev.livemig.mm.shmem.ShmemFile;
import dev.livemig.mm.uffd.PageSource;
import dev.livemig.mm.uffd.UffdFeatures;
import dev.livemig.mm.uffd.UserfaultfdCtx;
import dev.livemig.mm.vma.Mmap;
import dev.livemig.mm.vma.Vma;
import java.util.ArrayList;
import java.util.List;
import java.util.function.Consumer;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Every invalid argument of the simulated syscalls and ioctls, one row each: the call
 * fails with the errno the kernel returns (fs/userfaultfd.c, mm/userfaultfd.c,
 * fs/proc/task_mmu.c, mm/mmap.c, mm/vma.c, mm/mprotect.c, mm/madvise.c as of 6.18; see
 * kernel-semantics.md) and the whole observable state of the process is unchanged
 * ({@link MmSnapshot}). Rows are chosen so that the kernel, too, changes nothing before
 * failing; the partial-progress cases live in {@link FailedCallLeavesStateTest}.
 */
class InvalidArgumentsTest extends MmTestBase {
    private static final long FEATURES = UffdFeatures.MISSING_SHMEM | UffdFeatures.MISSING_HUGETLBFS
            | UffdFeatures.MINOR_SHMEM | UffdFeatures.PAGEFAULT_FLAG_WP | UffdFeatures.WP_HUGETLBFS_SHMEM;
    private static final long HP = PMD_SIZE;
    private static final long HUGE = 1L << 63;

    /**
     * One process with a mapping of each kind. {@code a}: anon registered MISSING|WP;
     * {@code b}: anon, not registered, followed by a hole; {@code d}: anon registered
     * MISSING only; {@code c}: anon registered with another uffd; {@code s}: shared shmem
     * registered MISSING|WP|MINOR; {@code h}: shared hugetlb (2 huge pages) registered
     * MISSING|WP; {@code ro}: PROT_READ anon; {@code rofile}: MAP_SHARED of an O_RDONLY
     * shmem file (no VM_MAYWRITE); {@code priv}: MAP_PRIVATE of shmem. Every private vma
     * has a written page, so a fill ioctl's anon_vma_prepare() has nothing left to do.
     */
    final class Layout {
        final MmStruct mm = InvalidArgumentsTest.this.mm;
        final UserfaultfdCtx u;
        final UserfaultfdCtx u2;
        final UserfaultfdCtx fresh;
        final long a;
        final long b;
        final long hole;
        final long d;
        final long c;
        final long s;
        final long h;
        final long ro;
        final long rofile;
        final long priv;

        Layout() {
            u = uffd(FEATURES);
            u2 = uffd(FEATURES);
            fresh = mm.userfaultfd();
            a = written(anon(8));
            u.register(a, 8 * P, REGISTER_MODE_MISSING | REGISTER_MODE_WP);
            b = written(anon(8));
            hole = b + 8 * P;
            d = written(anon(8));
            u.register(d, 8 * P, REGISTER_MODE_MISSING);
            c = written(anon(8));
            u2.register(c, 8 * P, REGISTER_MODE_MISSING);
            s = written(mapShared(shmemFile(8)));
            u.register(s, 8 * P, REGISTER_MODE_MISSING | REGISTER_MODE_WP | REGISTER_MODE_MINOR);
            h = written(mapShared(hugetlbFile(2 * 512)));
            u.register(h, 2 * HP, REGISTER_MODE_MISSING | REGISTER_MODE_WP);
            ro = mm.mmap(2 * P, Mmap.PROT_READ, false, null, 0, 0);
            ShmemFile rf = shmemFile(2);
            rofile = mm.mmap(2 * P, Mmap.PROT_READ, true, rf, 0, 0);
            mm.vmas().lookup(rofile).flags &= ~VmFlags.VM_MAYWRITE; // do_mmap() of an O_RDONLY fd
            priv = written(mapPrivate(shmemFile(4)));
        }

        private long written(long addr) {
            mm.writeLong(addr, 0x5a5a);
            return addr;
        }

        PagemapScan.Arg scan(long size, long flags, long start, long end, boolean vecNull, long vecLen, long inv,
                             long mask, long any, long ret) {
            return new PagemapScan.Arg(size, flags, start, end, vecNull, vecLen, 0, inv, mask, any, ret);
        }
    }

    record Row(String name, Errno errno, Consumer<Layout> call) {
        @Override
        public String toString() {
            return name + " -> " + errno;
        }
    }

    private static Row row(String name, Errno e, Consumer<Layout> call) {
        return new Row(name, e, call);
    }

    static Stream<Arguments> rows() {
        List<Row> r = new ArrayList<>();
        // ---- UFFDIO_API (userfaultfd_api) ----
        r.add(row("API twice", Errno.EINVAL, l -> l.u.api(0)));
        r.add(row("API unknown feature 1<<17", Errno.EINVAL, l -> l.fresh.api(1L << 17)));
        r.add(row("API unknown feature 1<<63", Errno.EINVAL, l -> l.fresh.api(HUGE)));
        r.add(row("REGISTER before API", Errno.EINVAL, l -> l.fresh.register(l.b, P, REGISTER_MODE_MISSING)));
        r.add(row("COPY before API", Errno.EINVAL, l -> l.fresh.copy(l.a + 4 * P, P, 0, PageSource.ZERO)));
        r.add(row("WAKE before API", Errno.EINVAL, l -> l.fresh.wakeIoctl(l.a, P)));
        r.add(row("WRITEPROTECT before API", Errno.EINVAL, l -> l.fresh.writeprotect(l.a, P, 1)));
        // ---- UFFDIO_REGISTER (userfaultfd_register) ----
        r.add(row("REGISTER mode 0", Errno.EINVAL, l -> l.u.register(l.b, P, 0)));
        r.add(row("REGISTER mode 8", Errno.EINVAL, l -> l.u.register(l.b, P, 8)));
        r.add(row("REGISTER mode -1", Errno.EINVAL, l -> l.u.register(l.b, P, -1)));
        r.add(row("REGISTER unaligned start", Errno.EINVAL, l -> l.u.register(l.b + 1, P, REGISTER_MODE_MISSING)));
        r.add(row("REGISTER len 0", Errno.EINVAL, l -> l.u.register(l.b, 0, REGISTER_MODE_MISSING)));
        r.add(row("REGISTER unaligned len", Errno.EINVAL, l -> l.u.register(l.b, P + 1, REGISTER_MODE_MISSING)));
        r.add(row("REGISTER start at TASK_SIZE", Errno.EINVAL, l -> l.u.register(TASK_SIZE, P, REGISTER_MODE_MISSING)));
        r.add(row("REGISTER kernel address", Errno.EINVAL, l -> l.u.register(-P, P, REGISTER_MODE_MISSING)));
        r.add(row("REGISTER len past TASK_SIZE", Errno.EINVAL,
                l -> l.u.register(TASK_SIZE - P, 2 * P, REGISTER_MODE_MISSING)));
        r.add(row("REGISTER wrapping len", Errno.EINVAL, l -> l.u.register(l.b, -P, REGISTER_MODE_MISSING)));
        r.add(row("REGISTER hole only", Errno.EINVAL, l -> l.u.register(l.hole, P, REGISTER_MODE_MISSING)));
        r.add(row("REGISTER MINOR on anon", Errno.EINVAL, l -> l.u.register(l.b, P, REGISTER_MODE_MINOR)));
        r.add(row("REGISTER hugetlb start unaligned", Errno.EINVAL,
                l -> l.u.register(l.h + P, HP - P, REGISTER_MODE_MISSING)));
        r.add(row("REGISTER hugetlb end unaligned", Errno.EINVAL, l -> l.u.register(l.h, P, REGISTER_MODE_MISSING)));
        r.add(row("REGISTER vma of another uffd", Errno.EBUSY, l -> l.u.register(l.c, P, REGISTER_MODE_MISSING)));
        r.add(row("REGISTER anon + vma of another uffd", Errno.EBUSY,
                l -> l.u.register(l.b, l.c + P - l.b, REGISTER_MODE_MISSING)));
        r.add(row("REGISTER no VM_MAYWRITE", Errno.EPERM, l -> l.u.register(l.rofile, P, REGISTER_MODE_MISSING)));
        // ---- UFFDIO_UNREGISTER ----
        r.add(row("UNREGISTER unaligned", Errno.EINVAL, l -> l.u.unregister(l.a + 8, P)));
        r.add(row("UNREGISTER len 0", Errno.EINVAL, l -> l.u.unregister(l.a, 0)));
        r.add(row("UNREGISTER past TASK_SIZE", Errno.EINVAL, l -> l.u.unregister(TASK_SIZE, P)));
        r.add(row("UNREGISTER hole only", Errno.EINVAL, l -> l.u.unregister(l.hole, P)));
        r.add(row("UNREGISTER vma of another uffd", Errno.EINVAL, l -> l.u.unregister(l.c, P)));
        r.add(row("UNREGISTER hugetlb start unaligned", Errno.EINVAL, l -> l.u.unregister(l.h + P, HP - P)));
        r.add(row("UNREGISTER hugetlb end unaligned", Errno.EINVAL, l -> l.u.unregister(l.h, P)));
        // ---- UFFDIO_COPY / ZEROPAGE / CONTINUE / POISON (validation, then mfill_atomic) ----
        r.add(row("COPY unaligned dst", Errno.EINVAL, l -> l.u.copy(l.a + 4 * P + 8, P, 0, PageSource.ZERO)));
        r.add(row("COPY len 0", Errno.EINVAL, l -> l.u.copy(l.a + 4 * P, 0, 0, PageSource.ZERO)));
        r.add(row("COPY unaligned len", Errno.EINVAL, l -> l.u.copy(l.a + 4 * P, 100, 0, PageSource.ZERO)));
        r.add(row("COPY at TASK_SIZE", Errno.EINVAL, l -> l.u.copy(TASK_SIZE, P, 0, PageSource.ZERO)));
        r.add(row("COPY kernel address", Errno.EINVAL, l -> l.u.copy(-2 * P, P, 0, PageSource.ZERO)));
        r.add(row("COPY wrapping len", Errno.EINVAL, l -> l.u.copy(l.a, -P, 0, PageSource.ZERO)));
        r.add(row("COPY mode 4", Errno.EINVAL, l -> l.u.copy(l.a + 4 * P, P, 4, PageSource.ZERO)));
        r.add(row("COPY into a hole", Errno.ENOENT, l -> l.u.copy(l.hole, P, 0, PageSource.ZERO)));
        r.add(row("COPY into unregistered vma", Errno.ENOENT, l -> l.u.copy(l.b + 4 * P, P, 0, PageSource.ZERO)));
        r.add(row("COPY past the vma end", Errno.ENOENT, l -> l.u.copy(l.a + 4 * P, 8 * P, 0, PageSource.ZERO)));
        r.add(row("COPY MODE_WP on a MISSING-only vma", Errno.EINVAL,
                l -> l.u.copy(l.d + 4 * P, P, COPY_MODE_WP, PageSource.ZERO)));
        r.add(row("COPY over a present page", Errno.EEXIST, l -> l.u.copy(l.a, P, 0, PageSource.ZERO)));
        r.add(row("COPY hugetlb unaligned dst", Errno.EINVAL, l -> l.u.copy(l.h + HP - P, P, 0, PageSource.ZERO)));
        r.add(row("COPY hugetlb over a present huge page", Errno.EEXIST,
                l -> l.u.copy(l.h, HP, 0, PageSource.ZERO)));
        r.add(row("ZEROPAGE mode WP", Errno.EINVAL, l -> l.u.zeropage(l.a + 4 * P, P, 2)));
        r.add(row("ZEROPAGE len 0", Errno.EINVAL, l -> l.u.zeropage(l.a + 4 * P, 0, 0)));
        r.add(row("ZEROPAGE into unregistered vma", Errno.ENOENT, l -> l.u.zeropage(l.b + 4 * P, P, 0)));
        r.add(row("ZEROPAGE on hugetlb", Errno.EINVAL, l -> l.u.zeropage(l.h + HP, HP, 0)));
        r.add(row("ZEROPAGE over a present page", Errno.EEXIST, l -> l.u.zeropage(l.a, P, COPY_MODE_DONTWAKE)));
        r.add(row("CONTINUE mode 4", Errno.EINVAL, l -> l.u.cont(l.s + P, P, 4)));
        r.add(row("CONTINUE unaligned", Errno.EINVAL, l -> l.u.cont(l.s + 1, P, 0)));
        r.add(row("CONTINUE on anon", Errno.EINVAL, l -> l.u.cont(l.a + 4 * P, P, 0)));
        r.add(row("CONTINUE page not in the cache", Errno.EFAULT, l -> l.u.cont(l.s + P, P, 0)));
        r.add(row("CONTINUE over a mapped page", Errno.EEXIST, l -> l.u.cont(l.s, P, 0)));
        r.add(row("CONTINUE into unregistered vma", Errno.ENOENT, l -> l.u.cont(l.priv, P, 0)));
        r.add(row("POISON mode 2", Errno.EINVAL, l -> l.u.poison(l.a + 4 * P, P, 2)));
        r.add(row("POISON over a present page", Errno.EEXIST, l -> l.u.poison(l.a, P, 0)));
        r.add(row("POISON into a hole", Errno.ENOENT, l -> l.u.poison(l.hole, P, 0)));
        // ---- UFFDIO_WRITEPROTECT (userfaultfd_writeprotect, mwriteprotect_range) ----
        r.add(row("WRITEPROTECT unaligned", Errno.EINVAL, l -> l.u.writeprotect(l.a + 8, P, 1)));
        r.add(row("WRITEPROTECT len 0", Errno.EINVAL, l -> l.u.writeprotect(l.a, 0, 1)));
        r.add(row("WRITEPROTECT past TASK_SIZE", Errno.EINVAL, l -> l.u.writeprotect(TASK_SIZE - P, 2 * P, 1)));
        r.add(row("WRITEPROTECT mode 4", Errno.EINVAL, l -> l.u.writeprotect(l.a, P, 4)));
        r.add(row("WRITEPROTECT mode WP|DONTWAKE", Errno.EINVAL,
                l -> l.u.writeprotect(l.a, P, WRITEPROTECT_MODE_WP | WRITEPROTECT_MODE_DONTWAKE)));
        r.add(row("WRITEPROTECT hole", Errno.ENOENT, l -> l.u.writeprotect(l.hole, P, WRITEPROTECT_MODE_WP)));
        r.add(row("WRITEPROTECT unregistered vma", Errno.ENOENT,
                l -> l.u.writeprotect(l.b, P, WRITEPROTECT_MODE_WP)));
        r.add(row("WRITEPROTECT MISSING-only vma", Errno.ENOENT,
                l -> l.u.writeprotect(l.d, P, WRITEPROTECT_MODE_WP)));
        r.add(row("WRITEPROTECT unregistered vma, hole, then registered", Errno.ENOENT,
                l -> l.u.writeprotect(l.b, l.d + P - l.b, WRITEPROTECT_MODE_WP)));
        r.add(row("WRITEPROTECT hugetlb unaligned", Errno.EINVAL,
                l -> l.u.writeprotect(l.h, P, WRITEPROTECT_MODE_WP)));
        // ---- UFFDIO_WAKE ----
        r.add(row("WAKE unaligned", Errno.EINVAL, l -> l.u.wakeIoctl(l.a + 1, P)));
        r.add(row("WAKE len 0", Errno.EINVAL, l -> l.u.wakeIoctl(l.a, 0)));
        r.add(row("WAKE past TASK_SIZE", Errno.EINVAL, l -> l.u.wakeIoctl(TASK_SIZE, P)));
        // ---- PAGEMAP_SCAN (pagemap_scan_get_args, then the walk) ----
        long all = PagemapScan.PM_SCAN_CATEGORIES;
        r.add(row("SCAN size 95", Errno.EINVAL, l -> PagemapScan.scan(l.mm, l.scan(95, 0, l.a, l.a + P, false, 8, 0, 0, 0, all))));
        r.add(row("SCAN size 104", Errno.EINVAL, l -> PagemapScan.scan(l.mm, l.scan(104, 0, l.a, l.a + P, false, 8, 0, 0, 0, all))));
        r.add(row("SCAN size 0", Errno.EINVAL, l -> PagemapScan.scan(l.mm, l.scan(0, 0, l.a, l.a + P, false, 8, 0, 0, 0, all))));
        r.add(row("SCAN unknown flag 4", Errno.EINVAL, l -> PagemapScan.scan(l.mm, l.scan(96, 4, l.a, l.a + P, false, 8, 0, 0, 0, all))));
        r.add(row("SCAN unknown flag 1<<63", Errno.EINVAL, l -> PagemapScan.scan(l.mm, l.scan(96, HUGE, l.a, l.a + P, false, 8, 0, 0, 0, all))));
        r.add(row("SCAN inverted bit 9", Errno.EINVAL, l -> PagemapScan.scan(l.mm, l.scan(96, 0, l.a, l.a + P, false, 8, 1 << 9, 0, 0, all))));
        r.add(row("SCAN mask bit 9", Errno.EINVAL, l -> PagemapScan.scan(l.mm, l.scan(96, 0, l.a, l.a + P, false, 8, 0, 1 << 9, 0, all))));
        r.add(row("SCAN anyof bit 9", Errno.EINVAL, l -> PagemapScan.scan(l.mm, l.scan(96, 0, l.a, l.a + P, false, 8, 0, 0, 1 << 9, all))));
        r.add(row("SCAN return bit 63", Errno.EINVAL, l -> PagemapScan.scan(l.mm, l.scan(96, 0, l.a, l.a + P, false, 8, 0, 0, 0, HUGE))));
        r.add(row("SCAN unaligned start", Errno.EINVAL, l -> PagemapScan.scan(l.mm, l.scan(96, 0, l.a + 8, l.a + P, false, 8, 0, 0, 0, all))));
        r.add(row("SCAN end below start", Errno.EFAULT, l -> PagemapScan.scan(l.mm, l.scan(96, 0, l.a + P, l.a, false, 8, 0, 0, 0, all))));
        r.add(row("SCAN end one byte below start", Errno.EFAULT, l -> PagemapScan.scan(l.mm, l.scan(96, 0, l.a + P, l.a + P - 1, false, 8, 0, 0, 0, all))));
        r.add(row("SCAN end past the user space", Errno.EFAULT, l -> PagemapScan.scan(l.mm, l.scan(96, 0, l.a, TASK_SIZE + 2 * P, false, 8, 0, 0, 0, all))));
        r.add(row("SCAN end kernel address", Errno.EFAULT, l -> PagemapScan.scan(l.mm, l.scan(96, 0, l.a, -P, false, 8, 0, 0, 0, all))));
        r.add(row("SCAN vec_len without vec", Errno.EINVAL, l -> PagemapScan.scan(l.mm, l.scan(96, 0, l.a, l.a + P, true, 1, 0, 0, 0, all))));
        r.add(row("SCAN vec_len beyond user space", Errno.EFAULT, l -> PagemapScan.scan(l.mm, l.scan(96, 0, l.a, l.a + P, false, 1L << 60, 0, 0, 0, all))));
        r.add(row("SCAN CHECK_WPASYNC on a sync vma", Errno.EPERM, l -> PagemapScan.scan(l.mm,
                l.scan(96, PagemapScan.PM_SCAN_CHECK_WPASYNC, l.a, l.a + P, false, 8, 0, 0, 0, all))));
        r.add(row("SCAN WP_MATCHING|CHECK_WPASYNC on a sync vma", Errno.EPERM, l -> PagemapScan.scan(l.mm,
                l.scan(96, PagemapScan.PM_SCAN_WP_MATCHING | PagemapScan.PM_SCAN_CHECK_WPASYNC, l.b, l.b + 8 * P,
                        true, 0, 0, PagemapScan.PAGE_IS_WRITTEN, 0, PagemapScan.PAGE_IS_WRITTEN))));
        // ---- mmap (do_mmap, __get_unmapped_area) ----
        r.add(row("mmap len 0", Errno.EINVAL, l -> l.mm.mmap(0, RW, false, null, 0, 0)));
        r.add(row("mmap len page-aligns to 0", Errno.ENOMEM, l -> l.mm.mmap(-1, RW, false, null, 0, 0)));
        r.add(row("mmap len past TASK_SIZE", Errno.ENOMEM, l -> l.mm.mmap(TASK_SIZE + P, RW, false, null, 0, 0)));
        r.add(row("mmap hugetlb len not huge", Errno.EINVAL, l -> l.mm.mmap(P, RW, true, hugetlbFileOf(l), 0, 0)));
        r.add(row("mmap fixed unaligned", Errno.EINVAL, l -> l.mm.mmapFixedNoreplace(l.hole + 8, P, RW, false, null, 0, 0)));
        r.add(row("mmap fixed past TASK_SIZE", Errno.ENOMEM, l -> l.mm.mmapFixedNoreplace(TASK_SIZE - P, 2 * P, RW, false, null, 0, 0)));
        r.add(row("mmap fixed kernel address", Errno.ENOMEM, l -> l.mm.mmapFixedNoreplace(-P, P, RW, false, null, 0, 0)));
        r.add(row("mmap fixed below mmap_min_addr", Errno.EPERM, l -> l.mm.mmapFixedNoreplace(0, P, RW, false, null, 0, 0)));
        r.add(row("mmap fixed over a vma", Errno.EEXIST, l -> l.mm.mmapFixedNoreplace(l.b + 7 * P, 2 * P, RW, false, null, 0, 0)));
        r.add(row("mmap fixed hugetlb unaligned", Errno.EINVAL, l -> l.mm.mmapFixedNoreplace(l.hole + P, HP, RW, true, hugetlbFileOf(l), 0, 0)));
        // ---- munmap (do_vmi_munmap) ----
        r.add(row("munmap unaligned", Errno.EINVAL, l -> l.mm.munmap(l.b + 8, P)));
        r.add(row("munmap len 0", Errno.EINVAL, l -> l.mm.munmap(l.b, 0)));
        r.add(row("munmap start past TASK_SIZE", Errno.EINVAL, l -> l.mm.munmap(TASK_SIZE + P, P)));
        r.add(row("munmap kernel address", Errno.EINVAL, l -> l.mm.munmap(-P, P)));
        r.add(row("munmap len past TASK_SIZE", Errno.EINVAL, l -> l.mm.munmap(l.b, TASK_SIZE)));
        r.add(row("munmap wrapping len", Errno.EINVAL, l -> l.mm.munmap(l.b, -P)));
        r.add(row("munmap splits a huge page", Errno.EINVAL, l -> l.mm.munmap(l.h + P, P)));
        // ---- mprotect (do_mprotect_pkey) ----
        r.add(row("mprotect unaligned", Errno.EINVAL, l -> l.mm.mprotect(l.b + 8, P, Mmap.PROT_READ)));
        r.add(row("mprotect unknown prot bit", Errno.EINVAL, l -> l.mm.mprotect(l.b, P, 0x10)));
        r.add(row("mprotect GROWSDOWN|GROWSUP", Errno.EINVAL,
                l -> l.mm.mprotect(l.b, P, Mmap.PROT_READ | Mmap.PROT_GROWSDOWN | Mmap.PROT_GROWSUP)));
        r.add(row("mprotect GROWSDOWN on a plain vma", Errno.EINVAL,
                l -> l.mm.mprotect(l.b, P, Mmap.PROT_READ | Mmap.PROT_GROWSDOWN)));
        r.add(row("mprotect wrapping", Errno.ENOMEM, l -> l.mm.mprotect(l.b, -P, Mmap.PROT_READ)));
        r.add(row("mprotect hole", Errno.ENOMEM, l -> l.mm.mprotect(l.hole, P, Mmap.PROT_READ)));
        r.add(row("mprotect hole then vma", Errno.ENOMEM, l -> l.mm.mprotect(l.hole, l.d + P - l.hole, Mmap.PROT_READ)));
        r.add(row("mprotect past TASK_SIZE", Errno.ENOMEM, l -> l.mm.mprotect(TASK_SIZE, P, Mmap.PROT_READ)));
        r.add(row("mprotect kernel address", Errno.ENOMEM, l -> l.mm.mprotect(-2 * P, P, Mmap.PROT_READ)));
        r.add(row("mprotect WRITE without VM_MAYWRITE", Errno.EACCES, l -> l.mm.mprotect(l.rofile, P, RW)));
        // ---- madvise (madvise_should_skip, madvise_walk_vmas, per-behaviour checks) ----
        r.add(row("madvise unaligned", Errno.EINVAL, l -> l.mm.madvise(l.b + 8, P, Mmap.Advice.DONTNEED)));
        r.add(row("madvise len page-aligns to 0", Errno.EINVAL, l -> l.mm.madvise(l.b, -1, Mmap.Advice.DONTNEED)));
        r.add(row("madvise wrapping", Errno.EINVAL, l -> l.mm.madvise(l.b, -2 * P, Mmap.Advice.DONTNEED)));
        r.add(row("madvise hole", Errno.ENOMEM, l -> l.mm.madvise(l.hole, P, Mmap.Advice.DONTNEED)));
        r.add(row("madvise past TASK_SIZE", Errno.ENOMEM, l -> l.mm.madvise(TASK_SIZE, P, Mmap.Advice.DONTNEED)));
        r.add(row("madvise kernel address", Errno.ENOMEM, l -> l.mm.madvise(-2 * P, P, Mmap.Advice.HUGEPAGE)));
        r.add(row("DONTNEED hugetlb unaligned start", Errno.EINVAL, l -> l.mm.madvise(l.h + P, P, Mmap.Advice.DONTNEED)));
        r.add(row("REMOVE on private anon", Errno.EINVAL, l -> l.mm.madvise(l.b, P, Mmap.Advice.REMOVE)));
        r.add(row("REMOVE on a private file mapping", Errno.EACCES, l -> l.mm.madvise(l.priv, P, Mmap.Advice.REMOVE)));
        r.add(row("REMOVE without VM_MAYWRITE", Errno.EACCES, l -> l.mm.madvise(l.rofile, P, Mmap.Advice.REMOVE)));
        r.add(row("POPULATE_WRITE on PROT_READ", Errno.EINVAL, l -> l.mm.madvise(l.ro, P, Mmap.Advice.POPULATE_WRITE)));
        r.add(row("POPULATE_READ on a hole", Errno.ENOMEM, l -> l.mm.madvise(l.hole, P, Mmap.Advice.POPULATE_READ)));
        return r.stream().map(Arguments::of);
    }

    /** A hugetlb file the layout already maps (so no page of it is allocated by the call). */
    private static dev.livemig.mm.page.AddressSpace hugetlbFileOf(Layout l) {
        return l.mm.vmas().lookup(l.h).file;
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("rows")
    void invalidArgumentFailsWithKernelErrnoAndChangesNothing(Row row) {
        Layout l = new Layout();
        MmSnapshot before = MmSnapshot.take(mm, l.u, l.u2, l.fresh);
        KernelException e = assertThrows(KernelException.class, () -> row.call.accept(l), row.name);
        assertEquals(row.errno, e.errno(), row.name);
        MmSnapshot after = MmSnapshot.take(mm, l.u, l.u2, l.fresh);
        assertEquals(List.of(), before.diff(after), row.name + ": state changed");
    }

    // The fill ioctls report failures of mfill_atomic() in the result field too, and
    // argument errors found before it leave the field alone.
    @Test
    void fillResultFieldOnlyForErrorsFromMfillAtomic() {
        Layout l = new Layout();
        KernelException v = assertThrows(KernelException.class, () -> l.u.copy(l.a + 8, P, 0, PageSource.ZERO));
        assertFalse(v.hasResult(), "validate_range failure leaves copy untouched");
        KernelException m = assertThrows(KernelException.class, () -> l.u.copy(l.hole, P, 0, PageSource.ZERO));
        assertTrue(m.hasResult());
        assertEquals(-Errno.ENOENT.value(), m.result());
        KernelException x = assertThrows(KernelException.class, () -> l.u.copy(l.a, P, 0, PageSource.ZERO));
        assertEquals(-Errno.EEXIST.value(), x.result());
    }

    // Regressions of the argument fixes: the kernel rounds lengths up and treats a zero
    // length as a no-op where the simulation used to reject it.
    @Test
    void mprotectOfZeroLengthSucceedsWithoutLooking() {
        Layout l = new Layout();
        MmSnapshot before = MmSnapshot.take(mm, l.u, l.u2, l.fresh);
        mm.mprotect(l.hole, 0, Mmap.PROT_READ);
        mm.madvise(l.hole, 0, Mmap.Advice.DONTNEED);
        assertEquals(List.of(), before.diff(MmSnapshot.take(mm, l.u, l.u2, l.fresh)));
    }

    @Test
    void mmapRoundsTheLengthUpToPages() {
        long addr = mm.mmap(P + 1, RW, false, null, 0, 0);
        Vma v = mm.vmas().lookup(addr);
        assertEquals(addr + 2 * P, v.end);
        mm.writeLong(addr + P + 8, 7);
        assertEquals(7, mm.readLong(addr + P + 8));
    }

    @Test
    void munmapRoundsTheLengthUpToPages() {
        long addr = anon(4);
        mm.munmap(addr, P + 1);
        assertEquals(null, mm.vmas().lookup(addr + P));
        assertEquals(addr + 2 * P, mm.vmas().lookup(addr + 2 * P).start);
    }

    @Test
    void mprotectAcceptsExecAndSem() {
        long addr = anon(2);
        mm.mprotect(addr, P, Mmap.PROT_READ | Mmap.PROT_EXEC | Mmap.PROT_SEM);
        long flags = mm.vmas().lookup(addr).flags;
        assertEquals(VmFlags.VM_READ | VmFlags.VM_EXEC, flags & (VmFlags.VM_READ | VmFlags.VM_WRITE | VmFlags.VM_EXEC));
        mm.mprotect(addr, P, RW);
        assertEquals(0, mm.vmas().lookup(addr).flags & VmFlags.VM_EXEC, "mprotect clears what it is not given");
    }

    // munmap() that fails on a hugetlb split used to have bumped mmap_changing for the
    // UNMAP event it never sent, so every later fill ioctl returned EAGAIN.
    @Test
    void failedMunmapLeavesNoUnmapEventPending() {
        UserfaultfdCtx u = uffd(FEATURES | UffdFeatures.EVENT_UNMAP);
        long h = mapShared(hugetlbFile(2 * 512));
        u.register(h, 2 * HP, REGISTER_MODE_MISSING);
        MmSnapshot before = MmSnapshot.take(mm, u);
        assertErrno(Errno.EINVAL, () -> mm.munmap(h + P, P));
        assertEquals(List.of(), before.diff(MmSnapshot.take(mm, u)));
        assertEquals(HP, u.copy(h, HP, 0, PageSource.ofValue(1)), "no event in flight, so no EAGAIN");
    }

    // MADV_HUGEPAGE over [NOHUGEPAGE piece, part of a HUGEPAGE piece): the first piece
    // merges into the second, which is already as asked and is left alone
    // (madvise_update_vma), so one vma remains.
    @Test
    void madviseHugepageMergingIntoTheNextVmaKeepsOneVma() {
        long a = anon(8);
        mm.madvise(a + 4 * P, 4 * P, Mmap.Advice.HUGEPAGE);
        assertEquals(2, mm.vmas().range(a, a + 8 * P).size());
        mm.madvise(a, 6 * P, Mmap.Advice.HUGEPAGE);
        List<Vma> vmas = mm.vmas().range(a, a + 8 * P);
        assertEquals(1, vmas.size(), vmas.toString());
        assertEquals(a + 8 * P, vmas.get(0).end);
    }

    // A MAP_FIXED mapping just below TASK_SIZE used to push the bump allocator past the
    // top, so every later mmap() got an address beyond TASK_SIZE.
    @Test
    void mmapAfterAFixedMappingAtTheTopFindsAGapBelow() {
        long first = anon(4);
        long top = mm.mmapFixedNoreplace(TASK_SIZE - P, P, RW, false, null, 0, 0);
        long next = anon(4);
        assertTrue(next + 4 * P <= top, "below the fixed mapping: " + Long.toHexString(next));
        assertTrue(next >= first + 4 * P, "not over the first mapping");
        mm.writeLong(next, 3);
        assertEquals(3, mm.readLong(next));
    }
}
