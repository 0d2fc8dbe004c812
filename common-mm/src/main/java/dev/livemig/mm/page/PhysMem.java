package dev.livemig.mm.page;

import dev.livemig.mm.MmConstants;
import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.lang.reflect.Field;
import java.util.Arrays;
import sun.misc.Unsafe;

/**
 * Mirrors mm/page_alloc.c and include/linux/mm_types.h (struct page): physical memory.
 *
 * <p>Frames live off-heap, 4 KiB each at {@code pfn * 4096} within 2 MiB chunks that are
 * allocated on first use and never returned to the OS (like memory hot-add). Freed
 * frames go back to free lists: order-0 frames to a stack, order-9 (2 MiB) blocks to a
 * block list, and a chunk whose frames are all free again is merged back into a block, so
 * that small frames scattered over many chunks do not keep huge allocations from reusing
 * them (without the merge the arena grew with every wave of guests). Per-frame metadata ({@code struct page}) is one {@code long} per pfn; see
 * {@link Folio} for its layout. Nothing is allocated per page on the Java heap.
 *
 * <p>Metadata updates are atomic ({@link VarHandle} on the meta arrays) because one
 * folio may be mapped by several address spaces (fork, shared memory) whose page-table
 * locks are different.
 */
public final class PhysMem implements AutoCloseable {
    static final Unsafe UNSAFE = unsafe();
    private static final VarHandle META = MethodHandles.arrayElementVarHandle(long[].class);
    static final int CHUNK_PAGES = MmConstants.HPAGE_PMD_NR;
    static final long CHUNK_BYTES = CHUNK_PAGES * MmConstants.PAGE_SIZE;
    /** HotSpot with compressed oops (the default for heaps under 32 GiB): a reference is 4 bytes. */
    public static final int JAVA_REF = 4;

    private long[] chunkBase = new long[16];
    private long[][] meta = new long[16][];
    private int chunks;
    /**
     * The free 4 KiB frames, a stack of pfns. An entry counts only while its frame's word is
     * {@link Folio#BUDDY} (PageBuddy: free and listed): a chunk whose 512 frames are all free again goes back to
     * {@link #freeBlocks} whole (the buddy allocator's merge, __free_one_page()), and its
     * entries here go stale in place rather than being searched out; popping skips them.
     */
    private int[] freeSmall = new int[1024];
    private int freeSmallTop;
    /** Per chunk, how many of its frames are free and listed. */
    private int[] chunkSmallFree = new int[16];
    /** Listed small frames; the rest of {@link #freeSmallTop} is stale. */
    private long smallFreeFrames;
    private int[] freeBlocks = new int[16];
    private int freeBlocksTop;
    private long allocatedPages;
    private final long limitPages;
    private boolean closed;
    private Runnable hugetlbReleased;

    /** The pfn of the shared 4 KiB zero page (never freed, never refcounted). */
    public final long zeroPfn;
    /** The head pfn of the huge zero folio (2 MiB). */
    public final long hugeZeroPfn;

    public PhysMem() {
        this(Long.MAX_VALUE);
    }

    /** @param limitPages frames that may be in use at once (beyond that: ENOMEM / OOM) */
    public PhysMem(long limitPages) {
        this.limitPages = limitPages;
        this.hugeZeroPfn = newChunk();
        UNSAFE.setMemory(address(hugeZeroPfn), CHUNK_BYTES, (byte) 0);
        Folio.init(this, hugeZeroPfn, Folio.ZERO, MmConstants.HPAGE_PMD_ORDER);
        long zc = newChunk();
        this.zeroPfn = zc;
        clearFrame(zeroPfn);
        Folio.init(this, zeroPfn, Folio.ZERO, 0);
        for (int i = CHUNK_PAGES - 1; i >= 1; i--) {
            pushSmall((int) (zc + i));
        }
        allocatedPages = 0;
    }

    private static Unsafe unsafe() {
        try {
            Field f = Unsafe.class.getDeclaredField("theUnsafe");
            f.setAccessible(true);
            return (Unsafe) f.get(null);
        } catch (ReflectiveOperationException e) {
            throw new ExceptionInInitializerError(e);
        }
    }

    // ---- allocation -----------------------------------------------------------

    private synchronized long newChunk() {
        if (chunks == chunkBase.length) {
            chunkBase = Arrays.copyOf(chunkBase, chunks * 2);
            meta = Arrays.copyOf(meta, chunks * 2);
            chunkSmallFree = Arrays.copyOf(chunkSmallFree, chunks * 2);
        }
        // not zeroed here: every allocation zeroes what it hands out (or is overwritten whole)
        long base = UNSAFE.allocateMemory(CHUNK_BYTES);
        chunkBase[chunks] = base;
        meta[chunks] = new long[CHUNK_PAGES];
        return (long) (chunks++) * CHUNK_PAGES;
    }

    private void pushSmall(int pfn) {
        if (freeSmallTop == freeSmall.length) {
            if (freeSmallTop - smallFreeFrames > freeSmallTop / 2) {
                compactSmall();
            } else {
                freeSmall = Arrays.copyOf(freeSmall, freeSmallTop * 2);
            }
        }
        freeSmall[freeSmallTop++] = pfn;
        setMeta(pfn, Folio.BUDDY);
        chunkSmallFree[pfn >>> 9]++;
        smallFreeFrames++;
    }

    /** The next listed small frame, skipping stale entries; -1 if none. */
    private long popSmall() {
        while (freeSmallTop > 0) {
            int pfn = freeSmall[--freeSmallTop];
            if (meta(pfn) == Folio.BUDDY) {
                setMeta(pfn, 0); // a stale duplicate of it deeper down is not listed now
                chunkSmallFree[pfn >>> 9]--;
                smallFreeFrames--;
                return pfn;
            }
        }
        return -1;
    }

    /** A chunk of free frames only: back to the free blocks whole, its stack entries stale. */
    private void mergeChunk(int chunk) {
        Arrays.fill(meta[chunk], 0L);
        chunkSmallFree[chunk] = 0;
        smallFreeFrames -= CHUNK_PAGES;
        pushBlock(chunk * CHUNK_PAGES);
    }

    /** A listed frame already kept by {@link #compactSmall}: its duplicates further up are dropped. */
    private static final long BUDDY_KEPT = Folio.BUDDY | 1;

    /**
     * Drops the stale entries of {@link #freeSmall} (and duplicates), keeping the stack's
     * order. Runs when more than half the full stack is stale, so its cost is spread over
     * the pushes that filled it; it marks kept frames in their own words rather than in a
     * bitmap of every frame, which a node freeing a 4 GiB guest allocated hundreds of times.
     */
    private void compactSmall() {
        int out = 0;
        for (int i = 0; i < freeSmallTop; i++) {
            int pfn = freeSmall[i];
            if (meta(pfn) == Folio.BUDDY) {
                setMeta(pfn, BUDDY_KEPT);
                freeSmall[out++] = pfn;
            }
        }
        for (int i = 0; i < out; i++) {
            setMeta(freeSmall[i], Folio.BUDDY);
        }
        // a duplicate kept only its lowest entry: LIFO order differs from before for those alone
        freeSmallTop = out;
    }

    private void pushBlock(long pfn) {
        if (freeBlocksTop == freeBlocks.length) {
            freeBlocks = Arrays.copyOf(freeBlocks, freeBlocksTop * 2);
        }
        freeBlocks[freeBlocksTop++] = (int) pfn;
    }

    /**
     * Allocates a zeroed folio of {@code order} (0 or 9) with refcount 1, or returns -1
     * when the configured memory limit is reached (the caller turns that into OOM/ENOMEM).
     */
    public long allocFolio(int order, long flags) {
        return allocFolio(order, flags, true);
    }

    /**
     * Like {@link #allocFolio(int, long)}; {@code zero} is __GFP_ZERO. Without it the frames
     * keep stale bytes, which only a caller that overwrites every byte may accept
     * (UFFDIO_COPY, like mfill_atomic_pte_copy()).
     */
    public long allocFolio(int order, long flags, boolean zero) {
        long pfn = takeFrames(order);
        if (pfn < 0) {
            return -1;
        }
        // prep_new_page(): the frames are ours alone now, so they are cleared and
        // initialised outside the allocator's lock, and faulting threads overlap here
        if (zero) {
            UNSAFE.setMemory(address(pfn), (1L << order) * MmConstants.PAGE_SIZE, (byte) 0);
        }
        Folio.init(this, pfn, flags, order);
        return pfn;
    }

    /** rmqueue(): takes {@code 1 << order} free frames off the free lists, or -1 at the limit. */
    private synchronized long takeFrames(int order) {
        if (closed) {
            throw new IllegalStateException("physical memory released");
        }
        long n = 1L << order;
        if (allocatedPages + n > limitPages) {
            return -1;
        }
        long pfn;
        if (order == 0) {
            pfn = popSmall();
            if (pfn < 0) {
                long base = freeBlocksTop > 0 ? freeBlocks[--freeBlocksTop] : newChunk();
                for (int i = CHUNK_PAGES - 1; i >= 0; i--) {
                    pushSmall((int) (base + i));
                }
                pfn = popSmall();
            }
        } else if (order == MmConstants.HPAGE_PMD_ORDER) {
            pfn = freeBlocksTop > 0 ? freeBlocks[--freeBlocksTop] : newChunk();
        } else {
            throw new IllegalArgumentException("unsupported folio order " + order);
        }
        allocatedPages += n;
        return pfn;
    }

    /**
     * QEMU's {@code -mem-prealloc}: makes sure at least {@code pages} frames sit on the free
     * lists with their host memory already touched, so that the host kernel's first-touch
     * faults (clear_page on every fresh 4 KiB) are paid now, at node start, and not by the
     * first copy into each frame while a migration streams in. Returns the bytes touched.
     * The frames stay free: the limit and {@link #allocatedPages()} do not change.
     */
    public synchronized long prealloc(long pages) {
        if (closed) {
            throw new IllegalStateException("physical memory released");
        }
        long free = smallFreeFrames + (long) freeBlocksTop * CHUNK_PAGES;
        long touched = 0;
        while (free < pages) {
            long base = newChunk();
            UNSAFE.setMemory(address(base), CHUNK_BYTES, (byte) 0);
            pushBlock(base);
            free += CHUNK_PAGES;
            touched += CHUNK_BYTES;
        }
        return touched;
    }

    /** Returns a folio whose refcount reached zero to the free lists. */
    synchronized void freeFolio(long pfn, int order) {
        if ((meta(pfn) & Folio.HUGETLB) != 0 && hugetlbReleased != null) {
            hugetlbReleased.run();
        }
        long n = 1L << order;
        for (long i = 0; i < n; i++) {
            setMeta(pfn + i, 0);
        }
        if (order == 0) {
            pushSmall((int) pfn);
            if (chunkSmallFree[(int) (pfn >>> 9)] == CHUNK_PAGES) {
                mergeChunk((int) (pfn >>> 9));
            }
        } else {
            pushBlock(pfn);
        }
        allocatedPages -= n;
    }

    /** Lets the hugetlb pool learn when one of its folios is freed. */
    public synchronized void onHugetlbFree(Runnable r) {
        this.hugetlbReleased = r;
    }

    /** Frames currently allocated to folios (the zero pages excluded). */
    public synchronized long allocatedPages() {
        return allocatedPages;
    }

    /**
     * Java heap bytes of this physical memory's metadata: the struct page words (one long
     * per frame) and the chunk and free-list arrays. The frames themselves are off-heap.
     */
    public synchronized long heapBytes() {
        return chunks * arrayBytes(CHUNK_PAGES, 8) + arrayBytes(chunkBase.length, 8)
                + arrayBytes(meta.length, JAVA_REF) + arrayBytes(freeSmall.length, 4)
                + arrayBytes(freeBlocks.length, 4) + arrayBytes(chunkSmallFree.length, 4);
    }

    /** Heap size of a Java array: a 16-byte header, then the elements, padded to 8 bytes. */
    public static long arrayBytes(long length, int elementBytes) {
        return (16 + length * elementBytes + 7) & ~7L;
    }

    /** Bytes of off-heap memory reserved for frames. */
    public synchronized long reservedBytes() {
        return chunks * CHUNK_BYTES;
    }

    // ---- metadata ---------------------------------------------------------------

    long meta(long pfn) {
        return (long) META.getVolatile(meta[(int) (pfn >>> 9)], (int) (pfn & 511));
    }

    void setMeta(long pfn, long v) {
        META.setVolatile(meta[(int) (pfn >>> 9)], (int) (pfn & 511), v);
    }

    long addMeta(long pfn, long delta) {
        return (long) META.getAndAdd(meta[(int) (pfn >>> 9)], (int) (pfn & 511), delta) + delta;
    }

    boolean casMeta(long pfn, long expect, long update) {
        return META.compareAndSet(meta[(int) (pfn >>> 9)], (int) (pfn & 511), expect, update);
    }

    // ---- frame contents --------------------------------------------------------

    /** The native address of the first byte of frame {@code pfn}. */
    public long address(long pfn) {
        return chunkBase[(int) (pfn >>> 9)] + ((pfn & 511) << MmConstants.PAGE_SHIFT);
    }

    public long getLong(long pfn, int offset) {
        return UNSAFE.getLong(address(pfn) + offset);
    }

    public void putLong(long pfn, int offset, long value) {
        UNSAFE.putLong(address(pfn) + offset, value);
    }

    public void copyFrame(long fromPfn, long toPfn) {
        UNSAFE.copyMemory(address(fromPfn), address(toPfn), MmConstants.PAGE_SIZE);
    }

    public void clearFrame(long pfn) {
        UNSAFE.setMemory(address(pfn), MmConstants.PAGE_SIZE, (byte) 0);
    }

    /** Copies a frame into a heap array (for transfer and checksums). */
    public void readFrame(long pfn, byte[] dst, int dstOff) {
        UNSAFE.copyMemory(null, address(pfn), dst, Unsafe.ARRAY_BYTE_BASE_OFFSET + dstOff, MmConstants.PAGE_SIZE);
    }

    /** Fills a frame from a heap array. */
    public void writeFrame(long pfn, byte[] src, int srcOff) {
        UNSAFE.copyMemory(src, Unsafe.ARRAY_BYTE_BASE_OFFSET + srcOff, null, address(pfn), MmConstants.PAGE_SIZE);
    }

    /** True if every byte of the frame is zero. */
    public boolean frameIsZero(long pfn) {
        long a = address(pfn);
        for (long off = 0; off < MmConstants.PAGE_SIZE; off += 8) {
            if (UNSAFE.getLong(a + off) != 0) {
                return false;
            }
        }
        return true;
    }

    @Override
    public synchronized void close() {
        if (closed) {
            return;
        }
        closed = true;
        for (int i = 0; i < chunks; i++) {
            UNSAFE.freeMemory(chunkBase[i]);
        }
    }
}
