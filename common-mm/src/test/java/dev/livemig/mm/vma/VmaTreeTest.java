package dev.livemig.mm.vma;

import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;

import dev.livemig.mm.VmFlags;
import org.junit.jupiter.api.Test;

/** {@link VmaTree#lookup} with its last-found cache: every change of the tree is seen by the next lookup. */
class VmaTreeTest {
    private static final long PAGE = 4096;

    private static Vma vma(long start, long end) {
        return new Vma(null, start, end, VmFlags.VM_READ | VmFlags.VM_WRITE, 0, null);
    }

    @Test
    void aRemovedVma_isNotFoundAgain_thoughTheLastLookupFoundIt() {
        VmaTree t = new VmaTree();
        Vma a = vma(0x10000, 0x20000);
        t.insert(a);
        assertSame(a, t.lookup(0x10000 + PAGE));
        t.remove(a);
        assertNull(t.lookup(0x10000 + PAGE));
    }

    @Test
    void afterASplit_eachHalfIsFound_andAfterAMergeTheWhole() {
        VmaTree t = new VmaTree();
        Vma a = vma(0x10000, 0x30000);
        t.insert(a);
        assertSame(a, t.lookup(0x28000)); // cached: a covers it
        Vma upper = t.split(a, 0x20000);
        assertSame(upper, t.lookup(0x28000), "the upper half, not the shrunk lower one");
        assertSame(a, t.lookup(0x18000));
        Vma merged = t.mergeAround(upper);
        assertSame(a, merged);
        assertSame(a, t.lookup(0x28000), "the merged vma, not the upper half it absorbed");
    }

    @Test
    void aVmaInsertedInAGap_isFound() {
        VmaTree t = new VmaTree();
        Vma a = vma(0x10000, 0x20000);
        t.insert(a);
        assertNull(t.lookup(0x40000));
        Vma b = vma(0x40000, 0x50000);
        t.insert(b);
        assertSame(b, t.lookup(0x40000));
        assertSame(a, t.lookup(0x10000));
    }
}
