package dev.livemig.mm.page;

import dev.livemig.mm.vma.Vma;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.locks.ReentrantLock;

/**
 * Mirrors struct address_space (include/linux/fs.h) and mm/filemap.c: a file's page
 * cache, index to folio, plus the list of vmas that map the file (i_mmap) so that
 * truncation and hole punching can unmap a page from every mapping.
 *
 * <p>Slots hold {@code pfn + 1} (0 = hole) in a primitive array sized to the file. Each
 * cached folio holds one reference for the cache. For hugetlb files an index counts
 * huge pages. The page cache serialises on the instance (the xarray lock); a caller
 * that maps a cached folio takes its reference with {@link #lookupGet}, inside the same
 * critical section as the lookup, so a concurrent truncation cannot free it in between
 * (the kernel's folio_try_get() under RCU). The list of mappings has its own lock,
 * {@link #iMmapLock()} (i_mmap_rwsem), taken before any split page-table lock.
 */
public abstract class AddressSpace {
    protected final PhysMem pm;
    private final long[] slots;
    private final List<Vma> mappings = new ArrayList<>();
    private final ReentrantLock iMmapLock = new ReentrantLock();
    /** Size of one index in 4 KiB pages: 1, or 512 for 2 MiB hugetlb pages. */
    public final int pagesPerIndex;
    private final String name;
    private long cached;

    protected AddressSpace(PhysMem pm, String name, long sizePages, int pagesPerIndex) {
        this.pm = pm;
        this.name = name;
        this.pagesPerIndex = pagesPerIndex;
        this.slots = new long[(int) ((sizePages + pagesPerIndex - 1) / pagesPerIndex)];
    }

    public String name() {
        return name;
    }

    /** i_size in indexes. */
    public int sizeIndexes() {
        return slots.length;
    }

    /** i_size in 4 KiB pages. */
    public long sizePages() {
        return (long) slots.length * pagesPerIndex;
    }

    /** filemap_get_entry(): the head pfn cached at {@code index}, or -1. No reference is taken. */
    public synchronized long lookup(long index) {
        if (index < 0 || index >= slots.length) {
            return -1;
        }
        return slots[(int) index] - 1;
    }

    /**
     * filemap_get_folio(): the head pfn cached at {@code index} with a reference taken for
     * the caller, or -1.
     */
    public synchronized long lookupGet(long index) {
        long pfn = lookup(index);
        if (pfn >= 0) {
            Folio.get(pm, pfn);
        }
        return pfn;
    }

    /**
     * Adds a folio (the caller's reference becomes the cache's). False if the slot is
     * taken, which a fault racing another fault on the same index must expect.
     */
    public synchronized boolean add(long index, long headPfn) {
        if (slots[(int) index] != 0) {
            return false;
        }
        slots[(int) index] = headPfn + 1;
        Folio.set(pm, headPfn, Folio.PAGECACHE);
        cached++;
        return true;
    }

    /** Removes and returns the folio at {@code index} (the caller gets the cache's reference), or -1. */
    public synchronized long remove(long index) {
        long pfn = slots[(int) index] - 1;
        if (pfn >= 0) {
            slots[(int) index] = 0;
            Folio.clear(pm, pfn, Folio.PAGECACHE);
            cached--;
        }
        return pfn;
    }

    public synchronized long cachedFolios() {
        return cached;
    }

    /** i_mmap_rwsem (exclusive here): held across a walk of {@link #mappings()} that zaps. */
    public ReentrantLock iMmapLock() {
        return iMmapLock;
    }

    public void addMapping(Vma vma) {
        iMmapLock.lock();
        try {
            mappings.add(vma);
        } finally {
            iMmapLock.unlock();
        }
    }

    public void removeMapping(Vma vma) {
        iMmapLock.lock();
        try {
            mappings.remove(vma);
        } finally {
            iMmapLock.unlock();
        }
    }

    /** A snapshot of the vmas mapping this file (i_mmap). */
    public List<Vma> mappings() {
        iMmapLock.lock();
        try {
            return new ArrayList<>(mappings);
        } finally {
            iMmapLock.unlock();
        }
    }

    /** Drops every cached folio (the last close of the file). */
    public synchronized void evictAll() {
        for (int i = 0; i < slots.length; i++) {
            long pfn = slots[i] - 1;
            if (pfn >= 0) {
                slots[i] = 0;
                Folio.clear(pm, pfn, Folio.PAGECACHE);
                Folio.put(pm, pfn);
            }
        }
        cached = 0;
    }

    public abstract boolean isHugetlb();
}
