package dev.livemig.mm.selftests;

import static dev.livemig.mm.MmConstants.PAGE_SIZE;
import static dev.livemig.mm.MmConstants.PMD_SIZE;

/**
 * The memory types of uffd-unit-tests.c (mem_type_t): each test area and its alias
 * (a second mapping of the same file), and the unit the selftests call page_size.
 */
enum MemType {
    ANON(false, false, false),
    SHMEM(true, true, false),
    SHMEM_PRIVATE(true, false, false),
    HUGETLB(true, true, true),
    HUGETLB_PRIVATE(true, false, true);

    final boolean file;
    final boolean shared;
    final boolean hugetlb;

    MemType(boolean file, boolean shared, boolean hugetlb) {
        this.file = file;
        this.shared = shared;
        this.hugetlb = hugetlb;
    }

    /** The selftests' page_size for this type. */
    long unit() {
        return hugetlb ? PMD_SIZE : PAGE_SIZE;
    }

    /** Allocates an area of {@code units} pages of this type in {@code t.mm}. */
    Area allocate(MmTestBase t, int units) {
        long pages = units * (unit() / PAGE_SIZE);
        if (!file) {
            return new Area(t.anon(pages), 0, pages, null);
        }
        var f = hugetlb ? t.hugetlbFile(pages) : t.shmemFile(pages);
        long dst = shared ? t.mapShared(f) : t.mapPrivate(f);
        long alias = t.mapShared(f);
        return new Area(dst, alias, pages, f);
    }

    record Area(long dst, long alias, long pages, dev.livemig.mm.page.AddressSpace file) {
    }
}
