package dev.livemig.migration.guest;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.util.function.IntConsumer;

/**
 * A bitmap over a guest's migration pages (see {@link GuestLayout}), like QEMU's
 * RAMBlock bmap: one bit per page, 64 pages per word, safe for concurrent setters.
 * Used for dirty sets, the ground-truth write log, the received and requested pages of
 * a target, and the tracker's reports.
 */
public final class PageBitmap {
    private static final VarHandle WORD = MethodHandles.arrayElementVarHandle(long[].class);
    private final int size;
    private final long[] words;

    public PageBitmap(int size) {
        this.size = size;
        this.words = new long[(size + 63) >>> 6];
    }

    private long word(int w) {
        return (long) WORD.getVolatile(words, w);
    }

    private void setWord(int w, long v) {
        WORD.setVolatile(words, w, v);
    }

    public int size() {
        return size;
    }

    public boolean get(int i) {
        return (word(i >>> 6) & (1L << i)) != 0;
    }

    /** Sets bit {@code i}; true if it was clear. */
    public boolean set(int i) {
        long bit = 1L << i;
        int w = i >>> 6;
        if ((word(w) & bit) != 0) {
            return false;
        }
        return ((long) WORD.getAndBitwiseOr(words, w, bit) & bit) == 0;
    }

    /** Clears bit {@code i}; true if it was set. */
    public boolean clear(int i) {
        long bit = 1L << i;
        return ((long) WORD.getAndBitwiseAnd(words, i >>> 6, ~bit) & bit) != 0;
    }

    public void setRange(int from, int to) {
        for (int i = from; i < to; i++) {
            set(i);
        }
    }

    public int cardinality() {
        return cardinality(0, size);
    }

    public int cardinality(int from, int to) {
        int n = 0;
        for (int i = nextSet(from); i >= 0 && i < to; i = nextSet(i + 1)) {
            n++;
        }
        return n;
    }

    /** The first set bit at or after {@code from}, or -1. */
    public int nextSet(int from) {
        if (from >= size) {
            return -1;
        }
        int w = from >>> 6;
        long word = word(w) & (-1L << from);
        while (true) {
            if (word != 0) {
                int i = (w << 6) + Long.numberOfTrailingZeros(word);
                return i < size ? i : -1;
            }
            if (++w >= words.length) {
                return -1;
            }
            word = word(w);
        }
    }

    public void forEach(IntConsumer action) {
        for (int i = nextSet(0); i >= 0; i = nextSet(i + 1)) {
            action.accept(i);
        }
    }

    /** Moves every set bit into a new bitmap and clears this one, word by word atomically. */
    public PageBitmap drain() {
        PageBitmap out = new PageBitmap(size);
        for (int w = 0; w < words.length; w++) {
            out.setWord(w, (long) WORD.getAndSet(words, w, 0L));
        }
        return out;
    }

    /** this |= other. */
    public void or(PageBitmap other) {
        for (int w = 0; w < words.length; w++) {
            long v = other.word(w);
            if (v != 0) {
                WORD.getAndBitwiseOr(words, w, v);
            }
        }
    }

    /** A new bitmap: this &amp; ~other. */
    public PageBitmap andNot(PageBitmap other) {
        PageBitmap out = new PageBitmap(size);
        for (int w = 0; w < words.length; w++) {
            out.setWord(w, word(w) & ~other.word(w));
        }
        return out;
    }

    /** A new bitmap: this &amp; other. */
    public PageBitmap and(PageBitmap other) {
        PageBitmap out = new PageBitmap(size);
        for (int w = 0; w < words.length; w++) {
            out.setWord(w, word(w) & other.word(w));
        }
        return out;
    }

    public PageBitmap copy() {
        return and(this);
    }

    /** The bits of pages {@code [from, to)} packed least significant bit first (RegionBitmap bytes). */
    public byte[] toBytes(int from, int to) {
        byte[] out = new byte[(to - from + 7) >>> 3];
        for (int i = nextSet(from); i >= 0 && i < to; i = nextSet(i + 1)) {
            int k = i - from;
            out[k >>> 3] |= (byte) (1 << (k & 7));
        }
        return out;
    }

    @Override
    public String toString() {
        return "PageBitmap(" + cardinality() + "/" + size + ")";
    }
}
