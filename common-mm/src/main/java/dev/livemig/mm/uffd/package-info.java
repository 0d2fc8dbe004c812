/**
 * userfaultfd (fs/userfaultfd.c, mm/userfaultfd.c): feature negotiation, registration, the
 * fill ioctls (COPY, ZEROPAGE, CONTINUE, POISON), WRITEPROTECT and WAKE, blocking faults read
 * as messages by a monitor thread, and the fork/remove/unmap events.
 *
 * <p>A faulting thread blocks on a {@link dev.livemig.mm.uffd.UffdWaiter} with the page-table
 * lock released, exactly as handle_userfault() drops mmap_lock, so a monitor can resolve the
 * fault with an ioctl from another thread.
 */
package dev.livemig.mm.uffd;
