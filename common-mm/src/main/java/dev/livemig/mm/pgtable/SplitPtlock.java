package dev.livemig.mm.pgtable;

import static dev.livemig.mm.MmConstants.PMD_SHIFT;

import dev.livemig.mm.page.PhysMem;
import java.util.concurrent.locks.ReentrantLock;

/**
 * Mirrors the split page-table locks of include/linux/mm.h (USE_SPLIT_PTE_PTLOCKS,
 * ptlock_ptr(), pte_lockptr(), pmd_lockptr()): one lock per 2 MiB PMD slot of one
 * address space, guarding the slot's PMD entry, the PTE table hanging off it and every
 * PTE in that table.
 *
 * <p>The kernel keeps a spinlock in each PTE table's struct ptdesc and one per PMD page
 * (covering 1 GiB). Here one lock covers both levels of one slot, which is finer than the
 * kernel's pmd_lock and never coarser than its pte lock. The locks are striped: slot
 * {@code addr >>> PMD_SHIFT} uses lock {@code slot % STRIPES}, so two slots 1 GiB apart
 * share one. That keeps the cost fixed per mm (instead of per PTE table, which would
 * have to be created and freed with the tables) and lets a walker lock a slot before its
 * page tables exist, which closes the race between a pte_hole callback and a fault
 * allocating the table under it.
 *
 * <p>Lock order: mmap_lock, then one slot lock at a time per mm (never two slots of one
 * mm at once), then the leaf locks (a page cache's monitor, the frame allocator, a
 * userfaultfd context). A thread holding a slot lock of one mm takes a slot lock of
 * another only when that other mm cannot be reached by anyone else (fork's child).
 */
public final class SplitPtlock {
    /** Slots covered by distinct locks: one PMD table's worth, 1 GiB of address space. */
    public static final int STRIPES = 512;
    /** One lock and its Sync object (AQS state, head, tail, owner). */
    private static final int LOCK_OBJECT_BYTES = 16 + 32;

    /**
     * How long a thread that finds a slot's lock taken spins before it queues and parks.
     * The kernel's page-table locks are spinlocks because their critical sections are
     * short; here a park and unpark costs 10 to 45 µs in this VM, far longer than a store,
     * a fault or one slot of a scan, so a collision of two threads on one slot would cost
     * more than the work it protects. Long holders (clearing a THP) make waiters park.
     */
    static final long SPIN_NANOS = Long.getLong("livemig.ptl.spinNanos", 10_000);

    private final ReentrantLock[] locks = new ReentrantLock[STRIPES];

    SplitPtlock() {
        for (int i = 0; i < STRIPES; i++) {
            locks[i] = new SpinningLock();
        }
    }

    /** A ReentrantLock that spins a while for a free lock before it queues (spin_lock()). */
    static final class SpinningLock extends ReentrantLock {
        @Override
        public void lock() {
            if (tryLock()) {
                return;
            }
            long end = System.nanoTime() + SPIN_NANOS;
            while (System.nanoTime() < end) {
                Thread.onSpinWait();
                if (!isLocked() && tryLock()) {
                    return;
                }
            }
            super.lock();
        }
    }

    /** pte_lockptr() / pmd_lockptr(): the lock of the PMD slot covering {@code addr}. */
    public ReentrantLock lockptr(long addr) {
        return locks[(int) (addr >>> PMD_SHIFT) & (STRIPES - 1)];
    }

    /** Whether the current thread holds the lock of the slot covering {@code addr} (lockdep_assert_held). */
    public boolean heldByCurrentThread(long addr) {
        return lockptr(addr).isHeldByCurrentThread();
    }

    long heapBytes() {
        return PhysMem.arrayBytes(STRIPES, PhysMem.JAVA_REF) + (long) STRIPES * LOCK_OBJECT_BYTES;
    }
}
