package dev.livemig.mm;

/** Mirrors include/uapi/asm-generic/errno-base.h: the errnos the simulated syscalls return. */
public enum Errno {
    EPERM(1), ENOENT(2), ESRCH(3), EINTR(4), EIO(5), EAGAIN(11), ENOMEM(12), EACCES(13),
    EFAULT(14), EBUSY(16), EEXIST(17), EINVAL(22), ENOSPC(28), EOPNOTSUPP(95);

    private final int value;

    Errno(int value) {
        this.value = value;
    }

    /** The positive errno value, as userspace sees it in {@code errno}. */
    public int value() {
        return value;
    }

    public static Errno of(int value) {
        int v = Math.abs(value);
        for (Errno e : values()) {
            if (e.value == v) {
                return e;
            }
        }
        throw new IllegalArgumentException("unknown errno " + value);
    }
}
