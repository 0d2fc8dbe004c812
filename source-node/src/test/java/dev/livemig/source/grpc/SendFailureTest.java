package dev.livemig.source.grpc;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.livemig.migration.transport.PageTransfer;
import io.grpc.Status;
import org.junit.jupiter.api.Test;

/**
 * What a page-stream send throws after its call failed. Regression: the sending thread
 * could see the target's INVALID_ARGUMENT before the ack observer passed it on as a
 * refusal, threw it as a plain status, and the engine took the refused batch for a broken
 * connection and reconnected (GrpcMigrationFaultsTest's malformed-batch case, now and then).
 */
class SendFailureTest {
    @Test
    void aRefusalIsThrownAsARefusalWithTheTargetsReason() {
        RuntimeException e = GrpcPageChannel.sendFailure(
                Status.INVALID_ARGUMENT.withDescription("batch 4: address 0x0 is outside the guest").asRuntimeException());
        assertTrue(PageTransfer.isRefusal(e), e.toString());
        assertEquals("batch 4: address 0x0 is outside the guest", e.getMessage());
    }

    @Test
    void aBrokenCallStaysABreak() {
        RuntimeException e = GrpcPageChannel.sendFailure(Status.UNAVAILABLE.withDescription("gone").asRuntimeException());
        assertFalse(PageTransfer.isRefusal(e), e.toString());
        assertEquals(Status.Code.UNAVAILABLE, Status.fromThrowable(e).getCode());
    }
}
