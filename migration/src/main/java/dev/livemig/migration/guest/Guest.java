package dev.livemig.migration.guest;

import static dev.livemig.mm.MmConstants.PAGE_SIZE;

import dev.livemig.migration.EpochClock;
import dev.livemig.migration.guest.GuestLayout.RegionLayout;
import dev.livemig.migration.guest.GuestSpec.RegionKind;
import dev.livemig.migration.guest.GuestSpec.RegionSpec;
import dev.livemig.mm.Kernel;
import dev.livemig.mm.MmStruct;
import dev.livemig.mm.hugetlb.HugetlbFile;
import dev.livemig.mm.page.AddressSpace;
import dev.livemig.mm.shmem.ShmemFile;
import dev.livemig.mm.vma.Mmap;
import java.util.ArrayList;
import java.util.BitSet;
import java.util.List;
import java.util.SplittableRandom;

/**
 * A simulated guest: one {@link MmStruct} holding its memory regions, and vCPU threads
 * running a seeded workload on them. On the source it is created from a {@link GuestSpec}
 * (regions mapped and partly populated); on the target it is rebuilt from a
 * {@link GuestLayout} (regions mapped at the same addresses, empty) and gets its vCPUs
 * from the switchover's vCPU states.
 *
 * <p>Populated pages carry a stamp in word 0 (a hash of the seed and the address) that
 * no workload ever overwrites, so {@link #checkStamps} can tell whether a page was lost,
 * zeroed or mixed up on its way, and each vCPU remembers its last writes for
 * {@link #checkRecentWrites}.
 */
public final class Guest implements AutoCloseable {
    private static final int RW = Mmap.PROT_READ | Mmap.PROT_WRITE;

    private final Kernel kernel;
    private final MmStruct mm;
    private final GuestLayout layout;
    private final WriteLog writeLog;
    private final BitSet stamped;
    private final long seed;
    private final Object runLock = new Object();
    private final List<Thread> threads = new ArrayList<>();
    private Vcpu[] vcpus;
    private boolean pauseRequested = true;
    private boolean stopped;
    private int parked;

    private Guest(Kernel kernel, MmStruct mm, GuestLayout layout, long seed) {
        this.kernel = kernel;
        this.mm = mm;
        this.layout = layout;
        this.seed = seed;
        this.writeLog = new WriteLog(layout.pages(), layout.vcpuCount());
        this.stamped = new BitSet((int) (layout.sizeBytes() >>> 12));
    }

    /** {@link #release} ran. */
    private boolean released;

    /** Maps and populates a new guest in a fresh address space of {@code kernel}; vCPUs not yet started. */
    public static Guest create(Kernel kernel, GuestSpec spec) {
        MmStruct mm = kernel.newMm();
        List<RegionLayout> regions = new ArrayList<>();
        for (RegionSpec r : spec.regions()) {
            long addr = map(mm, -1, r.name(), r.kind(), r.sizeBytes());
            regions.add(new RegionLayout(r.name(), r.kind(), addr, r.sizeBytes(), r.kind().pageSizeBytes()));
        }
        GuestLayout layout = new GuestLayout(spec.sizeBytes(), regions, spec.vcpuCount());
        Guest g = new Guest(kernel, mm, layout, spec.seed());
        for (int i = 0; i < regions.size(); i++) {
            g.populate(regions.get(i), spec.regions().get(i), new SplittableRandom(spec.seed() * 1_000_003L + i));
        }
        long gfns = spec.sizeBytes() >>> 12;
        g.vcpus = new Vcpu[spec.vcpuCount()];
        for (int i = 0; i < g.vcpus.length; i++) {
            g.vcpus[i] = new Vcpu(g, i, g.vcpus.length, spec, gfns);
        }
        return g;
    }

    /** Maps {@code layout}'s regions, empty, at their addresses (the target side). */
    public static Guest incoming(Kernel kernel, GuestLayout layout) {
        MmStruct mm = kernel.newMm();
        for (RegionLayout r : layout.regions()) {
            map(mm, r.startAddress(), r.name(), r.kind(), r.sizeBytes());
        }
        return new Guest(kernel, mm, layout, 0);
    }

    private static long map(MmStruct mm, long fixed, String name, RegionKind kind, long size) {
        AddressSpace file = switch (kind) {
            case SHMEM -> new ShmemFile(mm.kernel().physMem(), name, size >>> 12);
            case HUGETLB -> new HugetlbFile(mm.kernel().physMem(), name, size >>> 12);
            default -> null;
        };
        boolean shared = file != null;
        long addr = fixed < 0 ? mm.mmap(size, RW, shared, file, 0, 0)
                : mm.mmapFixedNoreplace(fixed, size, RW, shared, file, 0, 0);
        if (kind == RegionKind.THP) {
            mm.madvise(addr, size, Mmap.Advice.HUGEPAGE);
        } else if (kind == RegionKind.ANON) {
            mm.madvise(addr, size, Mmap.Advice.NOHUGEPAGE);
        }
        return addr;
    }

    /** Touches {@code populatedFraction} of the pages: zero pages with a zero store, the rest stamped. */
    private void populate(RegionLayout r, RegionSpec spec, SplittableRandom rnd) {
        double pf = spec.effectivePopulatedFraction();
        long step = r.pageSizeBytes();
        for (long page = r.startAddress(); page < r.endAddress(); page += step) {
            if (rnd.nextDouble() >= pf) {
                continue;
            }
            if (rnd.nextDouble() < spec.zeroPageFraction()) {
                mm.writeLong(page, 0);
                continue;
            }
            for (long sub = page; sub < page + step; sub += PAGE_SIZE) {
                mm.writeLong(sub, stamp(sub));
                mm.writeLong(sub + 8 * (1 + Math.floorMod(mix64(sub), 510)), mix64(sub ^ seed));
                stamped.set(gfnOf(sub));
            }
        }
    }

    private int gfnOf(long addr) {
        long off = 0;
        for (RegionLayout r : layout.regions()) {
            if (r.contains(addr)) {
                return (int) ((off + addr - r.startAddress()) >>> 12);
            }
            off += r.sizeBytes();
        }
        throw new IllegalArgumentException("address outside the guest: " + Long.toHexString(addr));
    }

    long stamp(long addr) {
        return mix64(seed ^ addr) | 1;
    }

    static long mix64(long z) {
        z = (z ^ (z >>> 30)) * 0xBF58476D1CE4E5B9L;
        z = (z ^ (z >>> 27)) * 0x94D049BB133111EBL;
        return z ^ (z >>> 31);
    }

    // ---- vCPUs ------------------------------------------------------------------------

    /** Target side: the vCPUs the switchover carried; they run on {@link #resume()}. */
    public void loadVcpus(List<Vcpu.State> states) {
        Vcpu[] v = new Vcpu[states.size()];
        for (Vcpu.State s : states) {
            v[s.vcpuIndex()] = Vcpu.restore(this, states.size(), s);
        }
        vcpus = v;
    }

    /** Starts the vCPU threads and lets them run. */
    public void start() {
        synchronized (runLock) {
            if (!threads.isEmpty()) {
                throw new IllegalStateException("already started");
            }
            for (Vcpu v : vcpus) {
                Thread t = new Thread(v, "vcpu-" + mm.pid() + "-" + v.index);
                t.setDaemon(true);
                threads.add(t);
                t.start();
            }
        }
        resume();
    }

    /** Called by each vCPU before every access: parks while paused; false once stopped. */
    boolean awaitRunnable(Vcpu v) {
        synchronized (runLock) {
            if (!pauseRequested) {
                return !stopped;
            }
            parked++;
            runLock.notifyAll();
            try {
                while (pauseRequested && !stopped) {
                    runLock.wait();
                }
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                stopped = true;
            } finally {
                parked--;
            }
            return !stopped;
        }
    }

    /**
     * An idle vCPU's HLT: waits up to {@code millis} unless a pause or stop is already
     * requested; {@link #pause()} and {@link #stop} notify the run lock, which ends the wait
     * at once, so an idle guest still stops at an instruction boundary without polling.
     */
    void halt(long millis) {
        synchronized (runLock) {
            if (pauseRequested || stopped) {
                return;
            }
            try {
                runLock.wait(millis);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                stopped = true;
            }
        }
    }

    boolean pauseRequested() {
        synchronized (runLock) {
            return pauseRequested;
        }
    }

    /**
     * vm_stop(): stops every vCPU at an instruction boundary. Returns the pause time
     * (epoch ns) taken when the stop was requested, which is where downtime starts.
     */
    public long pause() {
        long t = EpochClock.nowNanos();
        synchronized (runLock) {
            pauseRequested = true;
            runLock.notifyAll();
            try {
                while (parked < liveThreads() && !stopped) {
                    runLock.wait(10);
                }
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
        return t;
    }

    private int liveThreads() {
        int n = 0;
        for (Thread t : threads) {
            if (t.isAlive()) {
                n++;
            }
        }
        return n;
    }

    /** Lets the vCPUs run again; each stamps its first instruction afterwards. */
    public void resume() {
        synchronized (runLock) {
            for (Vcpu v : vcpus) {
                v.firstInstructionNanos = 0;
            }
            pauseRequested = false;
            runLock.notifyAll();
        }
    }

    public boolean isRunning() {
        synchronized (runLock) {
            return !pauseRequested && !stopped && liveThreads() > 0;
        }
    }

    /** The first guest instruction after the last resume (epoch ns), waiting up to {@code timeoutMs}; 0 if none. */
    public long firstInstructionNanos(long timeoutMs) {
        long deadline = System.nanoTime() + timeoutMs * 1_000_000L;
        while (true) {
            long first = Long.MAX_VALUE;
            for (Vcpu v : vcpus) {
                long t = v.firstInstructionNanos;
                if (t != 0) {
                    first = Math.min(first, t);
                }
            }
            if (first != Long.MAX_VALUE) {
                return first;
            }
            if (System.nanoTime() > deadline) {
                return 0;
            }
            Thread.onSpinWait();
        }
    }

    /**
     * The probe client's tiny guest operation (a ping the guest answers): a load of the
     * guest's first word through its own mapping, done only while the guest runs here.
     * Returns whether the guest answered. On a post-copy target the load may wait for a
     * missing page like any guest access, which is downtime as a client sees it.
     */
    public boolean probe() {
        synchronized (runLock) {
            if (pauseRequested || stopped || threads.isEmpty()) {
                return false;
            }
        }
        mm.readLong(layout.gfnAddress(0));
        return true;
    }

    /** The vCPU states; the guest must be paused. */
    public List<Vcpu.State> saveVcpus() {
        List<Vcpu.State> out = new ArrayList<>();
        for (Vcpu v : vcpus) {
            out.add(v.save());
        }
        return out;
    }

    /** Auto-converge: take {@code percent} of every vCPU's time away. */
    public void setThrottlePercent(int percent) {
        for (Vcpu v : vcpus) {
            v.throttlePercent = Math.max(0, Math.min(99, percent));
        }
    }

    public int throttlePercent() {
        return vcpus.length == 0 ? 0 : vcpus[0].throttlePercent;
    }

    /** Dirty-limit: cap every vCPU's write rate (0 removes the cap). */
    public void setDirtyLimitPagesPerS(long pagesPerS) {
        for (Vcpu v : vcpus) {
            v.dirtyLimitPagesPerS = pagesPerS;
        }
    }

    /** The dirty limit in force on the vCPUs, pages/s (0: none). */
    public long dirtyLimitPagesPerS() {
        return vcpus.length == 0 ? 0 : vcpus[0].dirtyLimitPagesPerS;
    }

    /** Accesses done by all vCPUs (reads and writes); meaningful while paused, monotonic otherwise. */
    public long accessesDone() {
        long n = 0;
        for (Vcpu v : vcpus) {
            n += v.accessesDone();
        }
        return n;
    }

    /** The first error a vCPU died of (a SIGSEGV/SIGBUS of the simulated kernel), or null. */
    public Throwable vcpuError() {
        for (Vcpu v : vcpus) {
            if (v.error != null) {
                return v.error;
            }
        }
        return null;
    }

    // ---- integrity ---------------------------------------------------------------------

    /** Stamped pages whose stamp differs in {@code other} (this guest's memory, or a migrated copy). */
    public int checkStamps(MmStruct other) {
        int bad = 0;
        for (int gfn = stamped.nextSetBit(0); gfn >= 0; gfn = stamped.nextSetBit(gfn + 1)) {
            long addr = layout.gfnAddress(gfn);
            if (other.readLong(addr) != stamp(addr)) {
                bad++;
            }
        }
        return bad;
    }

    public int stampedPages() {
        return stamped.cardinality();
    }

    /**
     * The last writes of every vCPU that {@code other} does not hold. Call with this
     * guest paused (and the copy's vCPUs not yet past those writes).
     */
    public int checkRecentWrites(MmStruct other) {
        int bad = 0;
        for (Vcpu v : vcpus) {
            for (int i = 0; i < Vcpu.RING; i++) {
                if (v.ringAddr[i] != 0 && other.readLong(v.ringAddr[i]) != v.ringValue[i]) {
                    bad++;
                }
            }
        }
        return bad;
    }

    // ---- accessors ---------------------------------------------------------------------

    public Kernel kernel() {
        return kernel;
    }

    public MmStruct mm() {
        return mm;
    }

    public GuestLayout layout() {
        return layout;
    }

    public WriteLog writeLog() {
        return writeLog;
    }

    public int vcpuCount() {
        return layout.vcpuCount();
    }

    /** Asks the vCPU threads to stop for good, without waiting (a vCPU asleep in a fault stops once woken). */
    public void stop() {
        synchronized (runLock) {
            stopped = true;
            runLock.notifyAll();
        }
    }

    /**
     * The guest is gone for good (migrated away, or a failed incoming copy): stops the
     * vCPUs, then frees every frame it holds, as exit_mmap() and the last close of its
     * shmem and hugetlb files do. Memory reads after this see nothing.
     */
    public void release() {
        close();
        synchronized (runLock) {
            if (released) {
                return;
            }
            released = true;
        }
        java.util.Set<dev.livemig.mm.page.AddressSpace> files = new java.util.LinkedHashSet<>();
        for (dev.livemig.mm.vma.Vma v : mm.vmas().all()) {
            if (v.file != null) {
                files.add(v.file);
            }
        }
        mm.exit();
        for (dev.livemig.mm.page.AddressSpace f : files) {
            f.evictAll();
        }
    }

    /** Whether {@link #release} ran: the guest's memory is gone (its layout stays readable). */
    public boolean isReleased() {
        synchronized (runLock) {
            return released;
        }
    }

    /** Stops the vCPU threads for good and waits for them. */
    @Override
    public void close() {
        stop();
        for (Thread t : threads) {
            try {
                t.join(2000);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
    }
}
