package dev.livemig.mm.proc;

import dev.livemig.mm.pgtable.Pte;

/**
 * Mirrors make_uffd_wp_pte() of fs/proc/task_mmu.c, plus the run finders that let
 * PAGEMAP_SCAN step over a PTE table eight entries at a time instead of one: a scan of a
 * mostly clean (or mostly written) range is dominated by these two loops.
 */
final class WpPteRuns {
    private WpPteRuns() {
    }

    /** make_uffd_wp_pte(). */
    static void makeUffdWpPte(long[] tbl, int idx) {
        long pte = tbl[idx];
        if (Pte.present(pte)) {
            tbl[idx] = Pte.mkUffdWp(pte);
        } else if (pte != 0) {
            tbl[idx] = pte | Pte.SWP_UFFD_WP;
        } else {
            tbl[idx] = Pte.mkMarker(Pte.MARKER_UFFD_WP);
        }
    }

    static boolean protectedPte(long pte) {
        return (Pte.present(pte) && Pte.uffdWp(pte)) || Pte.swpUffdWpAny(pte);
    }

    /**
     * The first index in {@code [from, to)} whose entry is not uffd-wp protected, or
     * {@code to}. Only present entries can carry {@link Pte#UFFD_WP} (bits 8..11 of a swap
     * entry are zero) and on them it means protected, so a run of eight protected entries
     * is skipped with one test: the common case of a scan after few writes.
     */
    static int nextUnprotected(long[] tbl, int from, int to) {
        int i = from;
        for (; i + 8 <= to; i += 8) {
            if (!Pte.uffdWp(tbl[i] & tbl[i + 1] & tbl[i + 2] & tbl[i + 3]
                    & tbl[i + 4] & tbl[i + 5] & tbl[i + 6] & tbl[i + 7])) {
                for (int j = i; j < i + 8; j++) {
                    if (!protectedPte(tbl[j])) {
                        return j;
                    }
                }
            }
        }
        for (; i < to; i++) {
            if (!protectedPte(tbl[i])) {
                return i;
            }
        }
        return to;
    }

    /**
     * The first index in {@code [from, to)} whose entry is uffd-wp protected, or {@code to}.
     * Eight accessible entries none of which has {@link Pte#UFFD_WP} are unprotected: the
     * common case of a scan after many writes.
     */
    static int nextProtected(long[] tbl, int from, int to) {
        int i = from;
        for (; i + 8 <= to; i += 8) {
            long a0 = tbl[i], a1 = tbl[i + 1], a2 = tbl[i + 2], a3 = tbl[i + 3];
            long a4 = tbl[i + 4], a5 = tbl[i + 5], a6 = tbl[i + 6], a7 = tbl[i + 7];
            long all = a0 & a1 & a2 & a3 & a4 & a5 & a6 & a7;
            long any = a0 | a1 | a2 | a3 | a4 | a5 | a6 | a7;
            if (!Pte.accessible(all) || Pte.uffdWp(any)) {
                for (int j = i; j < i + 8; j++) {
                    if (protectedPte(tbl[j])) {
                        return j;
                    }
                }
            }
        }
        for (; i < to; i++) {
            if (protectedPte(tbl[i])) {
                return i;
            }
        }
        return i;
    }
}
