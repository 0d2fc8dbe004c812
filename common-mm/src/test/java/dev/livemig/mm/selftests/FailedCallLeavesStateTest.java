package dev.livemig.mm.selftests;

import static dev.livemig.mm.MmConstants.PMD_SIZE;
import static dev.livemig.mm.MmConstants.TASK_SIZE;
import static dev.livemig.mm.uffd.UserfaultfdCtx.REGISTER_MODE_MINOR;
import static dev.livemig.mm.uffd.UserfaultfdCtx.REGISTER_MODE_MISSING;
import static dev.livemig.mm.uffd.UserfaultfdCtx.REGISTER_MODE_WP;
import static dev.livemig.mm.uffd.UserfaultfdCtx.WRITEPROTECT_MODE_WP;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import dev.livemig.mm.Errno;
import dev.livemig.mm.KernelException;
import dev.livemig.mm.MmStruct;
import dev.livemig.mm.debug.MmSnapshot;
import dev.livemig.mm.proc.Pagemap;
import dev.livemig.mm.proc.PagemapScan;
import dev.livemig.mm.uffd.PageSource;
import dev.livemig.mm.uffd.UffdFeatures;
import dev.livemig.mm.uffd.UserfaultfdCtx;
import dev.livemig.mm.vma.Mmap;
import dev.livemig.mm.vma.Vma;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.stream.IntStream;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Property: a syscall or ioctl that fails leaves the process exactly as it was.
 *
 * <p>Each seed builds a random process (private anon, THP, shared and private shmem,
 * hugetlb and read-only mappings; random reads and writes, a fork with COW writes in the
 * child, DONTNEED and mprotect splits; registrations of random modes with a sync or
 * WP_ASYNC uffd and a second uffd; COPY, ZEROPAGE and WRITEPROTECT on random ranges),
 * then fires invalid calls at it: ones with a known kernel errno, and random garbage
 * arguments, which may fail with any errno or even succeed. After every failure the
 * {@link MmSnapshot} must equal the one taken before.
 *
 * <p>Where the kernel itself makes progress before failing (a short UFFDIO_COPY, an
 * mprotect or madvise meeting a hole, a WRITEPROTECT reaching a vma without
 * VM_UFFD_WP), "identical" is the wrong property: {@link PartialProgressTest} checks
 * those against what they report, and garbage fills that report progress are left to it.
 */
class FailedCallLeavesStateTest extends MmTestBase {
    private static final long BASE_FEATURES = UffdFeatures.MISSING_SHMEM | UffdFeatures.MISSING_HUGETLBFS
            | UffdFeatures.MINOR_SHMEM | UffdFeatures.MINOR_HUGETLBFS | UffdFeatures.PAGEFAULT_FLAG_WP
            | UffdFeatures.WP_HUGETLBFS_SHMEM;
    private static final long HP = PMD_SIZE;
    private static final int CALLS_PER_SEED = 14;

    enum Kind { ANON, THP, SHMEM_SHARED, SHMEM_PRIVATE, HUGETLB, RO }

    private record Mapping(Kind kind, long addr, long pages) {
        long end() {
            return addr + pages * P;
        }
    }

    /**
     * One invalid call: what it is, the errno it must fail with (null: any), the call,
     * and whether it is a fill ioctl (see {@link #kernelFillSideEffect}).
     */
    private record Call(String name, Errno errno, Runnable run, boolean fill) {
        Call(String name, Errno errno, Runnable run) {
            this(name, errno, run, false);
        }
    }

    private Random rnd;
    private UserfaultfdCtx u;
    private UserfaultfdCtx u2;
    private UserfaultfdCtx fresh;
    private final List<Mapping> maps = new ArrayList<>();
    private int failures;

    static IntStream seeds() {
        return IntStream.range(0, 50);
    }

    @ParameterizedTest(name = "seed {0}")
    @MethodSource("seeds")
    void failedCallLeavesStateIdentical(int seed) {
        rnd = new Random(0x1cee_d000L + seed);
        buildRandomState();
        for (int i = 0; i < CALLS_PER_SEED && !mm.vmas().isEmpty(); i++) {
            boolean garbage = rnd.nextInt(4) == 0;
            Call c = garbage ? garbageCall() : invalidCall();
            MmSnapshot before = snap();
            try {
                c.run.run();
                if (c.errno != null) {
                    fail(c.name + " succeeded, expected " + c.errno);
                }
            } catch (KernelException e) {
                if (c.errno != null) {
                    assertEquals(c.errno, e.errno(), c.name);
                }
                if (e.hasResult() && e.result() > 0) {
                    continue; // a garbage fill that made progress: checked by the partial cases
                }
                List<String> diff = before.diff(snap());
                if (c.fill) {
                    diff = diff.stream().filter(d -> !kernelFillSideEffect(d, e)).toList();
                }
                assertEquals(List.of(), diff, c.name + " failed with " + e.errno() + " but changed state");
                failures++;
            }
        }
        assertTrue(failures >= CALLS_PER_SEED / 2, "too few failing calls were checked: " + failures);
    }

    /**
     * What a failing fill ioctl changes in the kernel too, once its arguments passed
     * validation (the result field is then written): uffd_mfill_lock() prepares the
     * anon_vma of a private dst vma before validate_dst_vma() can refuse it, and when the
     * first page itself fails (EEXIST, EFAULT...) mfill_atomic() has already allocated its
     * page table. Nothing else, and nothing at all for a dst the vma checks refuse.
     */
    private static boolean kernelFillSideEffect(String diffLine, KernelException e) {
        if (!e.hasResult()) {
            return false;
        }
        boolean pageFailed = e.errno() != Errno.ENOENT && e.errno() != Errno.EINVAL && e.errno() != Errno.EAGAIN;
        if (pageFailed && diffLine.startsWith("ptetable ") && diffLine.endsWith(": null -> ")) {
            return true;
        }
        int arrow = diffLine.indexOf(" -> ");
        return diffLine.startsWith("vma ") && arrow > 0
                && diffLine.substring(diffLine.indexOf(": ") + 2, arrow).replace("anonVma=false", "anonVma=true")
                        .equals(diffLine.substring(arrow + 4));
    }

    private MmSnapshot snap() {
        return MmSnapshot.take(mm, u, u2, fresh);
    }

    // ---- the random process -------------------------------------------------------------

    private void buildRandomState() {
        boolean async = rnd.nextBoolean();
        u = uffd(BASE_FEATURES | (async ? UffdFeatures.WP_ASYNC_MAINLINE : 0));
        u2 = uffd(BASE_FEATURES);
        fresh = mm.userfaultfd();
        int n = 4 + rnd.nextInt(4);
        for (int i = 0; i < n; i++) {
            maps.add(map(Kind.values()[rnd.nextInt(Kind.values().length)]));
        }
        // some mappings stay untouched: no page table, no anon_vma, nothing to hide a stray allocation
        List<Mapping> touched = maps.stream().filter(m -> rnd.nextInt(4) != 0).toList();
        for (int k = 0; k < 40 && !touched.isEmpty(); k++) {
            Mapping m = touched.get(rnd.nextInt(touched.size()));
            long addr = m.addr + rnd.nextInt((int) m.pages) * P + 8L * rnd.nextInt(512);
            if (m.kind == Kind.RO || rnd.nextInt(3) == 0) {
                mm.readLong(addr);
            } else {
                mm.writeLong(addr, rnd.nextLong());
            }
        }
        if (rnd.nextBoolean()) {
            MmStruct child = mm.fork();
            for (int k = 0; k < 6; k++) {
                Mapping m = pick();
                if (m.kind != Kind.RO) {
                    child.writeLong(m.addr + rnd.nextInt((int) m.pages) * P, rnd.nextLong());
                }
            }
        }
        Mapping z = pick();
        if (z.kind != Kind.HUGETLB) {
            mm.madvise(z.addr + P * rnd.nextInt((int) z.pages), P, Mmap.Advice.DONTNEED);
        }
        Mapping pr = pick();
        if (pr.kind != Kind.HUGETLB && pr.pages > 2) {
            mm.mprotect(pr.addr + P, P, Mmap.PROT_READ); // splits the vma in three
        }
        for (Mapping m : maps) {
            if (rnd.nextInt(5) < 3) {
                register(m);
            }
        }
        for (int k = 0; k < 10; k++) {
            uffdOp(pick());
        }
    }

    private Mapping map(Kind kind) {
        return switch (kind) {
            case ANON -> mapping(kind, anon(4 + rnd.nextInt(12)));
            case THP -> mapping(kind, thp(512));
            case SHMEM_SHARED -> mapping(kind, mapShared(shmemFile(4 + rnd.nextInt(8))));
            case SHMEM_PRIVATE -> mapping(kind, mapPrivate(shmemFile(4 + rnd.nextInt(8))));
            case HUGETLB -> mapping(kind, mapShared(hugetlbFile(512L * (1 + rnd.nextInt(2)))));
            case RO -> mapping(kind, mm.mmap((2 + rnd.nextInt(4)) * P, Mmap.PROT_READ, false, null, 0, 0));
        };
    }

    private Mapping mapping(Kind kind, long addr) {
        return new Mapping(kind, addr, (mm.vmas().lookup(addr).end - addr) / P);
    }

    private Mapping pick() {
        return maps.get(rnd.nextInt(maps.size()));
    }

    private void register(Mapping m) {
        int mode = switch (m.kind) {
            case SHMEM_SHARED, SHMEM_PRIVATE, HUGETLB -> 1 + rnd.nextInt(7);
            default -> 1 + rnd.nextInt(3);
        };
        UserfaultfdCtx ctx = rnd.nextInt(4) == 0 ? u2 : u;
        ctx.register(m.addr, m.pages * P, mode);
    }

    /** A valid uffd operation that may still fail (EEXIST, ENOENT...), to vary the state. */
    private void uffdOp(Mapping m) {
        Vma v = mm.vmas().lookup(m.addr);
        boolean huge = m.kind == Kind.HUGETLB;
        long unit = huge ? HP : P;
        long units = m.pages * P / unit;
        long dst = m.addr + rnd.nextInt((int) units) * unit;
        long len = unit * (1 + rnd.nextInt((int) Math.min(3, units - (dst - m.addr) / unit)));
        try {
            switch (rnd.nextInt(3)) {
                case 0 -> u.copy(dst, len, v.uffdWp() && rnd.nextBoolean() ? 2 : 0, PageSource.ofValue(rnd.nextLong()));
                case 1 -> u.zeropage(dst, len, 0);
                default -> u.writeprotect(dst, len, rnd.nextBoolean() ? WRITEPROTECT_MODE_WP : 0);
            }
        } catch (KernelException e) {
            // EEXIST, ENOENT, EINVAL and short copies are part of a random history
        }
    }

    // ---- invalid calls with a known errno ---------------------------------------------

    private Call invalidCall() {
        Vma v = randomVma();
        long hole = holeAfter(v);
        long bad = badRangeStart(v);
        long badLen = badLen();
        switch (rnd.nextInt(16)) {
            case 0: {
                int op = rnd.nextInt(6);
                return new Call("range ioctl " + op + " bad range " + hex(bad) + "+" + hex(badLen), Errno.EINVAL,
                        () -> rangeIoctl(op, bad, badLen));
            }
            case 1:
                return new Call("REGISTER bad mode", Errno.EINVAL,
                        () -> u.register(v.start, P, rnd.nextBoolean() ? 0 : 8 << rnd.nextInt(20)));
            case 2:
                return new Call("COPY bad mode", Errno.EINVAL, () -> u.copy(v.start, P, 4 << rnd.nextInt(20), PageSource.ZERO));
            case 3:
                return new Call("WRITEPROTECT bad mode", Errno.EINVAL, () -> u.writeprotect(v.start, P, 4 << rnd.nextInt(20)));
            case 4: {
                int op = rnd.nextInt(3);
                return new Call("REGISTER/UNREGISTER/mprotect hole " + op, op == 2 ? Errno.ENOMEM : Errno.EINVAL,
                        () -> holeOp(op, hole));
            }
            case 5: {
                int op = rnd.nextInt(4);
                return new Call("fill/WP hole " + op, Errno.ENOENT, () -> fillOrWp(op, hole), true);
            }
            case 6: {
                Vma w = vmaWhere(x -> x.uffdCtx == null);
                if (w == null) {
                    return invalidCall();
                }
                int op = rnd.nextInt(4);
                return new Call("fill/WP unregistered " + op, Errno.ENOENT, () -> fillOrWp(op, w.start), true);
            }
            case 7: {
                long present = presentRegisteredPage();
                if (present < 0) {
                    return invalidCall();
                }
                Vma w = mm.vmas().lookup(present);
                boolean zeroOnHuge = w.isHugetlb() && rnd.nextBoolean();
                return new Call(zeroOnHuge ? "ZEROPAGE on hugetlb" : "COPY onto a present page",
                        zeroOnHuge ? Errno.EINVAL : Errno.EEXIST,
                        () -> {
                            if (zeroOnHuge) {
                                u.zeropage(present, HP, 0);
                            } else {
                                u.copy(present, w.isHugetlb() ? HP : P, 0, PageSource.ZERO);
                            }
                        }, true);
            }
            case 8:
                return new Call("API again / unknown feature", Errno.EINVAL,
                        () -> (rnd.nextBoolean() ? u : fresh).api(1L << (17 + rnd.nextInt(46))));
            case 9:
                return scanCall(v);
            case 10: {
                Vma w = vmaWhere(x -> x.isAnonymous() && x.uffdCtx != null);
                if (w == null) {
                    return invalidCall();
                }
                return new Call("CONTINUE/MINOR on anon", Errno.EINVAL, () -> {
                    if (rnd.nextBoolean()) {
                        u.cont(w.start, P, 0);
                    } else {
                        u.register(w.start, P, REGISTER_MODE_MINOR);
                    }
                }, true);
            }
            case 11:
                if (rnd.nextBoolean()) {
                    return acrossOtherUffd();
                }
                return new Call("mmap fixed over a vma", Errno.EEXIST,
                        () -> mm.mmapFixedNoreplace(v.start, P, RW, false, null, 0, 0));
            case 12:
                return new Call("munmap bad range", Errno.EINVAL, () -> mm.munmap(bad, badLen));
            case 13:
                return new Call("mprotect bad prot", Errno.EINVAL, () -> mm.mprotect(v.start, P, 0x10 << rnd.nextInt(20)));
            case 14:
                return new Call("madvise unaligned", Errno.EINVAL,
                        () -> mm.madvise(v.start + 1 + rnd.nextInt(4095), P, Mmap.Advice.DONTNEED));
            default: {
                Vma w = vmaWhere(x -> x.isHugetlb());
                if (w == null) {
                    return invalidCall();
                }
                long mid = w.start + P * (1 + rnd.nextInt(511));
                int op = rnd.nextInt(w.uffdCtx == null ? 3 : 4);
                return new Call("hugetlb unaligned " + op, Errno.EINVAL, () -> {
                    switch (op) {
                        case 0 -> mm.munmap(mid, P);
                        case 1 -> mm.madvise(mid, P, Mmap.Advice.DONTNEED);
                        case 2 -> u.register(mid, P, REGISTER_MODE_MISSING);
                        default -> u.copy(mid, P, 0, PageSource.ZERO);
                    }
                });
            }
        }
    }

    /**
     * (UN)REGISTER through u over several vmas, the last one owned by u2: the kernel checks
     * every vma before touching any (EBUSY / EINVAL, or an earlier vma's own errno).
     */
    private Call acrossOtherUffd() {
        Vma w = vmaWhere(x -> x.uffdCtx == u2);
        if (w == null) {
            return invalidCall();
        }
        List<Vma> all = mm.vmas().all();
        long start = all.get(rnd.nextInt(all.indexOf(w) + 1)).start;
        boolean reg = rnd.nextBoolean();
        return new Call((reg ? "REGISTER" : "UNREGISTER") + " up to a vma of another uffd", null, () -> {
            if (reg) {
                u.register(start, w.end - start, REGISTER_MODE_MISSING);
            } else {
                u.unregister(start, w.end - start);
            }
        });
    }

    private void rangeIoctl(int op, long start, long len) {
        switch (op) {
            case 0 -> u.register(start, len, REGISTER_MODE_MISSING);
            case 1 -> u.unregister(start, len);
            case 2 -> u.copy(start, len, 0, PageSource.ZERO);
            case 3 -> u.zeropage(start, len, 0);
            case 4 -> u.writeprotect(start, len, WRITEPROTECT_MODE_WP);
            default -> u.wakeIoctl(start, len);
        }
    }

    private void holeOp(int op, long hole) {
        switch (op) {
            case 0 -> u.register(hole, P, REGISTER_MODE_MISSING);
            case 1 -> u.unregister(hole, P);
            default -> mm.mprotect(hole, P, Mmap.PROT_READ);
        }
    }

    private void fillOrWp(int op, long addr) {
        switch (op) {
            case 0 -> u.copy(addr, P, 0, PageSource.ZERO);
            case 1 -> u.zeropage(addr, P, 0);
            case 2 -> u.poison(addr, P, 0);
            default -> u.writeprotect(addr, P, WRITEPROTECT_MODE_WP);
        }
    }

    private Call scanCall(Vma v) {
        long all = PagemapScan.PM_SCAN_CATEGORIES;
        int k = rnd.nextInt(5);
        PagemapScan.Arg a = switch (k) {
            case 0 -> new PagemapScan.Arg(96 + (rnd.nextBoolean() ? 1 : -1) * (1 + rnd.nextInt(96)), 0, v.start, v.end,
                    false, 8, 0, 0, 0, 0, all);
            case 1 -> new PagemapScan.Arg(96, 4L << rnd.nextInt(60), v.start, v.end, false, 8, 0, 0, 0, 0, all);
            case 2 -> new PagemapScan.Arg(96, 0, v.start, v.end, false, 8, 0, 0, 1L << (9 + rnd.nextInt(54)), 0, all);
            case 3 -> new PagemapScan.Arg(96, 0, v.start + 8 * (1 + rnd.nextInt(511)), v.end, false, 8, 0, 0, 0, 0, all);
            default -> new PagemapScan.Arg(96, 0, v.start, v.end, true, 1 + rnd.nextInt(100), 0, 0, 0, 0, all);
        };
        return new Call("PAGEMAP_SCAN bad arg " + k, Errno.EINVAL, () -> PagemapScan.scan(mm, a));
    }

    private Vma randomVma() {
        List<Vma> all = mm.vmas().all();
        return all.get(rnd.nextInt(all.size()));
    }

    private Vma vmaWhere(java.util.function.Predicate<Vma> p) {
        List<Vma> all = mm.vmas().all().stream().filter(p).toList();
        return all.isEmpty() ? null : all.get(rnd.nextInt(all.size()));
    }

    /** An address in the guard gap the allocator leaves after every mapping. */
    private long holeAfter(Vma v) {
        long a = v.end;
        while (mm.vmas().lookup(a) != null) {
            a = mm.vmas().lookup(a).end;
        }
        return a;
    }

    /** A start validate_range() rejects whatever the length: unaligned, at/above TASK_SIZE, or a kernel address. */
    private long badRangeStart(Vma v) {
        return switch (rnd.nextInt(4)) {
            case 0 -> v.start + 1 + rnd.nextInt(4095);
            case 1 -> TASK_SIZE + P * rnd.nextInt(1 << 20);
            case 2 -> -P * (1 + rnd.nextInt(1 << 20));
            default -> (rnd.nextLong() | (1L << 62)) & ~(P - 1);
        };
    }

    private long badLen() {
        return switch (rnd.nextInt(4)) {
            case 0 -> 0;
            case 1 -> P * rnd.nextInt(16) + 1 + rnd.nextInt(4095);
            case 2 -> -P * (1 + rnd.nextInt(16));
            default -> P * (1 + rnd.nextInt(16));
        };
    }

    /** A page mapped by a present entry in a vma some uffd registered, or -1. */
    private long presentRegisteredPage() {
        for (Vma w : mm.vmas().all()) {
            if (w.uffdCtx == null) {
                continue;
            }
            long step = w.isHugetlb() ? HP : P;
            for (long a = w.start; a < w.end; a += step) {
                if (Pagemap.present(pagemap(a))) {
                    return a;
                }
            }
        }
        return -1;
    }

    // ---- random garbage -----------------------------------------------------------------

    /** Any atomic-failure call with arguments drawn from interesting and random values. */
    private Call garbageCall() {
        long a = garbageAddr();
        long len = garbageAddr() == 0 ? 0 : garbageLen();
        int mode = rnd.nextInt(3) == 0 ? rnd.nextInt() : rnd.nextInt(8);
        int op = rnd.nextInt(9);
        String name = "garbage op " + op + " (" + hex(a) + ", " + hex(len) + ", mode " + mode + ")";
        return new Call(name, null, () -> {
            switch (op) {
                case 0 -> u.register(a, len, mode);
                case 1 -> u.unregister(a, len);
                case 2 -> u.wakeIoctl(a, len);
                case 3 -> u.copy(a, len, mode, PageSource.ofValue(7));
                case 4 -> u.zeropage(a, len, mode);
                case 5 -> u.cont(a, len, mode);
                case 6 -> mm.munmap(a, len);
                // never WP_MATCHING: a WP_MATCHING|CHECK_WPASYNC scan that fails has protected earlier vmas
                case 7 -> PagemapScan.scan(mm, new PagemapScan.Arg(rnd.nextBoolean() ? 96 : rnd.nextInt(200),
                        new int[] {0, 2, 4, 6}[rnd.nextInt(4)], a, a + len, rnd.nextBoolean(), rnd.nextInt(3), rnd.nextInt(3),
                        rnd.nextLong() & 0x3ff, rnd.nextLong() & 0x3ff, rnd.nextLong() & 0x3ff, rnd.nextLong() & 0x3ff));
                default -> mm.mmapFixedNoreplace(a, len, rnd.nextInt(4), rnd.nextBoolean(), null, 0, 0);
            }
        }, op >= 3 && op <= 5);
    }

    private long garbageAddr() {
        Vma v = randomVma();
        return switch (rnd.nextInt(9)) {
            case 0 -> 0;
            case 1 -> rnd.nextLong();
            case 2 -> v.start;
            case 3 -> v.start + P * rnd.nextInt((int) ((v.end - v.start) / P));
            case 4 -> v.start + rnd.nextInt(1 << 22);
            case 5 -> holeAfter(v);
            case 6 -> TASK_SIZE - P * rnd.nextInt(4);
            case 7 -> -P * rnd.nextInt(4);
            default -> v.end - P;
        };
    }

    private long garbageLen() {
        return switch (rnd.nextInt(6)) {
            case 0 -> P;
            case 1 -> P * (1 + rnd.nextInt(1024));
            case 2 -> rnd.nextLong();
            case 3 -> -P;
            case 4 -> HP;
            default -> rnd.nextInt(1 << 16);
        };
    }

    private static String hex(long v) {
        return Long.toHexString(v);
    }
}
