package dev.livemig.migration.transport;

import dev.livemig.migration.MigrationControl.MigrationMode;
import dev.livemig.migration.guest.GuestLayout;
import dev.livemig.migration.guest.Vcpu;
import java.util.List;
import java.util.zip.CRC32C;

/**
 * The data-plane messages, one record per message of {@code livemig/v1/page_transfer.proto}
 * with the same field names and units ({@code GuestLayout}/{@code RegionLayout} and
 * {@code VcpuState} live with the guest as {@link GuestLayout} and {@link Vcpu.State}).
 * Arrays stand for repeated scalar fields and {@code bytes}; a record that carries an
 * array hands its ownership over: neither side changes it after sending.
 */
public final class PageTransfer {
    /** The protocol version this file describes. */
    public static final int PROTOCOL_VERSION = 1;

    public static final String FEATURE_ZERO_PAGE_FLAG = "zero-page-flag";
    public static final String FEATURE_CRC32C = "crc32c";
    public static final String FEATURE_DISCARD = "discard";

    /*
     * PageBatch.flags bits (livemig.v1.PageFlag), one int per page:
     *
     *   bit 0  PAGE_FLAG_ZERO           all zeros, no data
     *   bit 1  PAGE_FLAG_WRITE_PROTECT  install with UFFDIO_COPY_MODE_WP
     *   bit 2  PAGE_FLAG_RESENT         re-dirtied page sent again (statistics)
     *   bit 3  PAGE_FLAG_DISCARD        drop the target's stale copy, no data
     */
    public static final int PAGE_FLAG_ZERO = 1;
    public static final int PAGE_FLAG_WRITE_PROTECT = 2;
    public static final int PAGE_FLAG_RESENT = 4;
    public static final int PAGE_FLAG_DISCARD = 8;

    private PageTransfer() {
    }

    public static boolean isZero(int flags) {
        return (flags & PAGE_FLAG_ZERO) != 0;
    }

    public static boolean isWriteProtect(int flags) {
        return (flags & PAGE_FLAG_WRITE_PROTECT) != 0;
    }

    public static boolean isResent(int flags) {
        return (flags & PAGE_FLAG_RESENT) != 0;
    }

    public static boolean isDiscard(int flags) {
        return (flags & PAGE_FLAG_DISCARD) != 0;
    }

    /** Whether a page with these flags carries data in its batch. */
    public static boolean hasData(int flags) {
        return (flags & (PAGE_FLAG_ZERO | PAGE_FLAG_DISCARD)) == 0;
    }

    /** CRC-32C of {@code len} bytes. */
    public static int crc32c(byte[] data, int off, int len) {
        CRC32C c = new CRC32C();
        c.update(data, off, len);
        return (int) c.getValue();
    }

    private static final byte[] ZERO_4K = new byte[4096];

    /** Whether {@code len} bytes from {@code off} are all zeros (a vectorised compare, 4 KiB at a time). */
    public static boolean isZero(byte[] data, int off, int len) {
        for (int o = 0; o < len; o += ZERO_4K.length) {
            int n = Math.min(ZERO_4K.length, len - o);
            if (java.util.Arrays.mismatch(data, off + o, off + o + n, ZERO_4K, 0, n) >= 0) {
                return false;
            }
        }
        return true;
    }

    /** CRC-32C of a page of zeros of {@code pageSize} bytes. */
    public static int zeroCrc(int pageSize) {
        return pageSize == 4096 ? ZERO_CRC_4K : crc32c(new byte[pageSize], 0, pageSize);
    }

    private static final int ZERO_CRC_4K = crc32c(new byte[4096], 0, 4096);

    /**
     * The target refused a message (a malformed batch, a message it cannot take in its
     * state), as opposed to a connection that broke: sending it again over a new connection
     * cannot help, and the target has dropped the migration. A transport turns the
     * target's refusal into this (gRPC: INVALID_ARGUMENT); in one JVM the target's own
     * IllegalArgumentException arrives as it is.
     */
    public static final class Refused extends RuntimeException {
        public Refused(String reason, Throwable cause) {
            super(reason, cause);
        }
    }

    /** Whether {@code t}, or a cause of it, is the target's refusal rather than a broken connection. */
    public static boolean isRefusal(Throwable t) {
        for (Throwable c = t; c != null; c = c.getCause()) {
            if (c instanceof Refused || c instanceof IllegalArgumentException) {
                return true;
            }
        }
        return false;
    }

    // ---- handshake ------------------------------------------------------------------

    /**
     * {@code reconnectTimeoutMs}: how long the target keeps a migration whose pre-copy page
     * stream broke, waiting for the source to reconnect (0: it drops it at once).
     * {@code guestId}: the guest's id on the source node ("" if none), under which a node
     * that runs guests adopts it.
     */
    public record HandshakeRequest(int protocolVersion, String migrationId, MigrationMode mode, GuestLayout layout,
                                   List<String> features, long reconnectTimeoutMs, String guestId) {
        public HandshakeRequest(int protocolVersion, String migrationId, MigrationMode mode, GuestLayout layout,
                                List<String> features, long reconnectTimeoutMs) {
            this(protocolVersion, migrationId, mode, layout, features, reconnectTimeoutMs, "");
        }

        public HandshakeRequest(int protocolVersion, String migrationId, MigrationMode mode, GuestLayout layout,
                                List<String> features) {
            this(protocolVersion, migrationId, mode, layout, features, 0, "");
        }
    }

    public record HandshakeResponse(boolean accepted, int protocolVersion, String reason, List<String> features) {
    }

    // ---- page stream ----------------------------------------------------------------

    /**
     * livemig.v1.PageBatch: parallel arrays per page; {@code data} holds the pages with
     * data back to back, so a page's data offset is (earlier pages with data) * page size.
     */
    public record PageBatch(String migrationId, int round, long sequence, int pageSizeBytes, long[] addresses,
                            int[] flags, int[] crc32c, byte[] data, boolean roundComplete, int dataOffset,
                            int dataLength) {
        /**
         * The page data is {@code data[dataOffset, dataOffset + dataLength)}: a sender hands
         * over the buffer it read the pages into, a receiver the message buffer it parsed, so
         * neither copies the pages out into an array of their own.
         */
        public PageBatch {
            if (dataOffset < 0 || dataLength < 0 || dataOffset + dataLength > data.length) {
                throw new IllegalArgumentException("data range " + dataOffset + "+" + dataLength + " outside "
                        + data.length + " bytes");
            }
        }

        /** All of {@code data} is page data. */
        public PageBatch(String migrationId, int round, long sequence, int pageSizeBytes, long[] addresses,
                         int[] flags, int[] crc32c, byte[] data, boolean roundComplete) {
            this(migrationId, round, sequence, pageSizeBytes, addresses, flags, crc32c, data, roundComplete, 0,
                    data.length);
        }

        public int pages() {
            return addresses.length;
        }

        /** Bytes this batch puts on the wire (page data plus 16 bytes of per-page metadata). */
        public long wireBytes() {
            return dataLength + 16L * addresses.length + 32;
        }
    }

    public record PushPagesAck(String migrationId, long batchesReceived, long pagesReceived, long zeroPagesReceived,
                               long bytesReceived, long checksumMismatchPages, int lastCompleteRound) {
    }

    // ---- switchover ------------------------------------------------------------------

    /** {@code targetClockOffsetNs}: the target's clock minus the source's, measured with Sync (0: unknown). */
    public record SwitchoverRequest(String migrationId, int finalRound, long batchesSent, GuestLayout layout,
                                    List<Vcpu.State> vcpus, boolean postcopy, long pauseUnixNs,
                                    long targetClockOffsetNs) {
        public SwitchoverRequest(String migrationId, int finalRound, long batchesSent, GuestLayout layout,
                                 List<Vcpu.State> vcpus, boolean postcopy, long pauseUnixNs) {
            this(migrationId, finalRound, batchesSent, layout, vcpus, postcopy, pauseUnixNs, 0);
        }
    }

    /**
     * Not resumed with {@code missingPages > 0}: the target dropped pages that failed their
     * checksum and kept the migration open; the source resends what the received bitmap
     * lacks and asks again. Not resumed with no missing pages: the migration failed.
     */
    public record SwitchoverResponse(boolean resumed, long resumeUnixNs, double downtimeMs, long missingPages,
                                     String error, double drainMs, double resumeMs, double handledMs) {
        /** An answer without the target's time split (refusals, test doubles). */
        public SwitchoverResponse(boolean resumed, long resumeUnixNs, double downtimeMs, long missingPages,
                                  String error) {
            this(resumed, resumeUnixNs, downtimeMs, missingPages, error, 0, 0, 0);
        }
    }

    // ---- sync --------------------------------------------------------------------------

    public record SyncRequest(String migrationId, long batchesSent, boolean estimateResume) {
    }

    public record SyncResponse(long targetReceiveUnixNs, long targetReplyUnixNs, double drainMs, boolean drained,
                               double resumeEstimateMs, boolean guestAnswered) {
        /** The target's time spent answering. */
        public double handledMs() {
            return (targetReplyUnixNs - targetReceiveUnixNs) / 1e6;
        }
    }

    // ---- post-copy priority channel ---------------------------------------------------

    /** livemig.v1.PostcopySourceMessage (oneof start | page | done). */
    public sealed interface PostcopySourceMessage permits PostcopyStart, PageData, PostcopySourceDone {
    }

    /** livemig.v1.PostcopyTargetMessage (oneof request | done). */
    public sealed interface PostcopyTargetMessage permits PageRequest, PostcopyTargetDone {
    }

    public record PostcopyStart(String migrationId) implements PostcopySourceMessage {
    }

    public record PageRequest(long requestId, long address, int vcpuIndex, long faultUnixNs)
            implements PostcopyTargetMessage {
    }

    /** {@code sourceHoldNanos}: from the source's transport thread taking the request to this answer queued (0: not measured). */
    public record PageData(long requestId, long address, int flags, int crc32c, int pageSizeBytes, byte[] data,
                           long sourceHoldNanos) implements PostcopySourceMessage {
        public PageData(long requestId, long address, int flags, int crc32c, int pageSizeBytes, byte[] data) {
            this(requestId, address, flags, crc32c, pageSizeBytes, data, 0);
        }
    }

    public record PostcopySourceDone(long pagesSent) implements PostcopySourceMessage {
    }

    /** {@code faultLatency}: fault read to page installed, as the target measured it (EMPTY: not sent). */
    public record PostcopyTargetDone(long faults, long receivedPages,
                                     dev.livemig.migration.MigrationControl.LatencySummary faultLatency,
                                     PostcopyLegs legs)
            implements PostcopyTargetMessage {
        public PostcopyTargetDone {
            java.util.Objects.requireNonNull(faultLatency, "faultLatency");
            java.util.Objects.requireNonNull(legs, "legs");
        }

        public PostcopyTargetDone(long faults, long receivedPages,
                                  dev.livemig.migration.MigrationControl.LatencySummary faultLatency) {
            this(faults, receivedPages, faultLatency, PostcopyLegs.EMPTY);
        }
    }

    /**
     * The round trips of the faults answered on the priority stream, split in three, each
     * on one node's clock: the network both ways (round trip less the source's hold, with
     * the thread wake-ups on both nodes), the source's hold, the install on the target.
     */
    public record PostcopyLegs(dev.livemig.migration.MigrationControl.LatencySummary network,
                               dev.livemig.migration.MigrationControl.LatencySummary sourceHold,
                               dev.livemig.migration.MigrationControl.LatencySummary install) {
        public static final PostcopyLegs EMPTY = new PostcopyLegs(dev.livemig.migration.MigrationControl.LatencySummary.EMPTY,
                dev.livemig.migration.MigrationControl.LatencySummary.EMPTY,
                dev.livemig.migration.MigrationControl.LatencySummary.EMPTY);

        public PostcopyLegs {
            java.util.Objects.requireNonNull(network, "network");
            java.util.Objects.requireNonNull(sourceHold, "sourceHold");
            java.util.Objects.requireNonNull(install, "install");
        }
    }

    // ---- received bitmap ----------------------------------------------------------------

    public record ReceivedBitmapRequest(String migrationId, List<String> regionNames) {
    }

    /** Bit i (byte i / 8, bit i % 8) is the page at start + i * page size. */
    public record RegionBitmap(String regionName, long startAddress, long pageSizeBytes, long pageCount,
                               byte[] received, byte[] requested, byte[] dirtiedSinceSwitchover,
                               long receivedPages) {
    }

    /**
     * {@code placedBatches}: bit i (byte i / 8, bit i % 8) is set if the page batch of
     * sequence i has been placed, so that after a broken stream the source knows which
     * batches were lost on the way.
     */
    public record ReceivedBitmapResponse(String migrationId, List<RegionBitmap> regions, long receivedPages,
                                         long missingPages, byte[] placedBatches) {
        public ReceivedBitmapResponse(String migrationId, List<RegionBitmap> regions, long receivedPages,
                                      long missingPages) {
            this(migrationId, regions, receivedPages, missingPages, new byte[0]);
        }

        /** Pages the guest wrote on the target since the switchover, over all regions. */
        public long dirtiedSinceSwitchoverPages() {
            long n = 0;
            for (RegionBitmap rb : regions) {
                for (byte b : rb.dirtiedSinceSwitchover()) {
                    n += Integer.bitCount(b & 0xff);
                }
            }
            return n;
        }

        /** Whether the batch of this sequence was placed. */
        public boolean placed(long sequence) {
            int i = (int) (sequence >>> 3);
            return sequence >= 0 && i < placedBatches.length && (placedBatches[i] & (1 << (sequence & 7))) != 0;
        }
    }

    // ---- verification ----------------------------------------------------------------

    public record RegionChecksums(String regionName, long startAddress, long pageSizeBytes, int[] crc32c) {
    }

    public record VerifyRequest(String migrationId, List<RegionChecksums> regions) {
    }

    public record VerifyResponse(long verifiedPages, long mismatchPages, long[] mismatchAddresses) {
    }
}
