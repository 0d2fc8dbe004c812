package dev.livemig.mm;

import dev.livemig.mm.hugetlb.HugetlbPool;
import dev.livemig.mm.page.PhysMem;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;

/**
 * One simulated machine: physical memory, the hugetlb pool and kernel configuration,
 * shared by every {@link MmStruct} created from it.
 *
 * <p>There is no machine-wide lock. Each mm has its mmap_lock ({@link MmStruct#mmapLock})
 * and split page-table locks per PMD slot ({@link dev.livemig.mm.pgtable.PageTable#ptlock});
 * what several address spaces share is safe on its own: folio metadata is updated
 * atomically, the frame allocator and the hugetlb pool are synchronised, a page cache
 * serialises on its {@link dev.livemig.mm.page.AddressSpace} and its i_mmap walks on
 * the i_mmap lock. Faults that wait for a userfaultfd monitor sleep with every lock dropped.
 */
public final class Kernel implements AutoCloseable {
    private final PhysMem pm;
    private final HugetlbPool hugetlb;
    private final KernelProfile profile;
    private final boolean softDirty;
    private int nextPid = 1;
    private final Set<MmStruct> mms = new LinkedHashSet<>();

    /** The configuration the conformance corpus was recorded with. */
    public Kernel() {
        this(new Config());
    }

    public Kernel(Config config) {
        this.pm = new PhysMem(config.memoryLimitPages);
        this.hugetlb = new HugetlbPool(pm, config.nrHugepages);
        this.profile = config.profile;
        this.softDirty = config.softDirty;
        pm.onHugetlbFree(hugetlb::released);
    }

    /** Kernel build and boot options. */
    public static final class Config {
        public KernelProfile profile = KernelProfile.MAINLINE;
        /** CONFIG_MEM_SOFT_DIRTY (off on the recording kernel). */
        public boolean softDirty;
        /** vm.nr_hugepages (64 on the recording machine). */
        public int nrHugepages = 64;
        public long memoryLimitPages = Long.MAX_VALUE;

        public Config profile(KernelProfile p) {
            this.profile = p;
            return this;
        }

        public Config softDirty(boolean on) {
            this.softDirty = on;
            return this;
        }

        public Config nrHugepages(int n) {
            this.nrHugepages = n;
            return this;
        }

        public Config memoryLimitPages(long n) {
            this.memoryLimitPages = n;
            return this;
        }
    }

    public PhysMem physMem() {
        return pm;
    }

    public HugetlbPool hugetlbPool() {
        return hugetlb;
    }

    public KernelProfile profile() {
        return profile;
    }

    public boolean softDirtyEnabled() {
        return softDirty;
    }

    /** A new, empty address space (execve of a fresh process). */
    public synchronized MmStruct newMm() {
        MmStruct mm = new MmStruct(this, nextPid++);
        mms.add(mm);
        return mm;
    }

    /** The address spaces not yet torn down by {@link MmStruct#exit()} (for_each_process). */
    public synchronized List<MmStruct> liveMms() {
        return new ArrayList<>(mms);
    }

    synchronized void mmExited(MmStruct mm) {
        mms.remove(mm);
    }

    @Override
    public void close() {
        pm.close();
    }
}
