package dev.livemig.mm.shmem;

import dev.livemig.mm.page.AddressSpace;
import dev.livemig.mm.page.PhysMem;

/**
 * Mirrors mm/shmem.c: a tmpfs / memfd / shared-anonymous file whose pages live only in
 * its page cache. Every mapping of the file (MAP_SHARED or MAP_PRIVATE, through any
 * process) sees the same cached pages.
 */
public final class ShmemFile extends AddressSpace {
    public ShmemFile(PhysMem pm, String name, long sizePages) {
        super(pm, name, sizePages, 1);
    }

    @Override
    public boolean isHugetlb() {
        return false;
    }
}
