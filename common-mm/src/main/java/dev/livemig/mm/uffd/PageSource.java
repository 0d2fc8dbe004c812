package dev.livemig.mm.uffd;

import dev.livemig.mm.page.PhysMem;

/** The source buffer of UFFDIO_COPY: fills destination frames page by page. */
@FunctionalInterface
public interface PageSource {
    /** Copies source page {@code index} (4 KiB pages from the start of the copy) into frame {@code pfn}. */
    void copyTo(long index, PhysMem pm, long pfn);

    /** Whether {@link #copyTo} writes all 4096 bytes, so the frame need not be zeroed first. */
    default boolean fillsPage() {
        return false;
    }

    PageSource ZERO = (index, pm, pfn) -> { };

    /** Pages holding {@code value} as a 64-bit word at offset 0 and zeros elsewhere. */
    static PageSource ofValue(long value) {
        return (index, pm, pfn) -> pm.putLong(pfn, 0, value);
    }

    /** Pages taken from a byte array, 4 KiB each, starting at {@code offset}. */
    static PageSource ofBytes(byte[] data, int offset) {
        return new PageSource() {
            @Override
            public void copyTo(long index, PhysMem pm, long pfn) {
                pm.writeFrame(pfn, data, offset + (int) (index << 12));
            }

            @Override
            public boolean fillsPage() {
                return true;
            }
        };
    }
}
