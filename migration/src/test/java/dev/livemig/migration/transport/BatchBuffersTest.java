package dev.livemig.migration.transport;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotSame;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;

import org.junit.jupiter.api.Test;

class BatchBuffersTest {
    @Test
    void anArrayGivenBack_servesTheNextTakeOfItsSizeOrLess() {
        BatchBuffers pool = new BatchBuffers(4, 4 << 20);
        byte[] a = pool.take(1 << 20);
        assertEquals(1 << 20, a.length);
        pool.give(a);
        assertSame(a, pool.take((1 << 20) - 100));
        assertArrayEquals(new long[] {2, 1}, pool.counts());
    }

    @Test
    void aTooSmallArray_isDroppedAndAFreshOneAllocatedInA64KibClass() {
        BatchBuffers pool = new BatchBuffers(4, 4 << 20);
        pool.give(new byte[4096]);
        byte[] b = pool.take((1 << 20) + 3000);
        assertEquals((1 << 20) + (64 << 10), b.length);
        assertEquals(0, pool.pooled());
    }

    @Test
    void arraysOverTheSizeLimitOrBeyondTheCount_areLeftToTheCollector() {
        BatchBuffers pool = new BatchBuffers(2, 1 << 20);
        byte[] big = pool.take(2 << 20);
        assertEquals(2 << 20, big.length);
        pool.give(big);
        assertEquals(0, pool.pooled());
        pool.give(new byte[1024]);
        pool.give(new byte[1024]);
        pool.give(new byte[1024]);
        assertEquals(2, pool.pooled());
        assertNotSame(big, pool.take(2 << 20));
    }

    @Test
    void negativeLimits_areRefused() {
        assertThrows(IllegalArgumentException.class, () -> new BatchBuffers(-1, 10));
        assertThrows(IllegalArgumentException.class, () -> new BatchBuffers(1, -10));
    }
}
