package dev.livemig.mm.page;

/**
 * Mirrors mm/rmap.c: the mapcount side of mapping and unmapping a page. Each mapping
 * entry also owns one folio reference, which the caller hands over on map and which
 * {@link #removePte} drops.
 */
public final class Rmap {
    private Rmap() {
    }

    /** folio_add_new_anon_rmap(RMAP_EXCLUSIVE) for a PTE-mapped small folio. */
    public static void addNewAnon(PhysMem pm, long pfn) {
        Folio.set(pm, pfn, Folio.ANON | Folio.ANON_EXCLUSIVE);
        Folio.addPteMapping(pm, pfn, 1);
    }

    /** folio_add_new_anon_rmap() for a PMD-mapped THP. */
    public static void addNewAnonPmd(PhysMem pm, long head) {
        Folio.set(pm, head, Folio.ANON);
        Folio.setAnonExclusiveAll(pm, head, true);
        Folio.addEntireMapping(pm, head, 1);
    }

    /** folio_add_file_rmap_pte() / folio_dup_*_rmap_pte(): one more PTE maps the page. */
    public static void addPte(PhysMem pm, long pfn) {
        Folio.addPteMapping(pm, pfn, 1);
    }

    /** folio_remove_rmap_pte() followed by the mapping's folio_put(). */
    public static void removePte(PhysMem pm, long pfn) {
        long head = Folio.head(pm, pfn);
        if (Folio.isZero(pm, head)) {
            return;
        }
        Folio.addPteMapping(pm, pfn, -1);
        Folio.put(pm, head);
    }

    /** folio_remove_rmap_pmd() followed by the mapping's folio_put(). */
    public static void removePmd(PhysMem pm, long head) {
        if (Folio.isZero(pm, head)) {
            return;
        }
        Folio.addEntireMapping(pm, head, -1);
        Folio.put(pm, head);
    }
}
