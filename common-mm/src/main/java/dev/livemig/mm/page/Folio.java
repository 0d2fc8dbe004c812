package dev.livemig.mm.page;

/**
 * Mirrors include/linux/mm.h and mm/rmap.c folio accounting: refcount, mapcount,
 * AnonExclusive and the folio flags, kept as one packed {@code long} per pfn in
 * {@link PhysMem}. A folio is named by the pfn of its head page.
 *
 * <pre>
 *   63.........52  51..48  47   46   45   44   43   42   41   40   39........20  19.........0
 *   entire_mapc    order   DRT  PGC  ZER  HTL  TAIL HEAD AEXC ANON  mapcount      refcount
 *
 *   refcount        (head) references: one per mapping entry, one for the page cache,
 *                   plus transient pins; the folio is freed when it drops to zero
 *   mapcount        (every page) number of PTEs mapping this page
 *   ANON            (head) folio_test_anon(): belongs to an anon_vma, not a file
 *   AEXC            (every page) PageAnonExclusive(): may be reused on a write fault
 *   HEAD / TAIL     large-folio structure; a tail finds its head by alignment
 *   HUGETLB         (head) a hugetlb folio; ZERO: the 4 KiB or huge zero folio
 *   PGC             (head) in a page cache (folio_mapping() != NULL)
 *   DRT             (head) folio_test_dirty()
 *   order           (head) log2 of the page count (0 or 9)
 *   entire_mapcount (head) PMD / hugetlb mappings of the whole folio
 *
 *   A free frame's word is 0, or BUDDY (bit 63) while it is on the 4 KiB free stack:
 *   PageBuddy(), a page type that shares its space with the mapcounts, as in the kernel
 * </pre>
 */
public final class Folio {
    static final long REF_MASK = (1L << 20) - 1;
    static final int MAPCOUNT_SHIFT = 20;
    static final long MAPCOUNT_ONE = 1L << MAPCOUNT_SHIFT;
    static final long MAPCOUNT_MASK = ((1L << 20) - 1) << MAPCOUNT_SHIFT;
    public static final long ANON = 1L << 40;
    public static final long ANON_EXCLUSIVE = 1L << 41;
    public static final long HEAD = 1L << 42;
    public static final long TAIL = 1L << 43;
    public static final long HUGETLB = 1L << 44;
    public static final long ZERO = 1L << 45;
    public static final long PAGECACHE = 1L << 46;
    public static final long DIRTY = 1L << 47;
    static final int ORDER_SHIFT = 48;
    static final long ORDER_MASK = 0xFL << ORDER_SHIFT;
    static final int ENTIRE_SHIFT = 52;
    static final long ENTIRE_ONE = 1L << ENTIRE_SHIFT;
    static final long ENTIRE_MASK = 0xFFFL << ENTIRE_SHIFT;
    /** A free 4 KiB frame listed on PhysMem's free stack (the whole word: nothing else is set). */
    static final long BUDDY = 1L << 63;
    static final long HEAD_ONLY_FLAGS = ANON | HUGETLB | ZERO | PAGECACHE | DIRTY;

    private Folio() {
    }

    static void init(PhysMem pm, long pfn, long flags, int order) {
        if (order == 0) {
            pm.setMeta(pfn, (flags & ~(HEAD | TAIL)) | 1L);
            return;
        }
        pm.setMeta(pfn, (flags & ~TAIL) | HEAD | ((long) order << ORDER_SHIFT) | 1L);
        long n = 1L << order;
        long tailFlags = TAIL | (flags & ANON_EXCLUSIVE);
        for (long i = 1; i < n; i++) {
            pm.setMeta(pfn + i, tailFlags);
        }
    }

    /** page_folio(): the head pfn of the folio containing {@code pfn}. */
    public static long head(PhysMem pm, long pfn) {
        return (pm.meta(pfn) & TAIL) != 0 ? pfn & ~((long) PhysMem.CHUNK_PAGES - 1) : pfn;
    }

    public static int order(PhysMem pm, long head) {
        return (int) ((pm.meta(head) & ORDER_MASK) >>> ORDER_SHIFT);
    }

    public static int nrPages(PhysMem pm, long head) {
        return 1 << order(pm, head);
    }

    public static boolean isLarge(PhysMem pm, long head) {
        return (pm.meta(head) & HEAD) != 0;
    }

    public static boolean test(PhysMem pm, long head, long flag) {
        return (pm.meta(head) & flag) != 0;
    }

    public static void set(PhysMem pm, long pfn, long flag) {
        long m;
        do {
            m = pm.meta(pfn);
            if ((m & flag) == flag) {
                return; // no atomic write when nothing changes (a reused exclusive page)
            }
        } while (!pm.casMeta(pfn, m, m | flag));
    }

    public static void clear(PhysMem pm, long pfn, long flag) {
        long m;
        do {
            m = pm.meta(pfn);
        } while (!pm.casMeta(pfn, m, m & ~flag));
    }

    public static boolean isAnon(PhysMem pm, long head) {
        return test(pm, head, ANON);
    }

    public static boolean isZero(PhysMem pm, long head) {
        return test(pm, head, ZERO);
    }

    /** PageBuddy(): a free 4 KiB frame on the free stack (its word is nothing else). */
    public static boolean isBuddy(PhysMem pm, long pfn) {
        return pm.meta(pfn) == BUDDY;
    }

    public static boolean anonExclusive(PhysMem pm, long pfn) {
        return (pm.meta(pfn) & ANON_EXCLUSIVE) != 0;
    }

    // ---- references ---------------------------------------------------------------

    public static int refcount(PhysMem pm, long head) {
        return (int) (pm.meta(head) & REF_MASK);
    }

    /** folio_get(). The zero folios are not refcounted. */
    public static void get(PhysMem pm, long head, int n) {
        if (!isZero(pm, head)) {
            pm.addMeta(head, n);
        }
    }

    public static void get(PhysMem pm, long head) {
        get(pm, head, 1);
    }

    /** folio_put(): drops references and frees the folio when none is left. */
    public static void put(PhysMem pm, long head, int n) {
        if (isZero(pm, head)) {
            return;
        }
        long m = pm.addMeta(head, -n);
        long ref = m & REF_MASK;
        if (ref == 0) {
            pm.freeFolio(head, order(pm, head));
        } else if (ref > REF_MASK - 1024) {
            throw new IllegalStateException("folio " + head + " refcount underflow");
        }
    }

    public static void put(PhysMem pm, long head) {
        put(pm, head, 1);
    }

    // ---- mappings -----------------------------------------------------------------

    /** The number of PTEs mapping this page (page->_mapcount + 1). */
    public static int pageMapcount(PhysMem pm, long pfn) {
        return (int) ((pm.meta(pfn) & MAPCOUNT_MASK) >>> MAPCOUNT_SHIFT);
    }

    public static int entireMapcount(PhysMem pm, long head) {
        return (int) ((pm.meta(head) & ENTIRE_MASK) >>> ENTIRE_SHIFT);
    }

    /** folio_precise_page_mapcount(): PTE mappings of the page plus whole-folio mappings. */
    public static int preciseMapcount(PhysMem pm, long pfn) {
        long head = head(pm, pfn);
        return pageMapcount(pm, pfn) + (head != pfn || isLarge(pm, head) ? entireMapcount(pm, head) : 0);
    }

    /** folio_mapcount(): all mappings of every page of the folio. */
    public static int folioMapcount(PhysMem pm, long head) {
        if (!isLarge(pm, head)) {
            return pageMapcount(pm, head);
        }
        int n = nrPages(pm, head);
        int sum = entireMapcount(pm, head) * n;
        for (int i = 0; i < n; i++) {
            sum += pageMapcount(pm, head + i);
        }
        return sum;
    }

    public static void addPteMapping(PhysMem pm, long pfn, int delta) {
        if (!isZero(pm, head(pm, pfn))) {
            pm.addMeta(pfn, delta * MAPCOUNT_ONE);
        }
    }

    public static void addEntireMapping(PhysMem pm, long head, int delta) {
        if (!isZero(pm, head)) {
            pm.addMeta(head, delta * ENTIRE_ONE);
        }
    }

    /** Sets or clears AnonExclusive on every page of the folio. */
    public static void setAnonExclusiveAll(PhysMem pm, long head, boolean on) {
        int n = isLarge(pm, head) ? nrPages(pm, head) : 1;
        for (int i = 0; i < n; i++) {
            if (on) {
                set(pm, head + i, ANON_EXCLUSIVE);
            } else {
                clear(pm, head + i, ANON_EXCLUSIVE);
            }
        }
    }

    public static String describe(PhysMem pm, long pfn) {
        long head = head(pm, pfn);
        return "folio(head=" + head + ",ref=" + refcount(pm, head) + ",map=" + pageMapcount(pm, pfn)
                + ",entire=" + entireMapcount(pm, head) + (isAnon(pm, head) ? ",anon" : "")
                + (anonExclusive(pm, pfn) ? ",excl" : "") + (test(pm, head, PAGECACHE) ? ",cache" : "") + ")";
    }
}
