package dev.livemig.mm;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.Condition;
import java.util.concurrent.locks.Lock;
import java.util.concurrent.locks.LockSupport;
import java.util.concurrent.locks.ReadWriteLock;
import java.util.concurrent.locks.ReentrantLock;

/**
 * Mirrors include/linux/mmap_lock.h (mm->mmap_lock) with the reader side of
 * kernel/locking/percpu-rwsem.c: a read-write lock whose readers do not share a cache
 * line. Every page fault takes it for reading, so with one shared reader count (as in
 * {@code ReentrantReadWriteLock}, which also writes per-thread hold bookkeeping) two
 * vCPUs faulting in different PMD slots bounce that line between their cores on every
 * fault; measured, that held two faulting threads to one thread's rate.
 *
 * <p>A reader adds one to its own padded slot (chosen by thread id) and then checks that
 * no writer is active; a writer marks itself active and then waits until every slot is
 * zero. Both steps are volatile accesses, so one of the two always sees the other (the
 * Dekker pattern percpu_down_read / percpu_down_write rely on). A reader that finds a
 * writer backs out and waits for the writer's lock. Writers serialise on that lock. Reads
 * nest (a thread's further read holds are counted per thread, so a waiting writer cannot
 * block them), the write lock nests, and the write holder may also take the read lock.
 * Upgrading a read hold to a write hold deadlocks, as with any rwsem.
 */
public final class MmapLock implements ReadWriteLock {
    private static final int SLOTS = 64;
    /** Longs per slot: 128 bytes, two cache lines, so neighbouring slots never share one. */
    private static final int PAD = 16;
    private static final VarHandle CELL = MethodHandles.arrayElementVarHandle(long[].class);

    private final long[] readers = new long[SLOTS * PAD];
    private final ReentrantLock writers = new ReentrantLock();
    private volatile Thread writer;
    private int writeHolds;
    /** Per thread: [0] read holds counted in a slot, [1] read holds taken while writing. */
    private final ThreadLocal<int[]> holds = ThreadLocal.withInitial(() -> new int[2]);
    private final Lock readLock = new Side(true);
    private final Lock writeLock = new Side(false);

    @Override
    public Lock readLock() {
        return readLock;
    }

    @Override
    public Lock writeLock() {
        return writeLock;
    }

    /** Whether the current thread holds the lock for writing (mmap_assert_write_locked). */
    public boolean isWriteLockedByCurrentThread() {
        return writer == Thread.currentThread();
    }

    private static int slot() {
        return (int) (Thread.currentThread().getId() & (SLOTS - 1)) * PAD;
    }

    private void lockRead() {
        int[] h = holds.get();
        if (writer == Thread.currentThread()) {
            h[1]++;
            return;
        }
        if (h[0] > 0) {
            h[0]++;
            return;
        }
        int s = slot();
        for (;;) {
            CELL.getAndAdd(readers, s, 1L);
            if (writer == null) {
                h[0] = 1;
                return;
            }
            CELL.getAndAdd(readers, s, -1L);
            writers.lock(); // sleeps until the active writer is done
            writers.unlock();
        }
    }

    private void unlockRead() {
        int[] h = holds.get();
        if (h[1] > 0) {
            h[1]--;
            return;
        }
        if (h[0] <= 0) {
            throw new IllegalMonitorStateException("mmap_lock not read-held");
        }
        if (--h[0] == 0) {
            CELL.getAndAdd(readers, slot(), -1L);
        }
    }

    private void lockWrite() {
        Thread me = Thread.currentThread();
        if (writer == me) {
            writeHolds++;
            return;
        }
        writers.lock();
        writer = me;
        int spins = 0;
        while (!readersGone()) {
            if (++spins < 1000) {
                Thread.onSpinWait();
            } else {
                LockSupport.parkNanos(this, 20_000);
            }
        }
        writeHolds = 1;
    }

    private boolean readersGone() {
        for (int i = 0; i < SLOTS * PAD; i += PAD) {
            if ((long) CELL.getVolatile(readers, i) != 0) {
                return false;
            }
        }
        return true;
    }

    private void unlockWrite() {
        if (writer != Thread.currentThread()) {
            throw new IllegalMonitorStateException("mmap_lock not write-held");
        }
        if (--writeHolds > 0) {
            return;
        }
        writer = null;
        writers.unlock();
    }

    /** The read or the write side as a {@link Lock}; only lock() and unlock() are supported. */
    private final class Side implements Lock {
        private final boolean read;

        Side(boolean read) {
            this.read = read;
        }

        @Override
        public void lock() {
            if (read) {
                lockRead();
            } else {
                lockWrite();
            }
        }

        @Override
        public void unlock() {
            if (read) {
                unlockRead();
            } else {
                unlockWrite();
            }
        }

        @Override
        public void lockInterruptibly() {
            lock();
        }

        @Override
        public boolean tryLock() {
            throw new UnsupportedOperationException("mmap_lock: lock() only");
        }

        @Override
        public boolean tryLock(long time, TimeUnit unit) {
            throw new UnsupportedOperationException("mmap_lock: lock() only");
        }

        @Override
        public Condition newCondition() {
            throw new UnsupportedOperationException("mmap_lock has no conditions");
        }
    }
}
