package dev.livemig.mm.uffd;

import dev.livemig.mm.MmStruct;
import dev.livemig.mm.VmFlags;
import dev.livemig.mm.fault.VmFault;
import dev.livemig.mm.vma.Vma;
import java.util.ArrayList;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;

/**
 * Mirrors the mm-facing half of fs/userfaultfd.c: handle_userfault() for page faults, and
 * the non-cooperative event hooks that mm calls (dup_userfaultfd for fork,
 * userfaultfd_remove for madvise, userfaultfd_unmap_prep/complete for munmap).
 */
public final class Userfaultfd {
    private Userfaultfd() {
    }

    /**
     * handle_userfault(): queues a page-fault message for the vma's monitor and arranges
     * for the faulting thread to sleep (after dropping its locks) until woken. Returns
     * VM_FAULT_SIGBUS for UFFD_FEATURE_SIGBUS contexts.
     */
    public static int handleUserfault(VmFault vmf, long reason) {
        UserfaultfdCtx ctx = vmf.vma.uffdCtx;
        if (ctx == null) {
            return VmFault.SIGBUS;
        }
        if ((ctx.features & UffdFeatures.SIGBUS) != 0) {
            return VmFault.SIGBUS;
        }
        if (ctx.isReleased()) {
            return VmFault.RETRY;
        }
        long flags = vmf.write ? UffdMsg.PAGEFAULT_FLAG_WRITE : 0;
        if (reason == VmFlags.VM_UFFD_WP) {
            flags |= UffdMsg.PAGEFAULT_FLAG_WP;
        } else if (reason == VmFlags.VM_UFFD_MINOR) {
            flags |= UffdMsg.PAGEFAULT_FLAG_MINOR;
        }
        long addr = (ctx.features & UffdFeatures.EXACT_ADDRESS) != 0 ? vmf.realAddress : vmf.address;
        long ptid = (ctx.features & UffdFeatures.THREAD_ID) != 0 ? Thread.currentThread().getId() : 0;
        vmf.waiter = ctx.queueFault(UffdMsg.pagefault(flags, addr, ptid));
        return VmFault.RETRY;
    }

    // ---- fork -----------------------------------------------------------------------

    /** The per-fork list of new contexts (struct userfaultfd_fork_ctx). */
    public static final class ForkCtxs {
        final Map<UserfaultfdCtx, UserfaultfdCtx> map = new IdentityHashMap<>();
        final List<UserfaultfdCtx> order = new ArrayList<>();
    }

    /**
     * dup_userfaultfd(): called for each child vma during fork. Without EVENT_FORK the
     * child vma is unregistered before its page tables are copied.
     */
    public static void dupUserfaultfd(Vma child, MmStruct childMm, ForkCtxs fcs) {
        UserfaultfdCtx octx = child.uffdCtx;
        if (octx == null) {
            return;
        }
        if ((octx.features & UffdFeatures.EVENT_FORK) == 0) {
            child.uffdCtx = null;
            child.flags &= ~VmFlags.VM_UFFD_ALL;
            return;
        }
        UserfaultfdCtx nctx = fcs.map.get(octx);
        if (nctx == null) {
            nctx = octx.dupFor(childMm);
            fcs.map.put(octx, nctx);
            fcs.order.add(octx);
            octx.mmapChanging(1);
        }
        child.uffdCtx = nctx;
    }

    /** dup_userfaultfd_complete(): delivers one FORK event per parent context and waits. */
    public static void dupUserfaultfdComplete(ForkCtxs fcs) {
        for (UserfaultfdCtx octx : fcs.order) {
            octx.eventWaitCompletion(UffdMsg.fork(fcs.map.get(octx)));
        }
    }

    // ---- madvise / munmap -------------------------------------------------------

    /**
     * userfaultfd_remove(): reports MADV_DONTNEED/REMOVE of a registered range and waits
     * for the monitor. Returns true if no event was sent (the mmap lock was kept).
     */
    public static boolean remove(Vma vma, long start, long end) {
        UserfaultfdCtx ctx = vma.uffdCtx;
        if (ctx == null || (ctx.features & UffdFeatures.EVENT_REMOVE) == 0) {
            return true;
        }
        ctx.mmapChanging(1);
        vma.mm.mmapLock().readLock().unlock();
        try {
            ctx.eventWaitCompletion(UffdMsg.range(UffdMsg.EVENT_REMOVE, start, end));
        } finally {
            vma.mm.mmapLock().readLock().lock();
        }
        return false;
    }

    /** userfaultfd_unmap_prep(): one UNMAP event per context per requested range. */
    public static List<UserfaultfdCtx> unmapPrep(List<Vma> vmas) {
        List<UserfaultfdCtx> out = new ArrayList<>();
        for (Vma v : vmas) {
            UserfaultfdCtx ctx = v.uffdCtx;
            if (ctx != null && (ctx.features & UffdFeatures.EVENT_UNMAP) != 0 && !out.contains(ctx)) {
                ctx.mmapChanging(1);
                out.add(ctx);
            }
        }
        return out;
    }

    /** userfaultfd_unmap_complete(): delivers the UNMAP events (mmap lock already dropped). */
    public static void unmapComplete(List<UserfaultfdCtx> ctxs, long start, long end) {
        for (UserfaultfdCtx ctx : ctxs) {
            ctx.eventWaitCompletion(UffdMsg.range(UffdMsg.EVENT_UNMAP, start, end));
        }
    }
}
