package dev.livemig.mm.debug;

import static dev.livemig.mm.MmConstants.PAGE_SHIFT;
import static dev.livemig.mm.MmConstants.PMD_SHIFT;
import static dev.livemig.mm.MmConstants.PTRS_PER_TABLE;

import dev.livemig.mm.Kernel;
import dev.livemig.mm.MmStruct;
import dev.livemig.mm.fault.Memory;
import dev.livemig.mm.page.AddressSpace;
import dev.livemig.mm.page.Folio;
import dev.livemig.mm.page.PhysMem;
import dev.livemig.mm.pgtable.PmdTable;
import dev.livemig.mm.pgtable.Pte;
import dev.livemig.mm.vma.Vma;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HashMap;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.locks.ReentrantLock;

/**
 * Mirrors the CONFIG_DEBUG_VM consistency checks of mm/debug.c and mm/page_table_check.c:
 * a whole-machine audit that every folio's refcount and mapcounts equal the references
 * the page tables and page caches actually hold.
 *
 * <p>The accounting rule the simulation follows (see {@code Folio}): each present PTE or
 * huge PMD owns one reference and one mapcount of what it maps (a PTE: page mapcount;
 * a huge PMD or hugetlb entry: entire mapcount), each page-cache slot owns one reference,
 * and nothing else holds one at a quiescent point. So with no fault or ioctl in flight,
 * walking every page table of every live mm plus every page cache must reproduce the
 * folio metadata exactly, and a frame nobody references must be free. Page-table-check
 * rules are audited on the way: a uffd-wp entry is never writable, a writable anon page
 * is exclusive and mapped once, and no entry lies outside a vma.
 *
 * <p>Callers must make sure nothing runs concurrently (a quiescent point). The audit
 * holds every live mm's mmap_lock for writing, so no fault or ioctl runs during it, and
 * reads each PMD slot under its split lock, so it sees each table whole.
 */
public final class MmVerify {
    private final Kernel kernel;
    private final PhysMem pm;
    private final Map<Long, Integer> refs = new HashMap<>();
    private final Map<Long, Integer> pteMaps = new HashMap<>();
    private final Map<Long, Integer> pmdMaps = new HashMap<>();
    private final Map<Long, Integer> writableAnon = new HashMap<>();
    private final List<String> problems = new ArrayList<>();

    private MmVerify(Kernel kernel) {
        this.kernel = kernel;
        this.pm = kernel.physMem();
    }

    /**
     * Audits every live mm of {@code kernel} plus the page caches of {@code files}
     * (files no live vma maps anymore must be named here, or their cached folios
     * count as leaked). Returns the problems found, empty if consistent.
     */
    public static List<String> check(Kernel kernel, Collection<? extends AddressSpace> files) {
        MmVerify v = new MmVerify(kernel);
        List<MmStruct> mms = kernel.liveMms();
        List<MmStruct> locked = new ArrayList<>();
        try {
            for (MmStruct mm : mms) {
                mm.mmapLock().writeLock().lock();
                locked.add(mm);
            }
            Map<AddressSpace, Boolean> all = new IdentityHashMap<>();
            files.forEach(f -> all.put(f, true));
            for (MmStruct mm : mms) {
                v.walkMm(mm, all);
            }
            for (AddressSpace f : all.keySet()) {
                v.walkCache(f);
            }
            v.compare();
        } finally {
            for (MmStruct mm : locked) {
                mm.mmapLock().writeLock().unlock();
            }
        }
        return v.problems;
    }

    /** {@link #check} that throws with every problem listed (VM_BUG_ON_FOLIO, minus the panic). */
    public static void verify(Kernel kernel, Collection<? extends AddressSpace> files) {
        List<String> p = check(kernel, files);
        if (!p.isEmpty()) {
            throw new IllegalStateException("mm inconsistent (" + p.size() + " problems):\n  "
                    + String.join("\n  ", p.subList(0, Math.min(p.size(), 40))));
        }
    }

    private void problem(String s) {
        problems.add(s);
    }

    private void walkMm(MmStruct mm, Map<AddressSpace, Boolean> files) {
        for (Vma v : mm.vmas().all()) {
            if (v.file != null) {
                files.put(v.file, true);
                if (!v.file.mappings().contains(v)) {
                    problem(mm + " " + v + " missing from its file's i_mmap");
                }
            }
        }
        mm.pgtable().forEachPmdTable((base, t) -> {
            for (int i = 0; i < PTRS_PER_TABLE; i++) {
                long addr = base + ((long) i << PMD_SHIFT);
                ReentrantLock ptl = mm.pgtable().ptlock(addr);
                ptl.lock();
                try {
                    walkPmdSlot(mm, t, i, addr);
                } finally {
                    ptl.unlock();
                }
            }
        });
    }

    private void walkPmdSlot(MmStruct mm, PmdTable t, int i, long addr) {
        if (t.isTable(i)) {
            if (t.pmd[i] != 0) {
                problem(mm + " pmd " + Long.toHexString(addr) + " is both a table and an entry");
            }
            walkPteTable(mm, t.pte[i], addr);
        } else if (t.pmd[i] != 0) {
            walkEntry(mm, addr, t.pmd[i], true);
        }
    }

    private void walkPteTable(MmStruct mm, long[] tbl, long base) {
        for (int j = 0; j < PTRS_PER_TABLE; j++) {
            if (tbl[j] != 0) {
                walkEntry(mm, base + ((long) j << PAGE_SHIFT), tbl[j], false);
            }
        }
    }

    private void walkEntry(MmStruct mm, long addr, long e, boolean pmdLevel) {
        Vma vma = mm.vmas().lookup(addr);
        String where = mm + " " + (pmdLevel ? "pmd " : "pte ") + Long.toHexString(addr) + " " + Pte.toString(e);
        if (vma == null) {
            problem(where + " outside any vma");
        }
        if (!Pte.present(e)) {
            return;
        }
        if (Pte.write(e) && Pte.uffdWp(e)) {
            problem(where + " writable and uffd-wp");
        }
        long pfn = Memory.vmNormalPage(e);
        if (pfn < 0) {
            return;
        }
        long head = Folio.head(pm, pfn);
        if (Folio.isZero(pm, head)) {
            if (Pte.write(e)) {
                problem(where + " maps the zero page writable");
            }
            return;
        }
        if (pmdLevel && head != pfn) {
            problem(where + " huge entry maps a tail page");
        }
        refs.merge(head, 1, Integer::sum);
        (pmdLevel ? pmdMaps : pteMaps).merge(pmdLevel ? head : pfn, 1, Integer::sum);
        if (Folio.isAnon(pm, head) && Pte.write(e)) {
            writableAnon.merge(pfn, 1, Integer::sum);
            if (!Folio.anonExclusive(pm, pfn)) {
                problem(where + " writable but not AnonExclusive " + Folio.describe(pm, pfn));
            }
        }
        if (vma != null && vma.isAnonymous() && !Folio.isAnon(pm, head)) {
            problem(where + " anonymous vma maps a non-anon folio " + Folio.describe(pm, pfn));
        }
    }

    private void walkCache(AddressSpace f) {
        for (long idx = 0; idx < f.sizeIndexes(); idx++) {
            long pfn = f.lookup(idx);
            if (pfn < 0) {
                continue;
            }
            if (!Folio.test(pm, pfn, Folio.PAGECACHE)) {
                problem(f.name() + "[" + idx + "] cached folio without PAGECACHE " + Folio.describe(pm, pfn));
            }
            if (Folio.isAnon(pm, pfn)) {
                problem(f.name() + "[" + idx + "] anon folio in a page cache");
            }
            refs.merge(pfn, 1, Integer::sum);
        }
    }

    /** Every frame of the machine against what was counted. */
    private void compare() {
        writableAnon.forEach((pfn, n) -> {
            if (n > 1) {
                problem("anon page " + pfn + " mapped writable " + n + " times");
            }
        });
        long frames = pm.reservedBytes() >>> PAGE_SHIFT;
        long referencedFrames = 0;
        for (long pfn = 0; pfn < frames; pfn++) {
            if (Folio.isBuddy(pm, pfn)) {
                continue; // free, on the 4 KiB free stack
            }
            long head = Folio.head(pm, pfn);
            if (Folio.isZero(pm, head)) {
                continue;
            }
            int maps = Folio.pageMapcount(pm, pfn);
            int wantMaps = pteMaps.getOrDefault(pfn, 0);
            if (maps != wantMaps) {
                problem("page " + pfn + " mapcount " + maps + " but " + wantMaps + " ptes map it "
                        + Folio.describe(pm, pfn));
            }
            if (head != pfn) {
                continue;
            }
            int ref = Folio.refcount(pm, head);
            int wantRef = refs.getOrDefault(head, 0);
            if (ref != wantRef) {
                problem("folio " + head + " refcount " + ref + " but " + wantRef + " references "
                        + (wantRef == 0 ? "(leaked) " : "") + Folio.describe(pm, head));
            }
            int entire = Folio.entireMapcount(pm, head);
            int wantEntire = pmdMaps.getOrDefault(head, 0);
            if (entire != wantEntire) {
                problem("folio " + head + " entire mapcount " + entire + " but " + wantEntire
                        + " huge entries map it");
            }
            if (ref > 0) {
                referencedFrames += Folio.isLarge(pm, head) ? Folio.nrPages(pm, head) : 1;
            }
        }
        if (referencedFrames != pm.allocatedPages()) {
            problem(pm.allocatedPages() + " frames allocated but " + referencedFrames + " in live folios");
        }
    }
}
