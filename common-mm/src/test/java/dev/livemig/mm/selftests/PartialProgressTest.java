package dev.livemig.mm.selftests;

import static dev.livemig.mm.MmConstants.PMD_SIZE;
import static dev.livemig.mm.uffd.UserfaultfdCtx.REGISTER_MODE_MISSING;
import static dev.livemig.mm.uffd.UserfaultfdCtx.REGISTER_MODE_WP;
import static dev.livemig.mm.uffd.UserfaultfdCtx.WRITEPROTECT_MODE_WP;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import dev.livemig.mm.Errno;
import dev.livemig.mm.KernelException;
import dev.livemig.mm.VmFlags;
import dev.livemig.mm.debug.MmSnapshot;
import dev.livemig.mm.proc.Pagemap;
import dev.livemig.mm.uffd.PageSource;
import dev.livemig.mm.uffd.UffdFeatures;
import dev.livemig.mm.uffd.UserfaultfdCtx;
import dev.livemig.mm.vma.Mmap;
import java.util.List;
import java.util.Random;
import java.util.stream.IntStream;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * The calls the kernel lets fail after making progress, which {@link
 * FailedCallLeavesStateTest} therefore excludes from "identical": each must have changed
 * exactly what it reports and nothing else (compared as {@link MmSnapshot} diffs). A
 * UFFDIO_COPY returning -EAGAIN with a short count mapped exactly those bytes
 * (mfill_atomic stops at the first error); an mprotect meeting a hole changed the vmas
 * before it and returns ENOMEM (do_mprotect_pkey); a madvise over a hole advised every
 * vma around it, then ENOMEM (madvise_walk_vmas); a WRITEPROTECT reaching a vma without
 * VM_UFFD_WP protected the vmas before it (mwriteprotect_range); MADV_POPULATE_WRITE
 * populated everything up to the hole. Each runs next to a seeded random background of
 * written anon mappings, which must stay untouched.
 */
class PartialProgressTest extends MmTestBase {
    private static final long HP = PMD_SIZE;
    private Random rnd;
    private UserfaultfdCtx u;

    static IntStream seeds() {
        return IntStream.range(0, 8);
    }

    /** A uffd and a few written anon mappings the call under test must not touch. */
    private void background(int seed) {
        rnd = new Random(0x9a27_1a10L + seed);
        u = uffd(UffdFeatures.PAGEFAULT_FLAG_WP);
        for (int i = rnd.nextInt(4); i > 0; i--) {
            long a = anon(1 + rnd.nextInt(8));
            mm.writeLong(a, rnd.nextLong());
        }
    }

    private MmSnapshot snap() {
        return MmSnapshot.take(mm, u);
    }

    /** UFFDIO_COPY over a present page: -EAGAIN, copy = the bytes before it, which are now mapped. */
    @ParameterizedTest(name = "seed {0}")
    @MethodSource("seeds")
    void shortCopy(int seed) {
        background(seed);
        int pages = 6;
        int k = 1 + rnd.nextInt(pages - 1);
        long a = anon(pages);
        mm.writeLong(a + k * P, 42);
        u.register(a, pages * P, REGISTER_MODE_MISSING);
        MmSnapshot before = snap();
        KernelException e = assertThrowsKernel(() -> u.copy(a, pages * P, 0, PageSource.ofValue(9)));
        assertEquals(Errno.EAGAIN, e.errno());
        assertEquals(k * P, e.result(), "copy reports the pages before the present one");
        assertChangedOnly(before.diff(snap()), a, a + k * P, "short COPY");
        for (int i = 0; i < k; i++) {
            assertEquals(9, mm.readLong(a + i * P), "copied page " + i);
        }
        assertEquals(42, mm.readLong(a + k * P));
    }

    /** mprotect over vma, hole, vma: ENOMEM after the first vma was changed, the second untouched. */
    @ParameterizedTest(name = "seed {0}")
    @MethodSource("seeds")
    void mprotectStopsAtHole(int seed) {
        background(seed);
        long a = anon(4);
        long b = anon(4);
        mm.writeLong(a, 1);
        mm.writeLong(b, 2);
        MmSnapshot before = snap();
        assertErrno(Errno.ENOMEM, () -> mm.mprotect(a, b + 4 * P - a, Mmap.PROT_READ));
        assertChangedOnly(before.diff(snap()), a, a + 4 * P, "mprotect up to the hole");
        assertEquals(0, mm.vmas().lookup(a).flags & VmFlags.VM_WRITE, "vma before the hole changed");
        assertEquals(VmFlags.VM_WRITE, mm.vmas().lookup(b).flags & VmFlags.VM_WRITE, "vma after the hole untouched");
    }

    /** madvise(DONTNEED) over vma, hole, vma: both vmas advised, then ENOMEM. */
    @ParameterizedTest(name = "seed {0}")
    @MethodSource("seeds")
    void madviseSkipsHole(int seed) {
        background(seed);
        long a = anon(4);
        long b = anon(4);
        mm.writeLong(a, 1);
        mm.writeLong(b, 2);
        MmSnapshot before = snap();
        assertErrno(Errno.ENOMEM, () -> mm.madvise(a, b + 4 * P - a, Mmap.Advice.DONTNEED));
        assertChangedOnly(before.diff(snap()), a, b + 4 * P, "madvise around the hole");
        assertTrue(!Pagemap.present(pagemap(a)) && !Pagemap.present(pagemap(b)), "both vmas zapped");
    }

    /** UFFDIO_WRITEPROTECT over a WP vma, a hole, an unregistered vma: the first is protected, ENOENT. */
    @ParameterizedTest(name = "seed {0}")
    @MethodSource("seeds")
    void writeprotectStopsAtUnregistered(int seed) {
        background(seed);
        long a = anon(4);
        long b = anon(4);
        mm.writeLong(a, 1);
        mm.writeLong(b, 2);
        u.register(a, 4 * P, REGISTER_MODE_WP);
        MmSnapshot before = snap();
        assertErrno(Errno.ENOENT, () -> u.writeprotect(a, b + 4 * P - a, WRITEPROTECT_MODE_WP));
        assertChangedOnly(before.diff(snap()), a, a + 4 * P, "WRITEPROTECT up to the unregistered vma");
        assertTrue(uffdWpBit(pagemap(a)), "the registered vma was protected");
        assertTrue(!uffdWpBit(pagemap(b)), "the unregistered vma was not");
    }

    /** MADV_POPULATE_WRITE over a vma and the hole after it: the vma is populated, then ENOMEM. */
    @ParameterizedTest(name = "seed {0}")
    @MethodSource("seeds")
    void populateStopsAtHole(int seed) {
        background(seed);
        int pages = 2 + rnd.nextInt(6);
        long a = anon(pages);
        MmSnapshot before = snap();
        assertErrno(Errno.ENOMEM, () -> mm.madvise(a, (pages + 1) * P, Mmap.Advice.POPULATE_WRITE));
        assertChangedOnly(before.diff(snap()), a, a + pages * P, "populate up to the hole");
        for (int i = 0; i < pages; i++) {
            assertTrue(Pagemap.present(pagemap(a + i * P)), "page " + i + " populated");
        }
    }

    private static KernelException assertThrowsKernel(Runnable r) {
        try {
            r.run();
        } catch (KernelException e) {
            return e;
        }
        return fail("no KernelException");
    }

    /**
     * Every changed line concerns {@code [lo, hi)}: its entries, the PTE tables and vmas
     * covering it, the folios and page caches behind it, and the frame count.
     */
    private static void assertChangedOnly(List<String> diff, long lo, long hi, String what) {
        assertTrue(!diff.isEmpty(), what + ": the reported progress changed nothing");
        for (String d : diff) {
            String key = d.substring(0, d.indexOf(':'));
            String[] kv = key.split(" ");
            boolean ok = switch (kv[0]) {
                case "frames", "cache" -> true;
                case "pte", "pmd", "vma" -> inRange(Long.parseLong(kv[1], 16), lo, hi);
                case "ptetable" -> inRange(Long.parseLong(kv[1], 16), lo & ~(HP - 1), hi);
                default -> false;
            };
            assertTrue(ok, what + ": changed outside [" + hex(lo) + ", " + hex(hi) + "): " + d);
        }
    }

    private static boolean inRange(long a, long lo, long hi) {
        return a >= lo && a < hi;
    }

    private static String hex(long v) {
        return Long.toHexString(v);
    }
}
