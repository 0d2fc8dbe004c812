package dev.livemig.mm.pgtable;

import dev.livemig.mm.MmConstants;

/**
 * Mirrors a PMD page (arch/x86 pmd_t[512]) together with the PTE pages it points to.
 * Slot {@code i} is one of: none ({@code pmd[i] == 0 && pte[i] == null}), a PTE table
 * ({@code pte[i] != null}), a huge entry (THP or hugetlb, {@link Pte#PSE} set in
 * {@code pmd[i]}), or a non-present huge entry (a hugetlb pte marker).
 */
public final class PmdTable {
    public final long[] pmd = new long[MmConstants.PTRS_PER_TABLE];
    public final long[][] pte = new long[MmConstants.PTRS_PER_TABLE][];
    int used;

    public boolean pmdNone(int i) {
        return pmd[i] == 0 && pte[i] == null;
    }

    public boolean isTable(int i) {
        return pte[i] != null;
    }
}
