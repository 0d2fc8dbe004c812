package dev.livemig.mm.pgtable;

import static dev.livemig.mm.MmConstants.PGDIR_SHIFT;
import static dev.livemig.mm.MmConstants.PMD_SHIFT;
import static dev.livemig.mm.MmConstants.PTRS_PER_TABLE;
import static dev.livemig.mm.MmConstants.PUD_SHIFT;

import dev.livemig.mm.page.PhysMem;
import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.locks.ReentrantLock;

/**
 * Mirrors mm/pgtable-generic.c and include/linux/pgtable.h: the four-level page table of
 * one address space. The PGD and PUD levels are arrays of references; the PMD level is a
 * {@link PmdTable}, whose PTE pages are plain {@code long[512]}. Entries are packed words
 * described in {@link Pte}.
 *
 * <p>Locking, as in the kernel: the entries of one PMD slot (the PMD word, its PTE table
 * and the PTEs in it) change only under that slot's split lock ({@link #ptlock}); the
 * upper levels are populated under {@link #pageTableLock()} (mm->page_table_lock, as
 * __pud_alloc / __pmd_alloc do) and never freed before exit_mmap, so a lookup walks them
 * without a lock. Their slots are published with release stores and read with acquire
 * loads, so a thread that sees a table also sees it fully built.
 */
public final class PageTable {
    /** A {@link PmdTable} object without its arrays: 12-byte header, two references, an int. */
    private static final int PMD_TABLE_OBJECT_BYTES = 24;
    private static final VarHandle SLOT = MethodHandles.arrayElementVarHandle(Object[].class);
    private final Object[] pgd = new Object[PTRS_PER_TABLE];
    private final ReentrantLock pageTableLock = new ReentrantLock();
    private final SplitPtlock ptlocks = new SplitPtlock();
    private final AtomicLong pteTables = new AtomicLong();
    private long pudTables;
    private long pmdTables;

    private static int pgdIndex(long addr) {
        return (int) (addr >>> PGDIR_SHIFT) & (PTRS_PER_TABLE - 1);
    }

    private static int pudIndex(long addr) {
        return (int) (addr >>> PUD_SHIFT) & (PTRS_PER_TABLE - 1);
    }

    /** pte_lockptr() / pmd_lockptr(): the split lock of the PMD slot covering {@code addr}. */
    public ReentrantLock ptlock(long addr) {
        return ptlocks.lockptr(addr);
    }

    /** mm->page_table_lock: serialises populating the upper levels. */
    public ReentrantLock pageTableLock() {
        return pageTableLock;
    }

    /** pmd_offset(): the PMD table covering {@code addr}, allocating the upper levels if asked. */
    public PmdTable pmdTable(long addr, boolean alloc) {
        Object[] pud = (Object[]) SLOT.getAcquire(pgd, pgdIndex(addr));
        PmdTable pmd = pud == null ? null : (PmdTable) SLOT.getAcquire(pud, pudIndex(addr));
        if (pmd != null || !alloc) {
            return pmd;
        }
        pageTableLock.lock();
        try {
            pud = (Object[]) SLOT.getAcquire(pgd, pgdIndex(addr));
            if (pud == null) {
                pud = new Object[PTRS_PER_TABLE];
                SLOT.setRelease(pgd, pgdIndex(addr), pud);
                pudTables++;
            }
            pmd = (PmdTable) SLOT.getAcquire(pud, pudIndex(addr));
            if (pmd == null) {
                pmd = new PmdTable();
                SLOT.setRelease(pud, pudIndex(addr), pmd);
                pmdTables++;
            }
            return pmd;
        } finally {
            pageTableLock.unlock();
        }
    }

    /** pte_offset_map(): the PTE table covering {@code addr}, or null (hole or huge). */
    public long[] pteTable(long addr) {
        PmdTable t = pmdTable(addr, false);
        return t == null ? null : t.pte[(int) (addr >>> PMD_SHIFT) & (PTRS_PER_TABLE - 1)];
    }

    /** __pte_alloc(): allocates the PTE table if the PMD slot is none. Null if huge. */
    public long[] pteAlloc(long addr) {
        PmdTable t = pmdTable(addr, true);
        int i = (int) (addr >>> PMD_SHIFT) & (PTRS_PER_TABLE - 1);
        long[] tbl = t.pte[i];
        if (tbl == null) {
            if (t.pmd[i] != 0) {
                return null;
            }
            tbl = new long[PTRS_PER_TABLE];
            t.pte[i] = tbl;
            pteTables.incrementAndGet();
        }
        return tbl;
    }

    /** Installs a PTE table in place of a huge PMD (split). */
    public void installPteTable(PmdTable t, int i, long[] tbl) {
        t.pmd[i] = 0;
        if (t.pte[i] == null) {
            pteTables.incrementAndGet();
        }
        t.pte[i] = tbl;
    }

    /** free_pte_range(): drops the PTE table of slot {@code i}. */
    public void freePteTable(PmdTable t, int i) {
        if (t.pte[i] != null) {
            t.pte[i] = null;
            pteTables.decrementAndGet();
        }
    }

    /** The leaf entry mapping {@code addr}: a PTE, or a huge PMD entry; 0 if none. */
    public long lookup(long addr) {
        PmdTable t = pmdTable(addr, false);
        if (t == null) {
            return 0;
        }
        int i = (int) (addr >>> PMD_SHIFT) & (PTRS_PER_TABLE - 1);
        long[] tbl = t.pte[i];
        if (tbl != null) {
            return tbl[(int) (addr >>> 12) & (PTRS_PER_TABLE - 1)];
        }
        return t.pmd[i];
    }

    public long pteTableCount() {
        return pteTables.get();
    }

    /** Visits one PMD table together with the address it starts at. */
    @FunctionalInterface
    public interface PmdTableVisitor {
        void visit(long base, PmdTable t);
    }

    /** Visits every allocated PMD table, lowest address first (walk_page_range over all of it). */
    public void forEachPmdTable(PmdTableVisitor v) {
        for (int g = 0; g < PTRS_PER_TABLE; g++) {
            Object[] pud = (Object[]) SLOT.getAcquire(pgd, g);
            if (pud == null) {
                continue;
            }
            for (int u = 0; u < PTRS_PER_TABLE; u++) {
                PmdTable t = (PmdTable) SLOT.getAcquire(pud, u);
                if (t != null) {
                    v.visit(((long) g << PGDIR_SHIFT) | ((long) u << PUD_SHIFT), t);
                }
            }
        }
    }

    /** free_pgd_range() over the whole address space: drops every table (exit_mmap). */
    public void freeAll() {
        pageTableLock.lock();
        try {
            for (int g = 0; g < PTRS_PER_TABLE; g++) {
                SLOT.setRelease(pgd, g, null);
            }
            pteTables.set(0);
            pmdTables = 0;
            pudTables = 0;
        } finally {
            pageTableLock.unlock();
        }
    }

    /**
     * Java heap bytes of the table arrays (the simulator's VmPTE): the PGD and PUD
     * reference arrays, each {@link PmdTable} (object, entry array, PTE-table references)
     * and each {@code long[512]} PTE table, plus the split page-table locks.
     */
    public long heapBytes() {
        long refTable = PhysMem.arrayBytes(PTRS_PER_TABLE, PhysMem.JAVA_REF);
        long entryTable = PhysMem.arrayBytes(PTRS_PER_TABLE, 8);
        long pmdTable = PMD_TABLE_OBJECT_BYTES + entryTable + refTable;
        pageTableLock.lock();
        try {
            return (1 + pudTables) * refTable + pmdTables * pmdTable + pteTables.get() * entryTable
                    + ptlocks.heapBytes();
        } finally {
            pageTableLock.unlock();
        }
    }
}
