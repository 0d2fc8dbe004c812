package dev.livemig.mm.debug;

import static dev.livemig.mm.MmConstants.PAGE_SHIFT;
import static dev.livemig.mm.MmConstants.PAGE_SIZE;
import static dev.livemig.mm.MmConstants.PMD_SHIFT;
import static dev.livemig.mm.MmConstants.PTRS_PER_TABLE;

import dev.livemig.mm.MmStruct;
import dev.livemig.mm.VmFlags;
import dev.livemig.mm.fault.Memory;
import dev.livemig.mm.page.AddressSpace;
import dev.livemig.mm.page.Folio;
import dev.livemig.mm.page.PhysMem;
import dev.livemig.mm.pgtable.PmdTable;
import dev.livemig.mm.pgtable.Pte;
import dev.livemig.mm.uffd.UserfaultfdCtx;
import dev.livemig.mm.vma.Vma;
import java.util.ArrayList;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.concurrent.locks.ReentrantLock;

/**
 * Everything a process could observe about one {@link MmStruct}, frozen so that two
 * points in time can be compared. Mirrors nothing in the kernel: it is the test-side
 * answer to "did this failed syscall change anything?", the stronger sibling of
 * {@link MmVerify} (which checks consistency, not sameness).
 *
 * <p>Captured, as sorted {@code key -> value} lines: every page-table entry (PTE level,
 * huge PMDs, markers) and every PTE table that exists even if empty (PAGEMAP_SCAN tells
 * an empty table from a PMD hole); the vma list with flags, pgoff, file and owning uffd
 * ctx; for each mapped normal page its folio's refcount/mapcounts/flags and a hash of its
 * bytes; the page cache of every file the mm maps; each uffd ctx's features and queued
 * messages; and the machine's allocated-frame count (a failed call must not leak).
 * Uffd contexts are named by first appearance so two snapshots of the same mm compare.
 * Callers make sure nothing runs concurrently.
 */
public final class MmSnapshot {
    private final TreeMap<String, String> lines;

    private MmSnapshot(TreeMap<String, String> lines) {
        this.lines = lines;
    }

    /** Snapshots {@code mm} plus {@code extraCtxs} (contexts no vma names yet). */
    public static MmSnapshot take(MmStruct mm, UserfaultfdCtx... extraCtxs) {
        TreeMap<String, String> out = new TreeMap<>();
        PhysMem pm = mm.kernel().physMem();
        Map<UserfaultfdCtx, String> ctxNames = new IdentityHashMap<>();
        Map<AddressSpace, Boolean> files = new IdentityHashMap<>();
        mm.mmapLock().readLock().lock();
        try {
            for (Vma v : mm.vmas().all()) {
                String ctx = v.uffdCtx == null ? "-" : ctxNames.computeIfAbsent(v.uffdCtx, c -> "ctx" + ctxNames.size());
                if (v.file != null) {
                    files.put(v.file, true);
                }
                out.put("vma " + hex(v.start), hex(v.end) + " flags=" + Long.toHexString(v.flags)
                        + " (" + VmFlags.describe(v.flags) + ") pgoff=" + Long.toHexString(v.pgoff)
                        + " file=" + (v.file == null ? "-" : v.file.name()) + " uffd=" + ctx
                        + " anonVma=" + v.anonVma);
            }
            mm.pgtable().forEachPmdTable((base, t) -> {
                for (int i = 0; i < PTRS_PER_TABLE; i++) {
                    long addr = base + ((long) i << PMD_SHIFT);
                    ReentrantLock ptl = mm.pgtable().ptlock(addr);
                    ptl.lock();
                    try {
                        slot(out, pm, t, i, addr);
                    } finally {
                        ptl.unlock();
                    }
                }
            });
            for (AddressSpace f : files.keySet()) {
                for (long idx = 0; idx < f.sizeIndexes(); idx++) {
                    long pfn = f.lookup(idx);
                    if (pfn >= 0) {
                        out.put("cache " + f.name() + "[" + idx + "]",
                                Folio.describe(pm, pfn) + " hash=" + hash(pm, pfn, f.pagesPerIndex));
                    }
                }
            }
        } finally {
            mm.mmapLock().readLock().unlock();
        }
        for (UserfaultfdCtx c : extraCtxs) {
            ctxNames.computeIfAbsent(c, x -> "ctx" + ctxNames.size());
        }
        ctxNames.forEach((c, name) -> out.put("uffd " + name, c.describe()));
        out.put("frames", Long.toString(pm.allocatedPages()));
        return new MmSnapshot(out);
    }

    /** One PMD slot; its split lock is held. */
    private static void slot(TreeMap<String, String> out, PhysMem pm, PmdTable t, int i, long addr) {
        if (t.isTable(i)) {
            out.put("ptetable " + hex(addr), "");
            long[] tbl = t.pte[i];
            for (int j = 0; j < PTRS_PER_TABLE; j++) {
                if (tbl[j] != 0) {
                    entry(out, pm, "pte ", addr + ((long) j << PAGE_SHIFT), tbl[j]);
                }
            }
        }
        if (t.pmd[i] != 0) {
            entry(out, pm, "pmd ", addr, t.pmd[i]);
        }
    }

    private static void entry(TreeMap<String, String> out, PhysMem pm, String kind, long addr, long e) {
        String v = Pte.toString(e);
        long pfn = Pte.present(e) ? Memory.vmNormalPage(e) : -1;
        if (pfn >= 0 && !Folio.isZero(pm, Folio.head(pm, pfn))) {
            int pages = Pte.huge(e) ? 1 << (PMD_SHIFT - PAGE_SHIFT) : 1;
            v += " " + Folio.describe(pm, pfn) + " hash=" + hash(pm, pfn, pages);
        }
        out.put(kind + hex(addr), v);
    }

    /**
     * A 64-bit fingerprint of the frames' bytes (four multiply-xor lanes over the words,
     * no copy): any store a failed call made shows up, and hashing the 2 MiB folios in
     * every snapshot stays cheap.
     */
    private static String hash(PhysMem pm, long pfn, int pages) {
        final long k = 0x100000001b3L;
        long a = 1;
        long b = 2;
        long c = 3;
        long d = 4;
        for (int i = 0; i < pages; i++) {
            long base = pfn + i;
            for (int off = 0; off < PAGE_SIZE; off += 32) {
                a = (a ^ pm.getLong(base, off)) * k;
                b = (b ^ pm.getLong(base, off + 8)) * k;
                c = (c ^ pm.getLong(base, off + 16)) * k;
                d = (d ^ pm.getLong(base, off + 24)) * k;
            }
        }
        return Long.toHexString(a ^ Long.rotateLeft(b, 16) ^ Long.rotateLeft(c, 32) ^ Long.rotateLeft(d, 48));
    }

    /** Zero-padded so that keys sort by address. */
    private static String hex(long a) {
        String h = Long.toHexString(a);
        return h.length() >= 12 ? h : "000000000000".substring(h.length()) + h;
    }

    /** The lines that differ, as {@code key: before -> after}; empty if the snapshots are equal. */
    public List<String> diff(MmSnapshot after) {
        List<String> d = new ArrayList<>();
        TreeSet<String> keys = new TreeSet<>(lines.keySet());
        keys.addAll(after.lines.keySet());
        for (String k : keys) {
            String a = lines.get(k);
            String b = after.lines.get(k);
            if (!Objects.equals(a, b)) {
                d.add(k + ": " + a + " -> " + b);
            }
        }
        return d;
    }

    /** The number of captured lines (entries, vmas, cache slots, contexts). */
    public int size() {
        return lines.size();
    }

    /** The captured value of one key ("vma 0010000000000", "pte ...", ...), or null. */
    public String get(String key) {
        return lines.get(key);
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof MmSnapshot s && lines.equals(s.lines);
    }

    @Override
    public int hashCode() {
        return lines.hashCode();
    }

    @Override
    public String toString() {
        StringBuilder sb = new StringBuilder();
        lines.forEach((k, v) -> sb.append(k).append(' ').append(v).append('\n'));
        return sb.toString();
    }
}
