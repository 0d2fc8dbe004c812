package dev.livemig.mm.vma;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * Mirrors the maple tree of vmas (lib/maple_tree.c as used by mm/vma.c): vmas ordered by
 * start address, with find, split and merge. Callers hold the mmap lock.
 */
public final class VmaTree {
    private final TreeMap<Long, Vma> byStart = new TreeMap<>();
    /**
     * The vma the last lookup found (mm/vmacache.c until 6.1): a guest faults again and
     * again in the same few vmas, and the tree's floorEntry allocates an entry each time.
     * Changed by lookups under the mmap read lock and cleared by every change of the tree
     * under the write lock, whose ordering makes a plain field enough: a reader sees null
     * or a vma found after the last change.
     */
    private Vma cached;

    public void insert(Vma vma) {
        cached = null;
        byStart.put(vma.start, vma);
    }

    public void remove(Vma vma) {
        cached = null;
        byStart.remove(vma.start, vma);
    }

    /** vma_lookup(): the vma containing {@code addr}, or null. */
    public Vma lookup(long addr) {
        Vma c = cached;
        if (c != null && c.start <= addr && addr < c.end) {
            return c;
        }
        Map.Entry<Long, Vma> e = byStart.floorEntry(addr);
        Vma v = e != null && e.getValue().end > addr ? e.getValue() : null;
        if (v != null && v != c) {
            cached = v;
        }
        return v;
    }

    /** The vmas intersecting {@code [start, end)}, in address order. */
    public List<Vma> range(long start, long end) {
        List<Vma> out = new ArrayList<>();
        Map.Entry<Long, Vma> first = byStart.floorEntry(start);
        if (first != null && first.getValue().end > start) {
            out.add(first.getValue());
        }
        for (Vma v : byStart.subMap(start, false, end, false).values()) {
            out.add(v);
        }
        if (first == null || first.getValue().end <= start) {
            Vma at = byStart.get(start);
            if (at != null && !out.contains(at)) {
                out.add(0, at);
            }
        }
        return out;
    }

    /** Whether vmas cover every address of {@code [start, end)} without a gap. */
    public boolean covers(long start, long end) {
        long addr = start;
        while (addr < end) {
            Vma v = lookup(addr);
            if (v == null) {
                return false;
            }
            addr = v.end;
        }
        return true;
    }

    public List<Vma> all() {
        return new ArrayList<>(byStart.values());
    }

    public Vma prev(Vma v) {
        Map.Entry<Long, Vma> e = byStart.lowerEntry(v.start);
        return e == null ? null : e.getValue();
    }

    public Vma next(Vma v) {
        Map.Entry<Long, Vma> e = byStart.higherEntry(v.start);
        return e == null ? null : e.getValue();
    }

    /** __split_vma(): splits {@code vma} at {@code addr}; returns the upper part. */
    public Vma split(Vma vma, long addr) {
        if (addr <= vma.start || addr >= vma.end) {
            return null;
        }
        cached = null;
        Vma upper = new Vma(vma.mm, addr, vma.end, vma.flags,
                vma.file == null ? vma.pgoff : vma.pgoffOf(addr), vma.file);
        upper.uffdCtx = vma.uffdCtx;
        upper.anonVma = vma.anonVma;
        vma.end = addr;
        byStart.put(upper.start, upper);
        if (vma.file != null) {
            vma.file.addMapping(upper);
        }
        return upper;
    }

    /**
     * Returns the vma covering exactly {@code [start, end)} out of {@code vma}, splitting
     * as needed (vma_modify()).
     */
    public Vma isolate(Vma vma, long start, long end) {
        if (start > vma.start) {
            vma = split(vma, start);
        }
        if (end < vma.end) {
            split(vma, end);
        }
        return vma;
    }

    /** Merges {@code vma} with compatible neighbours (vma_merge_existing_range()). */
    public Vma mergeAround(Vma vma) {
        cached = null;
        Vma prev = prev(vma);
        if (prev != null && prev.canMergeWith(vma)) {
            byStart.remove(vma.start);
            prev.end = vma.end;
            prev.anonVma |= vma.anonVma;
            if (vma.file != null) {
                vma.file.removeMapping(vma);
            }
            vma = prev;
        }
        Vma next = next(vma);
        if (next != null && vma.canMergeWith(next)) {
            byStart.remove(next.start);
            vma.end = next.end;
            vma.anonVma |= next.anonVma;
            if (next.file != null) {
                next.file.removeMapping(next);
            }
        }
        return vma;
    }

    public boolean isEmpty() {
        return byStart.isEmpty();
    }
}
