package dev.livemig.target.grpc;

import com.google.protobuf.ByteString;
import com.google.protobuf.UnsafeByteOperations;
import dev.livemig.migration.MigrationControl;
import dev.livemig.migration.MigrationControl.MigrationMode;
import dev.livemig.migration.guest.GuestLayout;
import dev.livemig.migration.guest.GuestLayout.RegionLayout;
import dev.livemig.migration.guest.GuestSpec.RegionKind;
import dev.livemig.migration.guest.Vcpu;
import dev.livemig.migration.transport.PageTransfer;
import dev.livemig.proto.v1.PostcopySourceMessage;
import dev.livemig.proto.v1.PostcopyTargetMessage;
import io.grpc.Metadata;
import java.util.ArrayList;
import java.util.List;

/**
 * The one mapping between the livemig.v1.PageTransfer messages and the engine's records
 * ({@link PageTransfer}): field by field, same names, no logic. Used by the target's
 * service and by the source's client alike.
 *
 * <p>Arrays handed to the proto side are wrapped, not copied ({@link PageTransfer}'s
 * records give up ownership of their arrays). A proto value the engine cannot represent
 * (an UNSPECIFIED or unknown enum where one is required, a missing layout) is an
 * {@link IllegalArgumentException}, which the services answer with INVALID_ARGUMENT.
 */
public final class PageTransferCodec {
    /**
     * Request header naming the migration of a PushPages stream, so that the target binds
     * the stream (and hears of its cancellation) before the first batch arrives. Optional:
     * without it the stream is bound by its first batch's migration_id.
     */
    public static final Metadata.Key<String> MIGRATION_ID_HEADER =
            Metadata.Key.of("livemig-migration-id", Metadata.ASCII_STRING_MARSHALLER);

    /**
     * Request header of a PushPages call that is one of several parallel page streams of a
     * migration (multifd): {@code GROUP/INDEX/COUNT}. The target delivers the batches of
     * all COUNT calls of a group to one engine stream, and acknowledges each call once all
     * of them have ended.
     */
    public static final Metadata.Key<String> MULTIFD_HEADER =
            Metadata.Key.of("livemig-multifd", Metadata.ASCII_STRING_MARSHALLER);

    private PageTransferCodec() {
    }

    // ---- enums shared with migration_control.proto ------------------------------------

    /** MIGRATION_MODE_UNSPECIFIED is null (the engine default). */
    public static MigrationMode mode(dev.livemig.proto.v1.MigrationMode m) {
        return switch (m) {
            case MIGRATION_MODE_UNSPECIFIED -> null;
            case MIGRATION_MODE_PRECOPY -> MigrationMode.PRECOPY;
            case MIGRATION_MODE_POSTCOPY -> MigrationMode.POSTCOPY;
            case MIGRATION_MODE_HYBRID -> MigrationMode.HYBRID;
            default -> throw new IllegalArgumentException("unknown migration mode " + m);
        };
    }

    public static dev.livemig.proto.v1.MigrationMode mode(MigrationMode m) {
        if (m == null) {
            return dev.livemig.proto.v1.MigrationMode.MIGRATION_MODE_UNSPECIFIED;
        }
        return switch (m) {
            case PRECOPY -> dev.livemig.proto.v1.MigrationMode.MIGRATION_MODE_PRECOPY;
            case POSTCOPY -> dev.livemig.proto.v1.MigrationMode.MIGRATION_MODE_POSTCOPY;
            case HYBRID -> dev.livemig.proto.v1.MigrationMode.MIGRATION_MODE_HYBRID;
        };
    }

    public static RegionKind regionKind(dev.livemig.proto.v1.RegionKind k) {
        return switch (k) {
            case REGION_KIND_ANON -> RegionKind.ANON;
            case REGION_KIND_THP -> RegionKind.THP;
            case REGION_KIND_SHMEM -> RegionKind.SHMEM;
            case REGION_KIND_HUGETLB -> RegionKind.HUGETLB;
            default -> throw new IllegalArgumentException("region kind " + k + " is not a region kind");
        };
    }

    public static dev.livemig.proto.v1.RegionKind regionKind(RegionKind k) {
        return switch (k) {
            case ANON -> dev.livemig.proto.v1.RegionKind.REGION_KIND_ANON;
            case THP -> dev.livemig.proto.v1.RegionKind.REGION_KIND_THP;
            case SHMEM -> dev.livemig.proto.v1.RegionKind.REGION_KIND_SHMEM;
            case HUGETLB -> dev.livemig.proto.v1.RegionKind.REGION_KIND_HUGETLB;
        };
    }

    // ---- layout and handshake -----------------------------------------------------------

    public static GuestLayout layout(dev.livemig.proto.v1.GuestLayout l) {
        List<RegionLayout> regions = new ArrayList<>();
        for (dev.livemig.proto.v1.RegionLayout r : l.getRegionsList()) {
            RegionKind kind = regionKind(r.getKind());
            if (r.getPageSizeBytes() != kind.pageSizeBytes()) {
                throw new IllegalArgumentException("region " + r.getName() + ": page_size_bytes "
                        + r.getPageSizeBytes() + " is not " + kind.pageSizeBytes() + " for " + kind);
            }
            if (r.getSizeBytes() == 0 || r.getSizeBytes() % kind.sizeGranule() != 0
                    || r.getStartAddress() % kind.sizeGranule() != 0) {
                throw new IllegalArgumentException("region " + r.getName() + ": start and size must be "
                        + "non-zero multiples of " + kind.sizeGranule());
            }
            regions.add(new RegionLayout(r.getName(), kind, r.getStartAddress(), r.getSizeBytes(),
                    r.getPageSizeBytes()));
        }
        if (regions.isEmpty()) {
            throw new IllegalArgumentException("layout has no regions");
        }
        return new GuestLayout(l.getSizeBytes(), regions, l.getVcpuCount());
    }

    public static dev.livemig.proto.v1.GuestLayout layout(GuestLayout l) {
        dev.livemig.proto.v1.GuestLayout.Builder b = dev.livemig.proto.v1.GuestLayout.newBuilder()
                .setSizeBytes(l.sizeBytes()).setVcpuCount(l.vcpuCount());
        for (RegionLayout r : l.regions()) {
            b.addRegions(dev.livemig.proto.v1.RegionLayout.newBuilder().setName(r.name())
                    .setKind(regionKind(r.kind())).setStartAddress(r.startAddress()).setSizeBytes(r.sizeBytes())
                    .setPageSizeBytes(r.pageSizeBytes()));
        }
        return b.build();
    }

    public static PageTransfer.HandshakeRequest handshakeRequest(dev.livemig.proto.v1.HandshakeRequest r) {
        if (!r.hasLayout()) {
            throw new IllegalArgumentException("handshake without a layout");
        }
        MigrationMode mode = mode(r.getMode());
        if (mode == null) {
            throw new IllegalArgumentException("handshake without a migration mode");
        }
        return new PageTransfer.HandshakeRequest(r.getProtocolVersion(), r.getMigrationId(), mode,
                layout(r.getLayout()), List.copyOf(r.getFeaturesList()), r.getReconnectTimeoutMs(), r.getGuestId());
    }

    public static dev.livemig.proto.v1.HandshakeRequest handshakeRequest(PageTransfer.HandshakeRequest r) {
        return dev.livemig.proto.v1.HandshakeRequest.newBuilder().setProtocolVersion(r.protocolVersion())
                .setMigrationId(r.migrationId()).setMode(mode(r.mode())).setLayout(layout(r.layout()))
                .addAllFeatures(r.features()).setReconnectTimeoutMs(r.reconnectTimeoutMs())
                .setGuestId(r.guestId() == null ? "" : r.guestId()).build();
    }

    public static PageTransfer.HandshakeResponse handshakeResponse(dev.livemig.proto.v1.HandshakeResponse r) {
        return new PageTransfer.HandshakeResponse(r.getAccepted(), r.getProtocolVersion(), r.getReason(),
                List.copyOf(r.getFeaturesList()));
    }

    public static dev.livemig.proto.v1.HandshakeResponse handshakeResponse(PageTransfer.HandshakeResponse r) {
        return dev.livemig.proto.v1.HandshakeResponse.newBuilder().setAccepted(r.accepted())
                .setProtocolVersion(r.protocolVersion()).setReason(nz(r.reason())).addAllFeatures(r.features())
                .build();
    }

    // ---- page stream --------------------------------------------------------------------

    public static PageTransfer.PageBatch pageBatch(dev.livemig.proto.v1.PageBatch b) {
        int n = b.getAddressesCount();
        if (b.getFlagsCount() != n || b.getCrc32CCount() != n) {
            throw new IllegalArgumentException("batch " + b.getSequence() + ": " + n + " addresses, "
                    + b.getFlagsCount() + " flags, " + b.getCrc32CCount() + " checksums");
        }
        long[] addrs = new long[n];
        int[] flags = new int[n];
        int[] crcs = new int[n];
        for (int i = 0; i < n; i++) {
            addrs[i] = b.getAddresses(i);
            flags[i] = b.getFlags(i);
            crcs[i] = b.getCrc32C(i);
        }
        Slice data = Slice.of(b.getData());
        return new PageTransfer.PageBatch(b.getMigrationId(), b.getRound(), b.getSequence(), b.getPageSizeBytes(),
                addrs, flags, crcs, data.array, b.getRoundComplete(), data.offset, data.length);
    }

    public static dev.livemig.proto.v1.PageBatch pageBatch(PageTransfer.PageBatch b) {
        dev.livemig.proto.v1.PageBatch.Builder p = dev.livemig.proto.v1.PageBatch.newBuilder()
                .setMigrationId(b.migrationId()).setRound(b.round()).setSequence(b.sequence())
                .setPageSizeBytes(b.pageSizeBytes()).setRoundComplete(b.roundComplete())
                .setData(b.dataLength() == 0 ? ByteString.EMPTY
                        : UnsafeByteOperations.unsafeWrap(b.data(), b.dataOffset(), b.dataLength()));
        for (int i = 0; i < b.pages(); i++) {
            p.addAddresses(b.addresses()[i]).addFlags(b.flags()[i]).addCrc32C(b.crc32c()[i]);
        }
        return p.build();
    }

    public static PageTransfer.PushPagesAck pushPagesAck(dev.livemig.proto.v1.PushPagesAck a) {
        return new PageTransfer.PushPagesAck(a.getMigrationId(), a.getBatchesReceived(), a.getPagesReceived(),
                a.getZeroPagesReceived(), a.getBytesReceived(), a.getChecksumMismatchPages(),
                a.getLastCompleteRound());
    }

    /** last_complete_round is unsigned on the wire; the engine's "none yet" (-1) goes as 0. */
    public static dev.livemig.proto.v1.PushPagesAck pushPagesAck(PageTransfer.PushPagesAck a) {
        return dev.livemig.proto.v1.PushPagesAck.newBuilder().setMigrationId(nz(a.migrationId()))
                .setBatchesReceived(a.batchesReceived()).setPagesReceived(a.pagesReceived())
                .setZeroPagesReceived(a.zeroPagesReceived()).setBytesReceived(a.bytesReceived())
                .setChecksumMismatchPages(a.checksumMismatchPages())
                .setLastCompleteRound(Math.max(0, a.lastCompleteRound())).build();
    }

    // ---- switchover ------------------------------------------------------------------------

    public static Vcpu.State vcpuState(dev.livemig.proto.v1.VcpuState v) {
        return new Vcpu.State(v.getVcpuIndex(), v.getAccessesDone(), v.getState().toByteArray(),
                v.getThrottlePercent());
    }

    public static dev.livemig.proto.v1.VcpuState vcpuState(Vcpu.State v) {
        return dev.livemig.proto.v1.VcpuState.newBuilder().setVcpuIndex(v.vcpuIndex())
                .setAccessesDone(v.accessesDone()).setState(wrap(v.state()))
                .setThrottlePercent(v.throttlePercent()).build();
    }

    public static PageTransfer.SwitchoverRequest switchoverRequest(dev.livemig.proto.v1.SwitchoverRequest r) {
        if (!r.hasLayout()) {
            throw new IllegalArgumentException("switchover without a layout");
        }
        return new PageTransfer.SwitchoverRequest(r.getMigrationId(), r.getFinalRound(), r.getBatchesSent(),
                layout(r.getLayout()), r.getVcpusList().stream().map(PageTransferCodec::vcpuState).toList(),
                r.getPostcopy(), r.getPauseUnixNs(), r.getTargetClockOffsetNs());
    }

    public static dev.livemig.proto.v1.SwitchoverRequest switchoverRequest(PageTransfer.SwitchoverRequest r) {
        dev.livemig.proto.v1.SwitchoverRequest.Builder b = dev.livemig.proto.v1.SwitchoverRequest.newBuilder()
                .setMigrationId(r.migrationId()).setFinalRound(r.finalRound()).setBatchesSent(r.batchesSent())
                .setLayout(layout(r.layout())).setPostcopy(r.postcopy()).setPauseUnixNs(r.pauseUnixNs())
                .setTargetClockOffsetNs(r.targetClockOffsetNs());
        for (Vcpu.State v : r.vcpus()) {
            b.addVcpus(vcpuState(v));
        }
        return b.build();
    }

    public static PageTransfer.SwitchoverResponse switchoverResponse(dev.livemig.proto.v1.SwitchoverResponse r) {
        return new PageTransfer.SwitchoverResponse(r.getResumed(), r.getResumeUnixNs(), r.getDowntimeMs(),
                r.getMissingPages(), r.getError(), r.getDrainMs(), r.getResumeMs(), r.getHandledMs());
    }

    public static dev.livemig.proto.v1.SwitchoverResponse switchoverResponse(PageTransfer.SwitchoverResponse r) {
        return dev.livemig.proto.v1.SwitchoverResponse.newBuilder().setResumed(r.resumed())
                .setResumeUnixNs(r.resumeUnixNs()).setDowntimeMs(r.downtimeMs()).setMissingPages(r.missingPages())
                .setError(nz(r.error())).setDrainMs(r.drainMs()).setResumeMs(r.resumeMs())
                .setHandledMs(r.handledMs()).build();
    }

    // ---- sync ------------------------------------------------------------------------------

    public static PageTransfer.SyncRequest syncRequest(dev.livemig.proto.v1.SyncRequest r) {
        return new PageTransfer.SyncRequest(r.getMigrationId(), r.getBatchesSent(), r.getEstimateResume());
    }

    public static dev.livemig.proto.v1.SyncRequest syncRequest(PageTransfer.SyncRequest r) {
        return dev.livemig.proto.v1.SyncRequest.newBuilder().setMigrationId(r.migrationId())
                .setBatchesSent(r.batchesSent()).setEstimateResume(r.estimateResume()).build();
    }

    public static PageTransfer.SyncResponse syncResponse(dev.livemig.proto.v1.SyncResponse r) {
        return new PageTransfer.SyncResponse(r.getTargetReceiveUnixNs(), r.getTargetReplyUnixNs(), r.getDrainMs(),
                r.getDrained(), r.getResumeEstimateMs(), r.getGuestAnswered());
    }

    public static dev.livemig.proto.v1.SyncResponse syncResponse(PageTransfer.SyncResponse r) {
        return dev.livemig.proto.v1.SyncResponse.newBuilder().setTargetReceiveUnixNs(r.targetReceiveUnixNs())
                .setTargetReplyUnixNs(r.targetReplyUnixNs()).setDrainMs(r.drainMs()).setDrained(r.drained())
                .setResumeEstimateMs(r.resumeEstimateMs()).setGuestAnswered(r.guestAnswered()).build();
    }

    // ---- post-copy priority channel ---------------------------------------------------------

    public static PageTransfer.PostcopySourceMessage postcopySource(PostcopySourceMessage m) {
        return switch (m.getKindCase()) {
            case START -> new PageTransfer.PostcopyStart(m.getStart().getMigrationId());
            case PAGE -> {
                dev.livemig.proto.v1.PageData d = m.getPage();
                yield new PageTransfer.PageData(d.getRequestId(), d.getAddress(), d.getFlags(), d.getCrc32C(),
                        d.getPageSizeBytes(), d.getData().toByteArray(), d.getSourceHoldNs());
            }
            case DONE -> new PageTransfer.PostcopySourceDone(m.getDone().getPagesSent());
            default -> throw new IllegalArgumentException("empty PostcopySourceMessage");
        };
    }

    public static PostcopySourceMessage postcopySource(PageTransfer.PostcopySourceMessage m) {
        PostcopySourceMessage.Builder b = PostcopySourceMessage.newBuilder();
        if (m instanceof PageTransfer.PostcopyStart s) {
            b.setStart(dev.livemig.proto.v1.PostcopyStart.newBuilder().setMigrationId(s.migrationId()));
        } else if (m instanceof PageTransfer.PageData d) {
            b.setPage(dev.livemig.proto.v1.PageData.newBuilder().setRequestId(d.requestId()).setAddress(d.address())
                    .setFlags(d.flags()).setCrc32C(d.crc32c()).setPageSizeBytes(d.pageSizeBytes())
                    .setData(wrap(d.data())).setSourceHoldNs(d.sourceHoldNanos()));
        } else if (m instanceof PageTransfer.PostcopySourceDone d) {
            b.setDone(dev.livemig.proto.v1.PostcopySourceDone.newBuilder().setPagesSent(d.pagesSent()));
        }
        return b.build();
    }

    public static PageTransfer.PostcopyTargetMessage postcopyTarget(PostcopyTargetMessage m) {
        return switch (m.getKindCase()) {
            case REQUEST -> {
                dev.livemig.proto.v1.PageRequest r = m.getRequest();
                yield new PageTransfer.PageRequest(r.getRequestId(), r.getAddress(), r.getVcpuIndex(),
                        r.getFaultUnixNs());
            }
            case DONE -> new PageTransfer.PostcopyTargetDone(m.getDone().getFaults(), m.getDone().getReceivedPages(),
                    latency(m.getDone().getFaultLatency()), new PageTransfer.PostcopyLegs(
                    latency(m.getDone().getNetworkLatency()), latency(m.getDone().getSourceHoldLatency()),
                    latency(m.getDone().getInstallLatency())));
            default -> throw new IllegalArgumentException("empty PostcopyTargetMessage");
        };
    }

    public static PostcopyTargetMessage postcopyTarget(PageTransfer.PostcopyTargetMessage m) {
        PostcopyTargetMessage.Builder b = PostcopyTargetMessage.newBuilder();
        if (m instanceof PageTransfer.PageRequest r) {
            b.setRequest(dev.livemig.proto.v1.PageRequest.newBuilder().setRequestId(r.requestId())
                    .setAddress(r.address()).setVcpuIndex(r.vcpuIndex()).setFaultUnixNs(r.faultUnixNs()));
        } else if (m instanceof PageTransfer.PostcopyTargetDone d) {
            b.setDone(dev.livemig.proto.v1.PostcopyTargetDone.newBuilder().setFaults(d.faults())
                    .setReceivedPages(d.receivedPages()).setFaultLatency(latency(d.faultLatency()))
                    .setNetworkLatency(latency(d.legs().network()))
                    .setSourceHoldLatency(latency(d.legs().sourceHold()))
                    .setInstallLatency(latency(d.legs().install())));
        }
        return b.build();
    }

    public static dev.livemig.proto.v1.LatencySummary latency(MigrationControl.LatencySummary l) {
        dev.livemig.proto.v1.LatencySummary.Builder b = dev.livemig.proto.v1.LatencySummary.newBuilder()
                .setCount(l.count()).setMeanUs(l.meanUs()).setP50Us(l.p50Us()).setP99Us(l.p99Us())
                .setMaxUs(l.maxUs());
        for (MigrationControl.LatencyBucket k : l.buckets()) {
            b.addBuckets(dev.livemig.proto.v1.LatencyBucket.newBuilder().setUpperBoundUs(k.upperBoundUs())
                    .setCount(k.count()));
        }
        return b.build();
    }

    public static MigrationControl.LatencySummary latency(dev.livemig.proto.v1.LatencySummary l) {
        List<MigrationControl.LatencyBucket> buckets = new ArrayList<>();
        for (dev.livemig.proto.v1.LatencyBucket k : l.getBucketsList()) {
            buckets.add(new MigrationControl.LatencyBucket(Math.round(k.getUpperBoundUs()), k.getCount()));
        }
        return new MigrationControl.LatencySummary(l.getCount(), l.getMeanUs(), l.getP50Us(), l.getP99Us(),
                l.getMaxUs(), buckets);
    }

    // ---- received bitmap and verification -----------------------------------------------------

    public static PageTransfer.ReceivedBitmapRequest receivedBitmapRequest(
            dev.livemig.proto.v1.ReceivedBitmapRequest r) {
        return new PageTransfer.ReceivedBitmapRequest(r.getMigrationId(), List.copyOf(r.getRegionNamesList()));
    }

    public static dev.livemig.proto.v1.ReceivedBitmapRequest receivedBitmapRequest(
            PageTransfer.ReceivedBitmapRequest r) {
        return dev.livemig.proto.v1.ReceivedBitmapRequest.newBuilder().setMigrationId(r.migrationId())
                .addAllRegionNames(r.regionNames()).build();
    }

    public static PageTransfer.ReceivedBitmapResponse receivedBitmapResponse(
            dev.livemig.proto.v1.ReceivedBitmapResponse r) {
        List<PageTransfer.RegionBitmap> regions = new ArrayList<>();
        for (dev.livemig.proto.v1.RegionBitmap b : r.getRegionsList()) {
            regions.add(new PageTransfer.RegionBitmap(b.getRegionName(), b.getStartAddress(), b.getPageSizeBytes(),
                    b.getPageCount(), b.getReceived().toByteArray(), b.getRequested().toByteArray(),
                    b.getDirtiedSinceSwitchover().toByteArray(), b.getReceivedPages()));
        }
        return new PageTransfer.ReceivedBitmapResponse(r.getMigrationId(), regions, r.getReceivedPages(),
                r.getMissingPages(), r.getPlacedBatches().toByteArray());
    }

    public static dev.livemig.proto.v1.ReceivedBitmapResponse receivedBitmapResponse(
            PageTransfer.ReceivedBitmapResponse r) {
        dev.livemig.proto.v1.ReceivedBitmapResponse.Builder p = dev.livemig.proto.v1.ReceivedBitmapResponse
                .newBuilder().setMigrationId(nz(r.migrationId())).setReceivedPages(r.receivedPages())
                .setMissingPages(r.missingPages()).setPlacedBatches(wrap(r.placedBatches()));
        for (PageTransfer.RegionBitmap b : r.regions()) {
            p.addRegions(dev.livemig.proto.v1.RegionBitmap.newBuilder().setRegionName(b.regionName())
                    .setStartAddress(b.startAddress()).setPageSizeBytes(b.pageSizeBytes())
                    .setPageCount(b.pageCount()).setReceived(wrap(b.received())).setRequested(wrap(b.requested()))
                    .setDirtiedSinceSwitchover(wrap(b.dirtiedSinceSwitchover()))
                    .setReceivedPages(b.receivedPages()));
        }
        return p.build();
    }

    public static PageTransfer.VerifyRequest verifyRequest(dev.livemig.proto.v1.VerifyRequest r) {
        List<PageTransfer.RegionChecksums> regions = new ArrayList<>();
        for (dev.livemig.proto.v1.RegionChecksums c : r.getRegionsList()) {
            int[] crcs = new int[c.getCrc32CCount()];
            for (int i = 0; i < crcs.length; i++) {
                crcs[i] = c.getCrc32C(i);
            }
            regions.add(new PageTransfer.RegionChecksums(c.getRegionName(), c.getStartAddress(),
                    c.getPageSizeBytes(), crcs));
        }
        return new PageTransfer.VerifyRequest(r.getMigrationId(), regions);
    }

    public static dev.livemig.proto.v1.VerifyRequest verifyRequest(PageTransfer.VerifyRequest r) {
        dev.livemig.proto.v1.VerifyRequest.Builder p = dev.livemig.proto.v1.VerifyRequest.newBuilder()
                .setMigrationId(r.migrationId());
        for (PageTransfer.RegionChecksums c : r.regions()) {
            dev.livemig.proto.v1.RegionChecksums.Builder cb = dev.livemig.proto.v1.RegionChecksums.newBuilder()
                    .setRegionName(c.regionName()).setStartAddress(c.startAddress())
                    .setPageSizeBytes(c.pageSizeBytes());
            for (int crc : c.crc32c()) {
                cb.addCrc32C(crc);
            }
            p.addRegions(cb);
        }
        return p.build();
    }

    public static PageTransfer.VerifyResponse verifyResponse(dev.livemig.proto.v1.VerifyResponse r) {
        return new PageTransfer.VerifyResponse(r.getVerifiedPages(), r.getMismatchPages(),
                r.getMismatchAddressesList().stream().mapToLong(Long::longValue).toArray());
    }

    public static dev.livemig.proto.v1.VerifyResponse verifyResponse(PageTransfer.VerifyResponse r) {
        dev.livemig.proto.v1.VerifyResponse.Builder p = dev.livemig.proto.v1.VerifyResponse.newBuilder()
                .setVerifiedPages(r.verifiedPages()).setMismatchPages(r.mismatchPages());
        for (long a : r.mismatchAddresses()) {
            p.addMismatchAddresses(a);
        }
        return p.build();
    }

    // ---- helpers ----------------------------------------------------------------------------

    /**
     * The bytes of a ByteString as an array range: the array itself when the ByteString is
     * a view of one (parsed with aliasing, see {@link AliasingMarshaller}), else a copy.
     */
    record Slice(byte[] array, int offset, int length) {
        static Slice of(ByteString bs) {
            if (bs.isEmpty()) {
                return new Slice(new byte[0], 0, 0);
            }
            Slice[] out = new Slice[1];
            try {
                UnsafeByteOperations.unsafeWriteTo(bs, new com.google.protobuf.ByteOutput() {
                    @Override
                    public void write(byte value) {
                        out[0] = null;
                    }

                    @Override
                    public void write(byte[] value, int offset, int length) {
                        lazy(value, offset, length);
                    }

                    @Override
                    public void writeLazy(byte[] value, int offset, int length) {
                        lazy(value, offset, length);
                    }

                    @Override
                    public void write(java.nio.ByteBuffer value) {
                        out[0] = null;
                    }

                    @Override
                    public void writeLazy(java.nio.ByteBuffer value) {
                        out[0] = null;
                    }

                    private void lazy(byte[] value, int offset, int length) {
                        // one range covering the whole ByteString: it is a view of that array
                        out[0] = out[0] == null && length == bs.size() ? new Slice(value, offset, length) : null;
                    }
                });
            } catch (java.io.IOException e) {
                throw new IllegalStateException(e);
            }
            return out[0] != null ? out[0] : new Slice(bs.toByteArray(), 0, bs.size());
        }
    }

    private static ByteString wrap(byte[] b) {
        return b == null || b.length == 0 ? ByteString.EMPTY : UnsafeByteOperations.unsafeWrap(b);
    }

    private static String nz(String s) {
        return s == null ? "" : s;
    }
}
