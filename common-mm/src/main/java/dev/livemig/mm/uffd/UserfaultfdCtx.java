package dev.livemig.mm.uffd;

import static dev.livemig.mm.MmConstants.PAGE_SIZE;
import static dev.livemig.mm.MmConstants.PMD_SIZE;
import static dev.livemig.mm.MmConstants.TASK_SIZE;

import dev.livemig.mm.Errno;
import dev.livemig.mm.KernelException;
import dev.livemig.mm.KernelProfile;
import dev.livemig.mm.MmStruct;
import dev.livemig.mm.VmFlags;
import dev.livemig.mm.fault.Mprotect;
import dev.livemig.mm.vma.Vma;
import dev.livemig.mm.vma.VmaTree;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.Condition;
import java.util.concurrent.locks.LockSupport;
import java.util.concurrent.locks.ReentrantLock;

/**
 * Mirrors struct userfaultfd_ctx and the ioctl side of fs/userfaultfd.c: UFFDIO_API,
 * REGISTER, UNREGISTER, COPY, ZEROPAGE, CONTINUE, POISON, WRITEPROTECT, WAKE, and
 * read() of the message queue. Validation follows the kernel's order, so each invalid
 * argument yields the kernel's errno and changes nothing.
 */
public final class UserfaultfdCtx {
    public static final int REGISTER_MODE_MISSING = 1;
    public static final int REGISTER_MODE_WP = 2;
    public static final int REGISTER_MODE_MINOR = 4;
    public static final int COPY_MODE_DONTWAKE = 1;
    public static final int COPY_MODE_WP = 2;
    public static final int WRITEPROTECT_MODE_WP = 1;
    public static final int WRITEPROTECT_MODE_DONTWAKE = 2;
    public static final int CONTINUE_MODE_WP = 2;

    /** ioctl numbers, as bit positions in the REGISTER ioctls mask. */
    public static final int UFFDIO_WAKE = 2;
    public static final int UFFDIO_COPY = 3;
    public static final int UFFDIO_ZEROPAGE = 4;
    public static final int UFFDIO_MOVE = 5;
    public static final int UFFDIO_WRITEPROTECT = 6;
    public static final int UFFDIO_CONTINUE = 7;
    public static final int UFFDIO_POISON = 8;

    final MmStruct mm;
    final KernelProfile profile;
    /** ctx->features: requested | INITIALIZED, 0 before UFFDIO_API. */
    volatile long features;
    private boolean wpAsync;
    private boolean wpUnpopulated;
    private volatile boolean released;
    private int mmapChanging;
    private final ReentrantLock lock = new ReentrantLock();
    /** ctx->fd_wqh: readers (monitors in read()) wait here for a message or release. */
    private final Condition changed = lock.newCondition();
    /** Bumped with every signal of {@link #changed}, so that a spinning reader sees it without the lock. */
    private volatile int changes;
    private final ArrayDeque<UffdWaiter> faultPending = new ArrayDeque<>();
    private final List<UffdWaiter> faultWaiting = new ArrayList<>();
    private final ArrayDeque<UffdWaiter> events = new ArrayDeque<>();
    private Runnable onMessage = () -> { };

    public UserfaultfdCtx(MmStruct mm) {
        this.mm = mm;
        this.profile = mm.kernel().profile();
    }

    UserfaultfdCtx dupFor(MmStruct child) {
        UserfaultfdCtx c = new UserfaultfdCtx(child);
        c.features = features;
        c.wpAsync = wpAsync;
        c.wpUnpopulated = wpUnpopulated;
        c.onMessage = onMessage;
        return c;
    }

    public MmStruct mm() {
        return mm;
    }

    public long features() {
        return features;
    }

    public boolean wpAsync() {
        return wpAsync;
    }

    public boolean wpUnpopulated() {
        return wpUnpopulated;
    }

    public boolean isReleased() {
        return released;
    }

    /**
     * The ctx's observable state in one line, like userfaultfd_show_fdinfo() plus the
     * queued messages themselves: features, whether released, mmap_changing, and the
     * pending faults, read-but-waiting faults and events in queue order.
     */
    public String describe() {
        lock.lock();
        try {
            return "features=" + Long.toHexString(features) + " async=" + wpAsync + " unpopulated=" + wpUnpopulated
                    + " released=" + released + " mmapChanging=" + mmapChanging
                    + " pending=" + faultPending.stream().map(w -> w.msg).toList()
                    + " waiting=" + faultWaiting.stream().map(w -> w.msg).toList()
                    + " events=" + events.stream().map(w -> w.msg).toList();
        } finally {
            lock.unlock();
        }
    }

    /** A hook run whenever a message is queued (monitors use it to wake their reader). */
    public void onMessage(Runnable r) {
        this.onMessage = r;
    }

    // ---- UFFDIO_API ---------------------------------------------------------------

    /** UFFDIO_API: returns the features this kernel offers. */
    public long api(long requested) {
        long f = requested;
        long asyncBit = UffdFeatures.wpAsync(profile);
        if ((f & asyncBit) != 0) {
            if (profile.wpAsyncImpliesUnpopulated()) {
                f |= UffdFeatures.WP_UNPOPULATED;
            } else if ((f & UffdFeatures.WP_UNPOPULATED) == 0) {
                throw new KernelException(Errno.EPERM);
            }
        }
        long available = UffdFeatures.available(profile);
        if ((f & ~available) != 0) {
            throw new KernelException(Errno.EINVAL);
        }
        lock.lock();
        try {
            if (features != 0) {
                throw new KernelException(Errno.EINVAL);
            }
            features = f | UffdFeatures.INITIALIZED;
            wpAsync = (f & asyncBit) != 0;
            wpUnpopulated = (f & UffdFeatures.WP_UNPOPULATED) != 0;
        } finally {
            lock.unlock();
        }
        return available;
    }

    private void checkInitialized() {
        if (features == 0) {
            throw new KernelException(Errno.EINVAL);
        }
    }

    /** validate_range(): start and len are __u64, so compare unsigned. */
    static void validateRange(long start, long len) {
        if ((start & (PAGE_SIZE - 1)) != 0 || (len & (PAGE_SIZE - 1)) != 0 || len == 0
                || Long.compareUnsigned(start, TASK_SIZE) >= 0 || Long.compareUnsigned(len, TASK_SIZE - start) > 0) {
            throw new KernelException(Errno.EINVAL);
        }
    }

    /** vma_can_userfault(). */
    boolean vmaCanUserfault(Vma vma, long vmFlags) {
        vmFlags &= VmFlags.VM_UFFD_ALL;
        if ((vmFlags & VmFlags.VM_UFFD_MINOR) != 0 && !vma.isHugetlb() && !vma.isShmem()) {
            return false;
        }
        if (wpAsync && profile.asyncWpAnyVma() && vmFlags == VmFlags.VM_UFFD_WP) {
            return true;
        }
        return vma.isAnonymous() || vma.isHugetlb() || vma.isShmem();
    }

    public long rangeIoctls(boolean basic) {
        long all = (1L << UFFDIO_WAKE) | (1L << UFFDIO_COPY) | (1L << UFFDIO_ZEROPAGE)
                | (1L << UFFDIO_WRITEPROTECT) | (1L << UFFDIO_CONTINUE);
        if (profile == KernelProfile.MAINLINE) {
            all |= (1L << UFFDIO_MOVE) | (1L << UFFDIO_POISON);
        }
        if (basic) {
            all &= ~((1L << UFFDIO_ZEROPAGE) | (1L << UFFDIO_MOVE));
        }
        return all;
    }

    // ---- UFFDIO_REGISTER / UNREGISTER ------------------------------------------------

    /** UFFDIO_REGISTER: returns the ioctls supported on the range. */
    public long register(long start, long len, int mode) {
        checkInitialized();
        if (mode == 0 || (mode & ~7) != 0) {
            throw new KernelException(Errno.EINVAL);
        }
        long vmFlags = 0;
        if ((mode & REGISTER_MODE_MISSING) != 0) vmFlags |= VmFlags.VM_UFFD_MISSING;
        if ((mode & REGISTER_MODE_WP) != 0) vmFlags |= VmFlags.VM_UFFD_WP;
        if ((mode & REGISTER_MODE_MINOR) != 0) vmFlags |= VmFlags.VM_UFFD_MINOR;
        validateRange(start, len);
        long end = start + len;
        mm.mmapLock().writeLock().lock();
        try {
            VmaTree tree = mm.vmas();
            List<Vma> vmas = vmasToRegister(tree, start, end);
            boolean basic = false;
            for (Vma cur : vmas) {
                if (!vmaCanUserfault(cur, vmFlags)) {
                    throw new KernelException(Errno.EINVAL);
                }
                if (cur.isHugetlb() && wpAsync && !profile.asyncHugetlbAllowed()) {
                    throw new KernelException(Errno.EINVAL);
                }
                if ((cur.flags & VmFlags.VM_MAYWRITE) == 0) {
                    throw new KernelException(Errno.EPERM);
                }
                if (cur.isHugetlb() && end <= cur.end && end > cur.start && (end & (PMD_SIZE - 1)) != 0) {
                    throw new KernelException(Errno.EINVAL);
                }
                if (cur.uffdCtx != null && cur.uffdCtx != this) {
                    throw new KernelException(Errno.EBUSY);
                }
                basic |= cur.isHugetlb();
            }
            for (Vma v : vmas) {
                if (v.uffdCtx == this && (v.flags & vmFlags) == vmFlags) {
                    continue;
                }
                Vma piece = tree.isolate(v, Math.max(start, v.start), Math.min(end, v.end));
                piece.flags = (piece.flags & ~VmFlags.VM_UFFD_ALL) | vmFlags;
                piece.uffdCtx = this;
                tree.mergeAround(piece);
            }
            long ioctls = rangeIoctls(basic);
            if ((mode & REGISTER_MODE_WP) == 0) {
                ioctls &= ~(1L << UFFDIO_WRITEPROTECT);
            }
            if ((mode & REGISTER_MODE_MINOR) == 0) {
                ioctls &= ~(1L << UFFDIO_CONTINUE);
            }
            return ioctls;
        } finally {
            mm.mmapLock().writeLock().unlock();
        }
    }

    /**
     * The vmas of a (un)register range: there must be one, and a hugetlb vma at the start
     * needs a huge-page-aligned start (the end is checked per vma by the callers).
     */
    private static List<Vma> vmasToRegister(VmaTree tree, long start, long end) {
        List<Vma> vmas = tree.range(start, end);
        if (vmas.isEmpty()) {
            throw new KernelException(Errno.EINVAL);
        }
        if (vmas.get(0).isHugetlb() && (start & (PMD_SIZE - 1)) != 0) {
            throw new KernelException(Errno.EINVAL);
        }
        return vmas;
    }

    /** UFFDIO_UNREGISTER. */
    public void unregister(long start, long len) {
        checkInitialized();
        validateRange(start, len);
        long end = start + len;
        mm.mmapLock().writeLock().lock();
        try {
            VmaTree tree = mm.vmas();
            List<Vma> vmas = vmasToRegister(tree, start, end);
            for (Vma cur : vmas) {
                if (cur.uffdCtx != null && cur.uffdCtx != this) {
                    throw new KernelException(Errno.EINVAL);
                }
                if (!vmaCanUserfault(cur, cur.flags)) {
                    throw new KernelException(Errno.EINVAL);
                }
                if (cur.isHugetlb() && end <= cur.end && end > cur.start && (end & (PMD_SIZE - 1)) != 0) {
                    throw new KernelException(Errno.EINVAL);
                }
            }
            for (Vma v : vmas) {
                if (v.uffdCtx == null) {
                    continue;
                }
                long s = Math.max(start, v.start);
                long e = Math.min(end, v.end);
                if (v.uffdMissing()) {
                    wake(s, e - s);
                }
                clearVma(tree, v, s, e);
            }
        } finally {
            mm.mmapLock().writeLock().unlock();
        }
    }

    /** userfaultfd_clear_vma(): drop uffd-wp state in the range, then the registration. */
    void clearVma(VmaTree tree, Vma v, long s, long e) {
        Vma piece = tree.isolate(v, s, e);
        if (piece.uffdWp()) {
            Mprotect.uffdWpRange(piece, s, e, false);
        }
        piece.flags &= ~VmFlags.VM_UFFD_ALL;
        piece.uffdCtx = null;
        tree.mergeAround(piece);
    }

    // ---- fill ioctls ------------------------------------------------------------------

    private long fillCommon(long dst, long len, int mode, int allowedModes, Mfill.Kind kind, PageSource src) {
        checkInitialized();
        if (mmapChangingNow()) {
            throw new KernelException(Errno.EAGAIN, -Errno.EAGAIN.value());
        }
        validateRange(dst, len);
        if ((mode & ~allowedModes) != 0) {
            throw new KernelException(Errno.EINVAL);
        }
        boolean wp = kind == Mfill.Kind.COPY ? (mode & COPY_MODE_WP) != 0
                : kind == Mfill.Kind.CONTINUE && (mode & CONTINUE_MODE_WP) != 0;
        long ret = Mfill.mfillAtomic(this, dst, len, kind, wp, src);
        if (ret > 0 && (mode & COPY_MODE_DONTWAKE) == 0) {
            wake(dst, ret);
        }
        if (ret < 0) {
            throw new KernelException(Errno.of((int) ret), ret);
        }
        if (ret != len) {
            throw new KernelException(Errno.EAGAIN, ret);
        }
        return ret;
    }

    /** UFFDIO_COPY: returns bytes copied; a short copy throws EAGAIN with the bytes done. */
    public long copy(long dst, long len, int mode, PageSource src) {
        return fillCommon(dst, len, mode, COPY_MODE_DONTWAKE | COPY_MODE_WP, Mfill.Kind.COPY, src);
    }

    public long zeropage(long dst, long len, int mode) {
        return fillCommon(dst, len, mode, COPY_MODE_DONTWAKE, Mfill.Kind.ZEROPAGE, PageSource.ZERO);
    }

    /** UFFDIO_CONTINUE (the kernel's "cont"). */
    public long cont(long dst, long len, int mode) {
        return fillCommon(dst, len, mode, COPY_MODE_DONTWAKE | CONTINUE_MODE_WP, Mfill.Kind.CONTINUE, null);
    }

    public long poison(long dst, long len, int mode) {
        if (!profile.hasPoisonFeature()) {
            throw new KernelException(Errno.EINVAL);
        }
        return fillCommon(dst, len, mode, COPY_MODE_DONTWAKE, Mfill.Kind.POISON, null);
    }

    // ---- UFFDIO_WRITEPROTECT / WAKE --------------------------------------------------

    public void writeprotect(long start, long len, int mode) {
        checkInitialized();
        if (mmapChangingNow()) {
            throw new KernelException(Errno.EAGAIN);
        }
        validateRange(start, len);
        if ((mode & ~(WRITEPROTECT_MODE_WP | WRITEPROTECT_MODE_DONTWAKE)) != 0) {
            throw new KernelException(Errno.EINVAL);
        }
        boolean modeWp = (mode & WRITEPROTECT_MODE_WP) != 0;
        boolean dontwake = (mode & WRITEPROTECT_MODE_DONTWAKE) != 0;
        if (modeWp && dontwake) {
            throw new KernelException(Errno.EINVAL);
        }
        if (!modeWp && wpAsync && !profile.asyncUnprotectAllowed()) {
            throw new KernelException(Errno.EINVAL);
        }
        Mfill.mwriteprotectRange(this, start, len, modeWp);
        if (!modeWp && !dontwake) {
            wake(start, len);
        }
    }

    /** UFFDIO_WAKE. */
    public void wakeIoctl(long start, long len) {
        checkInitialized();
        validateRange(start, len);
        wake(start, len);
    }

    // ---- message queue ---------------------------------------------------------------

    UffdWaiter queueFault(UffdMsg msg) {
        UffdWaiter w = new UffdWaiter(this, msg);
        lock.lock();
        try {
            faultPending.add(w);
            signalChanged();
        } finally {
            lock.unlock();
        }
        onMessage.run();
        return w;
    }

    void mmapChanging(int delta) {
        lock.lock();
        try {
            mmapChanging += delta;
        } finally {
            lock.unlock();
        }
    }

    private boolean mmapChangingNow() {
        lock.lock();
        try {
            return mmapChanging > 0;
        } finally {
            lock.unlock();
        }
    }

    /** userfaultfd_event_wait_completion(): queue an event and sleep until it is read. */
    void eventWaitCompletion(UffdMsg msg) {
        UffdWaiter w = new UffdWaiter(this, msg);
        lock.lock();
        try {
            if (!released) {
                events.add(w);
                signalChanged();
            } else {
                w.woken = true;
            }
        } finally {
            lock.unlock();
        }
        onMessage.run();
        awaitWaiter(w);
        mmapChanging(-1);
    }

    /** The poll of a faulting thread (or event sender) before it parks in {@link #awaitWaiter}. */
    private final AdaptiveSpin waiterSpin = new AdaptiveSpin();
    /** The poll of a monitor in {@link #read} before it waits on {@link #changed}. */
    private final AdaptiveSpin readerSpin = new AdaptiveSpin(AdaptiveSpin.READER_MAX_NANOS);

    /** Wakes the readers (a message was queued, or the context released). Under {@link #lock}. */
    private void signalChanged() {
        changes++;
        changed.signalAll();
    }

    /** Marks a waiter woken; its thread is unparked by {@link #unparkAll} once the lock is dropped. Under {@link #lock}. */
    private static void markWoken(UffdWaiter w, List<UffdWaiter> toWake) {
        w.woken = true;
        toWake.add(w);
    }

    private static void unparkAll(List<UffdWaiter> toWake) {
        for (UffdWaiter w : toWake) {
            LockSupport.unpark(w.thread);
        }
    }

    /**
     * The sleep of handle_userfault() / userfaultfd_event_wait_completion(): parks until
     * this waiter is woken or the context released, without holding the context's lock
     * (uninterruptibly: an interrupt is kept for the caller), after an adaptive poll
     * ({@link AdaptiveSpin}).
     */
    void awaitWaiter(UffdWaiter w) {
        long start = System.nanoTime();
        if (waiterSpin.poll(() -> w.woken || released, Long.MAX_VALUE)) {
            return;
        }
        boolean interrupted = false;
        while (!w.woken && !released) {
            LockSupport.park(w);
            if (Thread.interrupted()) {
                interrupted = true;
            }
        }
        waiterSpin.parkedWaitEnded(System.nanoTime() - start);
        if (interrupted) {
            Thread.currentThread().interrupt();
        }
    }

    /** wake_userfault(): wakes faults (pending or already read) whose address is in the range. */
    public void wake(long start, long len) {
        List<UffdWaiter> toWake = new ArrayList<>(2);
        lock.lock();
        try {
            long end = start + len;
            for (Iterator<UffdWaiter> it = faultPending.iterator(); it.hasNext(); ) {
                UffdWaiter w = it.next();
                if (len == 0 || (w.msg.address() >= start && w.msg.address() < end)) {
                    markWoken(w, toWake);
                    it.remove();
                }
            }
            for (Iterator<UffdWaiter> it = faultWaiting.iterator(); it.hasNext(); ) {
                UffdWaiter w = it.next();
                if (len == 0 || (w.msg.address() >= start && w.msg.address() < end)) {
                    markWoken(w, toWake);
                    it.remove();
                }
            }
        } finally {
            lock.unlock();
        }
        unparkAll(toWake);
    }

    /**
     * read(): the next message, pending faults first, then events. Waits up to
     * {@code timeoutNanos} (0: non-blocking, the EAGAIN case returns null).
     */
    public UffdMsg read(long timeoutNanos) {
        checkInitialized();
        lock.lock();
        try {
            long start = System.nanoTime();
            long deadline = start + timeoutNanos;
            boolean spin = true;
            boolean parked = false;
            while (true) {
                UffdWaiter w = faultPending.poll();
                if (w != null) {
                    if (parked) {
                        readerSpin.parkedWaitEnded(System.nanoTime() - start);
                    }
                    faultWaiting.add(w);
                    return w.msg;
                }
                w = events.poll();
                if (w != null) {
                    // userfaultfd_event_complete(): reading the event releases its sender
                    w.woken = true;
                    LockSupport.unpark(w.thread);
                    return w.msg;
                }
                long left = deadline - System.nanoTime();
                if (left <= 0 || released) {
                    return null;
                }
                if (spin) {
                    // poll without the lock for a message before sleeping on the condition
                    spin = false;
                    int seen = changes;
                    lock.unlock();
                    try {
                        readerSpin.poll(() -> changes != seen || released, left);
                    } finally {
                        lock.lock();
                    }
                    continue;
                }
                try {
                    parked = true;
                    changed.awaitNanos(left);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    return null;
                }
            }
        } finally {
            lock.unlock();
        }
    }

    /** Whether a read would return a message now (poll() EPOLLIN). */
    public boolean hasMessage() {
        lock.lock();
        try {
            return !faultPending.isEmpty() || !events.isEmpty();
        } finally {
            lock.unlock();
        }
    }

    public void awaitMessage(long timeout, TimeUnit unit) throws InterruptedException {
        lock.lock();
        try {
            if (faultPending.isEmpty() && events.isEmpty()) {
                changed.await(timeout, unit);
            }
        } finally {
            lock.unlock();
        }
    }

    /** close(): unregister everything, clear uffd-wp state, and wake every waiter. */
    public void close() {
        mm.mmapLock().writeLock().lock();
        try {
            VmaTree tree = mm.vmas();
            for (Vma v : tree.all()) {
                if (v.uffdCtx == this) {
                    clearVma(tree, v, v.start, v.end);
                }
            }
        } finally {
            mm.mmapLock().writeLock().unlock();
        }
        List<UffdWaiter> toWake = new ArrayList<>();
        lock.lock();
        try {
            released = true;
            faultPending.forEach(w -> markWoken(w, toWake));
            faultWaiting.forEach(w -> markWoken(w, toWake));
            events.forEach(w -> markWoken(w, toWake));
            faultPending.clear();
            faultWaiting.clear();
            events.clear();
            signalChanged();
        } finally {
            lock.unlock();
        }
        unparkAll(toWake);
    }
}
