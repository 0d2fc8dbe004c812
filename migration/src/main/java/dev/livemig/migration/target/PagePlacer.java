package dev.livemig.migration.target;

import dev.livemig.migration.guest.Guest;
import dev.livemig.migration.guest.GuestLayout;
import dev.livemig.migration.guest.GuestSpec.RegionKind;
import dev.livemig.migration.guest.PageBitmap;
import dev.livemig.migration.transport.PageTransfer;
import dev.livemig.mm.Errno;
import dev.livemig.mm.KernelException;
import dev.livemig.mm.uffd.PageSource;
import dev.livemig.mm.uffd.UserfaultfdCtx;
import dev.livemig.mm.vma.Mmap;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.locks.ReentrantReadWriteLock;

/**
 * Installs received pages into the target guest through its userfaultfd, like QEMU's
 * postcopy_place_page / postcopy_place_page_zero: UFFDIO_COPY for data, UFFDIO_ZEROPAGE
 * for zero pages (hugetlb has no ZEROPAGE: a copy of zeros), each page's CRC-32C checked
 * first.
 *
 * <p>Before switchover a page may arrive again (it was re-dirtied on the source): the
 * old copy is dropped (MADV_DONTNEED, or MADV_REMOVE to punch it out of a shmem or
 * hugetlb file, as QEMU's ram_discard_range does) and the new one copied in. After a
 * post-copy switchover pages are copied with UFFDIO_COPY_MODE_WP so later guest writes
 * are tracked, and EEXIST means the same page already arrived on the other stream (a
 * priority answer racing the background push): the page is there, so only the waiters
 * are woken.
 */
final class PagePlacer {
    private final Guest guest;
    private final GuestLayout layout;
    private final UserfaultfdCtx ctx;
    final PageBitmap received;
    private volatile boolean postcopy;
    final AtomicLong installedPages = new AtomicLong();
    final AtomicLong zeroPages = new AtomicLong();
    final AtomicLong discardedPages = new AtomicLong();
    final AtomicLong copyRaces = new AtomicLong();
    final AtomicLong checksumMismatchPages = new AtomicLong();
    final AtomicLong stalePages = new AtomicLong();
    /** Pages whose last copy failed its checksum and that no good copy has replaced yet. */
    final PageBitmap corrupt;
    /**
     * Per page, 1 + the sequence of the batch that last placed or discarded it (0: none):
     * a batch overtaken by a later one (reordered on the way) must not bring back older
     * contents. Four bytes per page, 0.1% of the guest.
     */
    private final int[] placedBySequence;
    /** Batch placement shares it; {@link #rehearseWriteProtectNanos} takes it alone. */
    private final ReentrantReadWriteLock installs = new ReentrantReadWriteLock();

    PagePlacer(Guest guest, UserfaultfdCtx ctx) {
        this.guest = guest;
        this.layout = guest.layout();
        this.ctx = ctx;
        this.received = new PageBitmap(layout.pages());
        this.corrupt = new PageBitmap(layout.pages());
        this.placedBySequence = new int[layout.pages()];
    }

    /** From now on pages are installed write-protected and EEXIST is a benign race. */
    void enterPostcopy() {
        postcopy = true;
    }

    boolean inPostcopy() {
        return postcopy;
    }

    /** Every PageFlag bit this target understands. */
    private static final int KNOWN_FLAGS = PageTransfer.PAGE_FLAG_ZERO | PageTransfer.PAGE_FLAG_WRITE_PROTECT
            | PageTransfer.PAGE_FLAG_RESENT | PageTransfer.PAGE_FLAG_DISCARD;

    /**
     * Refuses a malformed batch as a whole, before any of its pages is placed: a page
     * outside the guest, not aligned to its page, of another size than its region's, an
     * unknown flag, or data that does not add up to the pages that carry some. (A bad
     * checksum is not malformed: that page alone is dropped and asked for again.)
     */
    void checkBatch(PageTransfer.PageBatch b) {
        if (b.sequence() < 0 || b.sequence() >= Integer.MAX_VALUE) {
            throw new IllegalArgumentException("batch sequence out of range: " + b.sequence());
        }
        long size = b.pageSizeBytes();
        int withData = 0;
        for (int i = 0; i < b.pages(); i++) {
            long addr = b.addresses()[i];
            int page = layout.pageIndex(addr);
            if (page < 0) {
                throw new IllegalArgumentException("batch " + b.sequence() + ": address 0x" + Long.toHexString(addr)
                        + " is outside the guest");
            }
            if (layout.pageSize(page) != size || addr % size != 0) {
                throw new IllegalArgumentException("batch " + b.sequence() + ": page 0x" + Long.toHexString(addr)
                        + " of " + size + " bytes, but its region has " + layout.pageSize(page) + "-byte pages");
            }
            if ((b.flags()[i] & ~KNOWN_FLAGS) != 0) {
                throw new IllegalArgumentException("batch " + b.sequence() + ": unknown flags 0x"
                        + Integer.toHexString(b.flags()[i]));
            }
            if (PageTransfer.hasData(b.flags()[i])) {
                withData++;
            }
        }
        if (b.dataLength() != withData * size) {
            throw new IllegalArgumentException("batch " + b.sequence() + ": " + b.dataLength() + " bytes of data for "
                    + withData + " pages of " + size);
        }
    }

    /**
     * Places every page of a batch, except pages a later batch (by sequence) already
     * placed or discarded: those contents are older than what the guest has.
     */
    void placeBatch(PageTransfer.PageBatch b) {
        if (b.sequence() < 0 || b.sequence() >= Integer.MAX_VALUE) {
            throw new IllegalArgumentException("batch sequence out of range: " + b.sequence());
        }
        installs.readLock().lock();
        try {
            placeBatchLocked(b);
        } finally {
            installs.readLock().unlock();
        }
    }

    private void placeBatchLocked(PageTransfer.PageBatch b) {
        int seq = (int) b.sequence() + 1;
        int size = b.pageSizeBytes();
        int off = b.dataOffset();
        int maxRun = postcopy ? POSTCOPY_RUN_PAGES : PRECOPY_RUN_PAGES;
        for (int i = 0; i < b.pages(); ) {
            int run = size == 4096 ? copyRun(b, i, off, seq, maxRun) : 0;
            if (run > 0) {
                i += run;
                off += run * size;
                continue;
            }
            int flags = b.flags()[i];
            long addr = b.addresses()[i];
            int page = layout.pageIndex(addr);
            if (page >= 0 && placedBySequence[page] > seq) {
                stalePages.incrementAndGet();
            } else if (place(addr, size, flags, b.crc32c()[i], b.data(), off) || PageTransfer.isDiscard(flags)) {
                placedBySequence[page] = seq;
            }
            if (PageTransfer.hasData(flags)) {
                off += size;
            }
            i++;
        }
    }

    /**
     * Pages per UFFDIO_COPY when a batch holds a run of new pages at consecutive addresses:
     * one ioctl (one lock, one VMA lookup) per run instead of per page, as QEMU places a
     * whole host page or multifd packet at once. Shorter after switchover, where the copy
     * holds the page-table lock that a vCPU's fault waits for.
     */
    static final int PRECOPY_RUN_PAGES = 64;
    static final int POSTCOPY_RUN_PAGES = 16;

    /**
     * Copies the longest run from page {@code i} of the batch (at most {@code maxRun}) of
     * 4 KiB pages with data, at consecutive addresses of one region, not yet received, not
     * overtaken by a later batch, each with a good checksum, in one UFFDIO_COPY. Returns
     * how many pages it placed; 0 if page {@code i} does not start such a run of at least
     * two (the caller places it alone, with the per-page handling of every other case).
     */
    private int copyRun(PageTransfer.PageBatch b, int i, int off, int seq, int maxRun) {
        long start = b.addresses()[i];
        int first = layout.pageIndex(start);
        int region = first < 0 ? -1 : layout.regionOfPage(first);
        int wpFlag = b.flags()[i] & PageTransfer.PAGE_FLAG_WRITE_PROTECT;
        int n = 0;
        while (n < maxRun && i + n < b.pages()) {
            int flags = b.flags()[i + n];
            int page = first + n;
            if (first < 0 || b.addresses()[i + n] != start + 4096L * n || !PageTransfer.hasData(flags)
                    || (flags & PageTransfer.PAGE_FLAG_WRITE_PROTECT) != wpFlag || page >= layout.pages()
                    || layout.regionOfPage(page) != region || received.get(page) || placedBySequence[page] > seq
                    || PageTransfer.crc32c(b.data(), off + 4096 * n, 4096) != b.crc32c()[i + n]) {
                break;
            }
            n++;
        }
        if (n < 2 || layout.regions().get(region).kind() == RegionKind.HUGETLB) {
            return 0;
        }
        boolean wp = postcopy || wpFlag != 0;
        long done;
        try {
            done = ctx.copy(start, 4096L * n, wp ? UserfaultfdCtx.COPY_MODE_WP : 0, PageSource.ofBytes(b.data(), off));
        } catch (KernelException e) {
            // a page of the run appeared meanwhile (EEXIST, or a short copy): the pages
            // before it are in; the rest go page by page
            done = e.hasResult() && e.result() > 0 ? e.result() : 0;
        }
        int placed = (int) (done / 4096);
        for (int k = 0; k < placed; k++) {
            received.set(first + k);
            corrupt.clear(first + k);
            placedBySequence[first + k] = seq;
        }
        installedPages.addAndGet(placed);
        return placed;
    }

    /**
     * Places one page; returns true if this call installed it, false if it was already
     * there (post-copy race), discarded, or failed its checksum.
     */
    boolean place(long addr, int size, int flags, int crc, byte[] data, int off) {
        int page = layout.pageIndex(addr);
        if (page < 0 || layout.pageSize(page) != size) {
            throw new IllegalArgumentException("page " + Long.toHexString(addr) + "/" + size + " outside the layout");
        }
        if (PageTransfer.isDiscard(flags)) {
            if (received.clear(page)) {
                discard(page, addr, size);
                discardedPages.incrementAndGet();
            }
            return false;
        }
        boolean zero = PageTransfer.isZero(flags);
        if (!zero && PageTransfer.crc32c(data, off, size) != crc) {
            // Damaged on the way. Before switchover the older copy goes too, so that the
            // received bitmap tells the source exactly which pages to send again.
            checksumMismatchPages.incrementAndGet();
            if (postcopy && received.get(page)) {
                return false; // a good copy came first on the other stream: nothing is missing
            }
            corrupt.set(page);
            if (!postcopy && received.clear(page)) {
                discard(page, addr, size);
            }
            return false;
        }
        boolean wp = postcopy || PageTransfer.isWriteProtect(flags);
        boolean hugetlb = layout.regions().get(layout.regionOfPage(page)).kind() == RegionKind.HUGETLB;
        for (int attempt = 0; ; attempt++) {
            try {
                if (zero && !wp && !hugetlb) {
                    ctx.zeropage(addr, size, 0);
                } else {
                    PageSource src = zero ? PageSource.ZERO : PageSource.ofBytes(data, off);
                    ctx.copy(addr, size, wp ? UserfaultfdCtx.COPY_MODE_WP : 0, src);
                }
                break;
            } catch (KernelException e) {
                if (e.errno() != Errno.EEXIST) {
                    throw e;
                }
                if (postcopy || attempt > 0) {
                    // someone else installed it: the faulting vCPUs only need waking
                    ctx.wakeIoctl(addr, size);
                    copyRaces.incrementAndGet();
                    received.set(page);
                    corrupt.clear(page);
                    return false;
                }
                discard(page, addr, size); // a resend before switchover replaces the stale copy
            }
        }
        received.set(page);
        corrupt.clear(page);
        installedPages.incrementAndGet();
        if (zero) {
            zeroPages.incrementAndGet();
        }
        return true;
    }

    /**
     * The switchover's UFFDIO_WRITEPROTECT of the whole guest, rehearsed on the live page
     * tables and lifted again; returns how long protecting took. Batches wait meanwhile: a
     * page installed or dropped in a protected range would end up protected, or leave a
     * uffd-wp marker behind, after the rehearsal.
     */
    long rehearseWriteProtectNanos() {
        installs.writeLock().lock();
        try {
            long t0 = System.nanoTime();
            for (GuestLayout.RegionLayout r : layout.regions()) {
                ctx.writeprotect(r.startAddress(), r.sizeBytes(), UserfaultfdCtx.WRITEPROTECT_MODE_WP);
            }
            long took = System.nanoTime() - t0;
            for (GuestLayout.RegionLayout r : layout.regions()) {
                ctx.writeprotect(r.startAddress(), r.sizeBytes(), 0);
            }
            return took;
        } finally {
            installs.writeLock().unlock();
        }
    }

    /** QEMU's ram_discard_range(): anonymous memory is zapped, file memory punched out. */
    private void discard(int page, long addr, int size) {
        RegionKind kind = layout.regions().get(layout.regionOfPage(page)).kind();
        Mmap.Advice advice = kind == RegionKind.ANON || kind == RegionKind.THP
                ? Mmap.Advice.DONTNEED : Mmap.Advice.REMOVE;
        guest.mm().madvise(addr, size, advice);
    }
}
