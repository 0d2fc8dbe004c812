package dev.livemig.mm.pgtable;

/**
 * Mirrors arch/x86/include/asm/pgtable.h and pgtable_types.h: a page-table entry as a
 * packed 64-bit word, with one static helper per field. The same layout serves PTEs,
 * huge PMDs (with {@link #PSE}) and hugetlb entries.
 *
 * <pre>
 * Present entry (PRESENT or PROTNONE set):
 *   63..52  51..................12  11   10   9   8    7   6   5   4..2  1   0
 *   unused  pfn                     SD   UW   SP  PN   PS  D   A   -     W   P
 *     P  PRESENT     the hardware may access the page (cleared for PROT_NONE)
 *     W  WRITE       writes allowed without a fault
 *     A  YOUNG       accessed
 *     D  DIRTY
 *     PS PSE         huge: a PMD mapping 2 MiB (THP or hugetlb)
 *     PN PROTNONE    present but inaccessible (mprotect PROT_NONE); pte_present() still true
 *     SP SPECIAL     no struct page behind it (the shared zero page)
 *     UW UFFD_WP     userfaultfd write-protected; implies !W
 *     SD SOFT_DIRTY
 *
 * Non-present, non-none entry (a swap entry; P and PN clear, word != 0):
 *   63.................12  11..8  7         6          5..1   0
 *   offset                 0      SWP_SD    SWP_UW     type   0
 *   A pte marker is type 31 (SWP_PTE_MARKER) whose offset holds the marker bits:
 *   UFFD_WP = 1, POISONED = 2, GUARD = 4 (include/linux/swapops.h).
 *
 * The none entry is 0.
 * </pre>
 */
public final class Pte {
    public static final long PRESENT = 1L;
    public static final long WRITE = 1L << 1;
    public static final long YOUNG = 1L << 5;
    public static final long DIRTY = 1L << 6;
    public static final long PSE = 1L << 7;
    public static final long PROTNONE = 1L << 8;
    public static final long SPECIAL = 1L << 9;
    public static final long UFFD_WP = 1L << 10;
    public static final long SOFT_DIRTY = 1L << 11;
    static final int PFN_SHIFT = 12;
    static final long PFN_MASK = ((1L << 40) - 1) << PFN_SHIFT;

    static final int SWP_TYPE_SHIFT = 1;
    static final long SWP_TYPE_MASK = 0x1FL << SWP_TYPE_SHIFT;
    public static final long SWP_UFFD_WP = 1L << 6;
    public static final long SWP_SOFT_DIRTY = 1L << 7;
    static final int SWP_OFFSET_SHIFT = 12;
    public static final int SWP_PTE_MARKER = 31;

    public static final long MARKER_UFFD_WP = 1;
    public static final long MARKER_POISONED = 2;
    public static final long MARKER_GUARD = 4;

    public static final long NONE = 0;

    private Pte() {
    }

    // ---- construction ----------------------------------------------------------

    /** pfn_pte(): a present, accessible, read-only, young entry for {@code pfn}. */
    public static long pfnPte(long pfn) {
        return (pfn << PFN_SHIFT) | PRESENT | YOUNG;
    }

    public static long mkMarker(long markerBits) {
        return ((long) SWP_PTE_MARKER << SWP_TYPE_SHIFT) | (markerBits << SWP_OFFSET_SHIFT);
    }

    public static long mkSwap(int type, long offset) {
        return ((long) type << SWP_TYPE_SHIFT) | (offset << SWP_OFFSET_SHIFT);
    }

    // ---- present entries -------------------------------------------------------

    public static boolean none(long pte) {
        return pte == 0;
    }

    /** pte_present(): PRESENT or PROTNONE. */
    public static boolean present(long pte) {
        return (pte & (PRESENT | PROTNONE)) != 0;
    }

    /** The hardware may access it (a TLB hit for reads). */
    public static boolean accessible(long pte) {
        return (pte & PRESENT) != 0;
    }

    public static long pfn(long pte) {
        return (pte & PFN_MASK) >>> PFN_SHIFT;
    }

    public static boolean write(long pte) {
        return (pte & WRITE) != 0;
    }

    public static boolean dirty(long pte) {
        return (pte & DIRTY) != 0;
    }

    public static boolean young(long pte) {
        return (pte & YOUNG) != 0;
    }

    public static boolean huge(long pte) {
        return (pte & PSE) != 0;
    }

    public static boolean special(long pte) {
        return (pte & SPECIAL) != 0;
    }

    public static boolean protnone(long pte) {
        return (pte & PROTNONE) != 0;
    }

    public static boolean uffdWp(long pte) {
        return (pte & UFFD_WP) != 0;
    }

    public static boolean softDirty(long pte) {
        return (pte & SOFT_DIRTY) != 0;
    }

    public static long mkWrite(long pte) {
        return pte | WRITE;
    }

    public static long wrprotect(long pte) {
        return pte & ~WRITE;
    }

    public static long mkDirty(long pte) {
        return pte | DIRTY | SOFT_DIRTY;
    }

    public static long mkClean(long pte) {
        return pte & ~DIRTY;
    }

    public static long mkYoung(long pte) {
        return pte | YOUNG;
    }

    public static long mkOld(long pte) {
        return pte & ~YOUNG;
    }

    public static long mkSpecial(long pte) {
        return pte | SPECIAL;
    }

    public static long mkHuge(long pte) {
        return pte | PSE;
    }

    public static long clearHuge(long pte) {
        return pte & ~PSE;
    }

    /** pte_mkuffd_wp(): on x86 setting uffd-wp also write-protects. */
    public static long mkUffdWp(long pte) {
        return (pte | UFFD_WP) & ~WRITE;
    }

    public static long clearUffdWp(long pte) {
        return pte & ~UFFD_WP;
    }

    public static long mkSoftDirty(long pte) {
        return pte | SOFT_DIRTY;
    }

    public static long clearSoftDirty(long pte) {
        return pte & ~SOFT_DIRTY;
    }

    /** PROT_NONE: keep the entry present for pagemap but inaccessible. */
    public static long mkProtnone(long pte) {
        return (pte & ~(PRESENT | WRITE)) | PROTNONE;
    }

    public static long clearProtnone(long pte) {
        return (pte & ~PROTNONE) | PRESENT;
    }

    // ---- swap entries and markers ---------------------------------------------

    /** A non-none, non-present entry: a swap entry or a pte marker. */
    public static boolean isSwap(long pte) {
        return pte != 0 && !present(pte);
    }

    public static int swpType(long pte) {
        return (int) ((pte & SWP_TYPE_MASK) >>> SWP_TYPE_SHIFT);
    }

    public static long swpOffset(long pte) {
        return pte >>> SWP_OFFSET_SHIFT;
    }

    public static boolean isMarker(long pte) {
        return isSwap(pte) && swpType(pte) == SWP_PTE_MARKER;
    }

    public static long markerBits(long pte) {
        return isMarker(pte) ? swpOffset(pte) : 0;
    }

    public static boolean isUffdWpMarker(long pte) {
        return (markerBits(pte) & MARKER_UFFD_WP) != 0;
    }

    public static boolean isPoisonMarker(long pte) {
        return (markerBits(pte) & MARKER_POISONED) != 0;
    }

    public static boolean isGuardMarker(long pte) {
        return (markerBits(pte) & MARKER_GUARD) != 0;
    }

    /** pte_none_mostly(): none, or any pte marker (which mfill may overwrite). */
    public static boolean noneMostly(long pte) {
        return pte == 0 || isMarker(pte);
    }

    public static boolean swpUffdWp(long pte) {
        return (pte & SWP_UFFD_WP) != 0;
    }

    public static boolean swpSoftDirty(long pte) {
        return (pte & SWP_SOFT_DIRTY) != 0;
    }

    /** pte_swp_uffd_wp_any(): a swap entry with the bit, or a uffd-wp marker. */
    public static boolean swpUffdWpAny(long pte) {
        return isSwap(pte) && (swpUffdWp(pte) || isUffdWpMarker(pte));
    }

    /** Any kind of uffd-wp protection on an entry: present bit, swap bit or marker. */
    public static boolean anyUffdWp(long pte) {
        return present(pte) ? uffdWp(pte) : swpUffdWpAny(pte);
    }

    public static String toString(long pte) {
        if (pte == 0) {
            return "none";
        }
        if (isMarker(pte)) {
            return "marker(" + markerBits(pte) + ")";
        }
        if (isSwap(pte)) {
            return "swap(type=" + swpType(pte) + ",off=" + swpOffset(pte) + (swpUffdWp(pte) ? ",uw" : "") + ")";
        }
        return "pte(pfn=" + pfn(pte) + (write(pte) ? ",W" : "") + (dirty(pte) ? ",D" : "")
                + (huge(pte) ? ",PSE" : "") + (special(pte) ? ",SP" : "") + (uffdWp(pte) ? ",UW" : "")
                + (protnone(pte) ? ",PN" : "") + ")";
    }
}
