package dev.livemig.mm;

/**
 * Mirrors arch/x86/include/asm/page_types.h and pgtable_64_types.h: the geometry of
 * a 4-level x86-64 address space with 4 KiB pages and 2 MiB PMD / hugetlb pages.
 */
public final class MmConstants {
    public static final int PAGE_SHIFT = 12;
    public static final long PAGE_SIZE = 1L << PAGE_SHIFT;
    public static final long PAGE_MASK = ~(PAGE_SIZE - 1);
    public static final int PMD_SHIFT = 21;
    public static final long PMD_SIZE = 1L << PMD_SHIFT;
    public static final long PMD_MASK = ~(PMD_SIZE - 1);
    public static final int PUD_SHIFT = 30;
    public static final int PGDIR_SHIFT = 39;
    public static final int PTRS_PER_TABLE = 512;
    public static final int HPAGE_PMD_ORDER = PMD_SHIFT - PAGE_SHIFT;
    public static final int HPAGE_PMD_NR = 1 << HPAGE_PMD_ORDER;
    /** 47-bit user address space, as x86-64 without LA57. */
    public static final long TASK_SIZE = (1L << 47) - PAGE_SIZE;
    /** mm/filemap.c fault_around_bytes default (64 KiB) in pages. */
    public static final int FAULT_AROUND_PAGES = 16;

    private MmConstants() {
    }

    public static long pageAlignDown(long addr) {
        return addr & PAGE_MASK;
    }

    public static boolean pageAligned(long addr) {
        return (addr & (PAGE_SIZE - 1)) == 0;
    }

    public static boolean pmdAligned(long addr) {
        return (addr & (PMD_SIZE - 1)) == 0;
    }

    public static int pteIndex(long addr) {
        return (int) (addr >>> PAGE_SHIFT) & (PTRS_PER_TABLE - 1);
    }

    public static int pmdIndex(long addr) {
        return (int) (addr >>> PMD_SHIFT) & (PTRS_PER_TABLE - 1);
    }
}
