package dev.livemig.mm;

/**
 * A failed simulated syscall or ioctl: the kernel's errno plus, for the fill ioctls,
 * the value the kernel leaves in the result field (bytes done, or the negative errno),
 * as mm/userfaultfd.c mfill_atomic reports partial progress.
 */
public final class KernelException extends RuntimeException {
    private final Errno errno;
    private final long result;
    private final boolean hasResult;

    public KernelException(Errno errno) {
        super(errno.name(), null, false, false);
        this.errno = errno;
        this.result = 0;
        this.hasResult = false;
    }

    public KernelException(Errno errno, long result) {
        super(errno.name() + " (result " + result + ")", null, false, false);
        this.errno = errno;
        this.result = result;
        this.hasResult = true;
    }

    public Errno errno() {
        return errno;
    }

    /** The result field (copied/zeroed/mapped), valid when {@link #hasResult()}. */
    public long result() {
        return result;
    }

    public boolean hasResult() {
        return hasResult;
    }
}
