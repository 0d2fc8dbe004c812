package dev.livemig.mm;

import dev.livemig.mm.hugetlb.HugetlbPool;
import dev.livemig.mm.page.PhysMem;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.locks.ReentrantLock;

/**
 * One simulated machine: physical memory, the hugetlb pool, kernel configuration and
 * the page-table lock shared by every {@link MmStruct} created from it.
 *
 * <p>Locking is deliberately coarse: a single page-table lock (like mm->page_table_lock
 * before split PTE locks) taken by every fault, every ioctl that walks page tables and
 * every guest access that misses the "TLB". Shared-memory rmap walks cross address
 * spaces, so the lock is per kernel rather than per mm. Faults that wait for a
 * userfaultfd monitor always sleep with the lock dropped.
 */
public final class Kernel implements AutoCloseable {
    private final PhysMem pm;
    private final HugetlbPool hugetlb;
    private final KernelProfile profile;
    private final boolean softDirty;
    final ReentrantLock ptl = new ReentrantLock();
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

    /** The page-table lock (see the class comment). */
    public ReentrantLock pageTableLock() {
        return ptl;
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
