package dev.livemig.mm.uffd;

/**
 * Mirrors struct uffd_msg (include/uapi/linux/userfaultfd.h): one message read from a
 * userfaultfd. {@code start}/{@code end} carry REMOVE/UNMAP ranges; {@code forkCtx} is
 * the new context a FORK event hands to the reader (the fd the kernel would install).
 */
public record UffdMsg(int event, long flags, long address, long start, long end,
                      UserfaultfdCtx forkCtx, long ptid) {
    public static final int EVENT_PAGEFAULT = 0x12;
    public static final int EVENT_FORK = 0x13;
    public static final int EVENT_REMAP = 0x14;
    public static final int EVENT_REMOVE = 0x15;
    public static final int EVENT_UNMAP = 0x16;

    public static final long PAGEFAULT_FLAG_WRITE = 1;
    public static final long PAGEFAULT_FLAG_WP = 2;
    public static final long PAGEFAULT_FLAG_MINOR = 4;

    public static UffdMsg pagefault(long flags, long address, long ptid) {
        return new UffdMsg(EVENT_PAGEFAULT, flags, address, 0, 0, null, ptid);
    }

    public static UffdMsg range(int event, long start, long end) {
        return new UffdMsg(event, 0, 0, start, end, null, 0);
    }

    public static UffdMsg fork(UserfaultfdCtx child) {
        return new UffdMsg(EVENT_FORK, 0, 0, 0, 0, child, 0);
    }

    public boolean isPagefault() {
        return event == EVENT_PAGEFAULT;
    }

    public boolean write() {
        return (flags & PAGEFAULT_FLAG_WRITE) != 0;
    }

    public boolean wp() {
        return (flags & PAGEFAULT_FLAG_WP) != 0;
    }

    public boolean minor() {
        return (flags & PAGEFAULT_FLAG_MINOR) != 0;
    }
}
