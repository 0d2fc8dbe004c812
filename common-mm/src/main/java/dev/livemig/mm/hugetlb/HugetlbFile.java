package dev.livemig.mm.hugetlb;

import dev.livemig.mm.page.AddressSpace;
import dev.livemig.mm.page.PhysMem;

/**
 * Mirrors fs/hugetlbfs/inode.c: a hugetlbfs (or hugetlb memfd) file of 2 MiB pages whose
 * page cache is indexed by huge page.
 */
public final class HugetlbFile extends AddressSpace {
    public HugetlbFile(PhysMem pm, String name, long sizePages) {
        super(pm, name, sizePages, dev.livemig.mm.MmConstants.HPAGE_PMD_NR);
    }

    @Override
    public boolean isHugetlb() {
        return true;
    }
}
