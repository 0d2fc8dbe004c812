package dev.livemig.target.grpc;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotSame;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.protobuf.UnsafeByteOperations;
import dev.livemig.migration.transport.BatchBuffers;
import dev.livemig.proto.v1.PageBatch;
import io.grpc.protobuf.ProtoUtils;
import java.io.InputStream;
import java.util.Arrays;
import org.junit.jupiter.api.Test;

class AliasingMarshallerTest {
    private static PageBatch batch(byte fill) {
        byte[] data = new byte[256 * 4096];
        Arrays.fill(data, fill);
        PageBatch.Builder b = PageBatch.newBuilder().setMigrationId("m1").setPageSizeBytes(4096)
                .setData(UnsafeByteOperations.unsafeWrap(data));
        for (int i = 0; i < 256; i++) {
            b.addAddresses(0x10000000L + 4096L * i).addFlags(0).addCrc32C(i);
        }
        return b.build();
    }

    private static InputStream wire(PageBatch b) {
        // the stock stream is KnownLength, as gRPC's deframed message is
        return ProtoUtils.marshaller(PageBatch.getDefaultInstance()).stream(b);
    }

    /**
     * A regression test: the marshaller enabled aliasing on an input protobuf takes for
     * mutable, so every batch's data was copied out of the parse array once more.
     */
    @Test
    void theDataField_isAViewOfTheParseArray_notACopy() {
        AliasingMarshaller<PageBatch> m = new AliasingMarshaller<>(PageBatch.getDefaultInstance());
        PageBatch parsed = m.parse(wire(batch((byte) 7)));
        PageTransferCodec.Slice s = PageTransferCodec.Slice.of(parsed.getData());
        assertEquals(256 * 4096, s.length());
        assertTrue(s.array().length > s.length(), "the whole message array, not a copy of the field");
        assertTrue(s.offset() > 0);
        byte[] expect = new byte[256 * 4096];
        Arrays.fill(expect, (byte) 7);
        assertArrayEquals(expect, Arrays.copyOfRange(s.array(), s.offset(), s.offset() + s.length()));
        AliasingMarshaller.recycleParsed();
    }

    @Test
    void theParseArray_isReusedOnceRecycled_andOnlyThen() {
        AliasingMarshaller<PageBatch> m = new AliasingMarshaller<>(PageBatch.getDefaultInstance());
        PageBatch first = m.parse(wire(batch((byte) 1)));
        byte[] a = PageTransferCodec.Slice.of(first.getData()).array();
        PageBatch second = m.parse(wire(batch((byte) 2))); // the first was not recycled: a fresh array
        byte[] b = PageTransferCodec.Slice.of(second.getData()).array();
        assertNotSame(a, b);
        assertEquals(1, first.getData().byteAt(0), "an array not given back is never overwritten");
        AliasingMarshaller.recycleParsed();
        PageBatch third = m.parse(wire(batch((byte) 3)));
        assertSame(b, PageTransferCodec.Slice.of(third.getData()).array());
        assertEquals(3, third.getData().byteAt(0));
        AliasingMarshaller.recycleParsed();
        assertTrue(BatchBuffers.RECEIVE.pooled() >= 1);
    }
}
