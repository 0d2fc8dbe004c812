package dev.livemig.source.grpc;

import com.google.protobuf.FieldMask;
import com.google.protobuf.util.FieldMaskUtil;
import dev.livemig.migration.MigrationControl.DirtyTrackerKind;
import dev.livemig.migration.MigrationControl.MigrationMode;
import dev.livemig.migration.MigrationControl.MigrationParameters;
import dev.livemig.migration.MigrationControl.MigrationState;
import dev.livemig.migration.MigrationControl.ProgressListener;
import dev.livemig.migration.MigrationControl.StateChange;
import dev.livemig.migration.guest.Guest;
import dev.livemig.migration.guest.GuestLayout;
import dev.livemig.migration.guest.GuestLayout.RegionLayout;
import dev.livemig.migration.guest.GuestSpec;
import dev.livemig.migration.source.OutgoingMigration;
import dev.livemig.migration.stats.PageChecksums;
import dev.livemig.migration.tracker.DirtyRateMeter;
import dev.livemig.proto.v1.CancelRequest;
import dev.livemig.proto.v1.CancelResponse;
import dev.livemig.proto.v1.CreateGuestRequest;
import dev.livemig.proto.v1.CreateGuestResponse;
import dev.livemig.proto.v1.DirtyRateResult;
import dev.livemig.proto.v1.GetGuestRequest;
import dev.livemig.proto.v1.GetInfoRequest;
import dev.livemig.proto.v1.GuestInfo;
import dev.livemig.proto.v1.MeasureDirtyRateRequest;
import dev.livemig.proto.v1.MigrationControlGrpc;
import dev.livemig.proto.v1.MigrationInfo;
import dev.livemig.proto.v1.ProgressEvent;
import dev.livemig.proto.v1.RegionInfo;
import dev.livemig.proto.v1.RoundRecord;
import dev.livemig.proto.v1.RunRoundRequest;
import dev.livemig.proto.v1.SetParametersRequest;
import dev.livemig.proto.v1.StartMigrationRequest;
import dev.livemig.proto.v1.StartMigrationResponse;
import dev.livemig.proto.v1.StopGuestRequest;
import dev.livemig.proto.v1.StopGuestResponse;
import dev.livemig.proto.v1.WatchRequest;
import dev.livemig.source.SourceNode;
import dev.livemig.target.grpc.PageTransferCodec;
import dev.livemig.target.grpc.PageTransferService;
import io.grpc.ManagedChannel;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.stub.ServerCallStreamObserver;
import io.grpc.stub.StreamObserver;
import java.util.ArrayList;
import java.util.List;
import java.util.UUID;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * livemig.v1.MigrationControl on the source node: each RPC validates and maps its request
 * ({@link MigrationControlCodec}), calls the engine ({@link Guest}, {@link OutgoingMigration},
 * {@link DirtyRateMeter}) and maps the answer back. A malformed request is
 * INVALID_ARGUMENT and an unknown guest or migration NOT_FOUND, both before anything
 * changes; the engine's refusals ("FAILED_PRECONDITION: ...") keep their code.
 */
public final class MigrationControlService extends MigrationControlGrpc.MigrationControlImplBase
        implements AutoCloseable {
    /** Node defaults before any SetParameters: every field "engine default". */
    public static final MigrationParameters UNSET =
            new MigrationParameters(null, 0, 0, 0, null, null, 0, 0, 0, 0, false, 0, false);
    /** MeasureDirtyRate blocks its call; a window longer than this is a mistake. */
    static final long MAX_DIRTY_RATE_DURATION_MS = 600_000;

    private final SourceNode node;
    private final AtomicInteger guestIds = new AtomicInteger();
    /** One per migration started here: each redials its target if post-copy breaks, until the node closes. */
    private final java.util.List<PostcopyReconnector> reconnectors = new java.util.concurrent.CopyOnWriteArrayList<>();
    private final ExecutorService watchers = Executors.newCachedThreadPool(r -> {
        Thread t = new Thread(r, "watch");
        t.setDaemon(true);
        return t;
    });

    public MigrationControlService(SourceNode node) {
        this.node = node;
    }

    // ---- guests ---------------------------------------------------------------------------

    @Override
    public void createGuest(CreateGuestRequest request, StreamObserver<CreateGuestResponse> out) {
        unary(out, () -> {
            if (!request.hasSpec()) {
                throw new IllegalArgumentException("spec missing");
            }
            GuestSpec spec = MigrationControlCodec.guestSpec(request.getSpec());
            Guest g = Guest.create(node.kernel(), spec);
            String id = "guest-" + guestIds.incrementAndGet();
            node.addGuest(id, g, request.getSpec());
            g.start();
            return describe(id, g);
        });
    }

    private static CreateGuestResponse describe(String id, Guest g) {
        CreateGuestResponse.Builder b = CreateGuestResponse.newBuilder().setGuestId(id)
                .setSizeBytes(g.layout().sizeBytes());
        return b.setPopulatedPages(addRegions(g, b::addRegions)).build();
    }

    /** Adds one RegionInfo per region of the guest; returns the populated pages over all regions. */
    private static long addRegions(Guest g, java.util.function.Consumer<RegionInfo> add) {
        GuestLayout layout = g.layout();
        // a guest that migrated away has no memory left here
        boolean[] present = g.isReleased() ? new boolean[layout.pages()] : PageChecksums.presentPages(g.mm(), layout);
        long total = 0;
        for (int r = 0; r < layout.regions().size(); r++) {
            RegionLayout rl = layout.regions().get(r);
            int from = layout.firstPage(r);
            long n = 0;
            for (int i = from; i < from + rl.pages(); i++) {
                n += present[i] ? 1 : 0;
            }
            total += n;
            add.accept(RegionInfo.newBuilder().setName(rl.name()).setKind(PageTransferCodec.regionKind(rl.kind()))
                    .setStartAddress(rl.startAddress()).setSizeBytes(rl.sizeBytes())
                    .setPageSizeBytes(rl.pageSizeBytes()).setPopulatedPages(n).build());
        }
        return total;
    }

    @Override
    public void getGuest(GetGuestRequest request, StreamObserver<GuestInfo> out) {
        unary(out, () -> {
            String id = request.getGuestId().isEmpty() ? node.latestGuestId() : request.getGuestId();
            if (id == null) {
                throw Status.NOT_FOUND.withDescription("no guest yet").asRuntimeException();
            }
            Guest g = guest(id);
            GuestInfo.Builder b = GuestInfo.newBuilder().setGuestId(id).setSpec(node.guestSpec(id))
                    .setSizeBytes(g.layout().sizeBytes()).setRunning(g.isRunning()).setAccesses(g.accessesDone());
            b.setPopulatedPages(addRegions(g, b::addRegions));
            OutgoingMigration m = node.latestMigrationOf(id);
            return b.setMigrationId(m == null ? "" : m.id()).build();
        });
    }

    /**
     * Stops the vCPUs and frees the guest's memory (exit_mmap), a received guest's
     * userfaultfd with it. Refused while a migration of the guest runs: the engine still
     * reads (pre-copy) or serves (post-copy) its pages.
     */
    @Override
    public void stopGuest(StopGuestRequest request, StreamObserver<StopGuestResponse> out) {
        unary(out, () -> {
            Guest g;
            synchronized (node) {
                guest(request.getGuestId());
                OutgoingMigration m = node.latestMigrationOf(request.getGuestId());
                if (m != null && !m.state().isFinal()) {
                    throw Status.FAILED_PRECONDITION.withDescription("guest " + request.getGuestId() + " is under "
                            + m.id() + " (" + m.state() + "): cancel it first").asRuntimeException();
                }
                node.takeOver(request.getGuestId());
                g = node.removeGuest(request.getGuestId());
            }
            g.release();
            return StopGuestResponse.newBuilder().setGuestId(request.getGuestId()).build();
        });
    }

    private Guest guest(String id) {
        if (id.isEmpty()) {
            throw new IllegalArgumentException("guest_id missing");
        }
        Guest g = node.guest(id);
        if (g == null) {
            throw Status.NOT_FOUND.withDescription("no guest " + id).asRuntimeException();
        }
        return g;
    }

    // ---- migrations ---------------------------------------------------------------------

    @Override
    public void startMigration(StartMigrationRequest request, StreamObserver<StartMigrationResponse> out) {
        unary(out, () -> {
            Guest g = guest(request.getGuestId());
            if (request.getTargetAddress().isEmpty()) {
                throw new IllegalArgumentException("target_address missing");
            }
            MigrationParameters p = MigrationControlCodec.parameters(
                    MigrationControlCodec.parameters(node.defaults()).toBuilder()
                            .mergeFrom(request.getParameters()).build()).withDefaults();
            checkRanges(p);
            OutgoingMigration m;
            synchronized (node) {
                OutgoingMigration busy = node.migrationOf(request.getGuestId());
                if (busy != null) {
                    throw Status.FAILED_PRECONDITION.withDescription("guest " + request.getGuestId()
                            + " is " + (busy.state() == MigrationState.COMPLETED ? "gone: migrated by " : "under ")
                            + busy.id()).asRuntimeException();
                }
                node.takeOver(request.getGuestId()); // a received guest: its userfaultfd goes, a tracker's comes
                ManagedChannel channel = node.dial(request.getTargetAddress());
                // post-copy page requests get a connection of their own (QEMU's preempt channel),
                // to the target's post-copy listener if it announces one
                PostcopyConnection preempt = new PostcopyConnection(request.getTargetAddress(), node.postcopyDialer());
                GrpcPageChannel.PostcopyRoute route = p.mode() == MigrationMode.PRECOPY ? () -> channel : preempt;
                // the page stream's multifd channels: the first on the control connection, each other on its own
                int multifd = request.getParameters().getMultifdChannels() > 0
                        ? request.getParameters().getMultifdChannels()
                        : p.mode() == MigrationMode.POSTCOPY ? 1 : DEFAULT_MULTIFD_CHANNELS;
                if (multifd > MAX_MULTIFD_CHANNELS) {
                    throw new IllegalArgumentException("multifd_channels " + multifd + " > " + MAX_MULTIFD_CHANNELS);
                }
                List<ManagedChannel> pushChannels = new ArrayList<>(List.of(channel));
                while (pushChannels.size() < multifd) {
                    pushChannels.add(node.dial(request.getTargetAddress()));
                }
                String id = "mig-" + UUID.randomUUID().toString().substring(0, 8);
                m = new OutgoingMigration(id, request.getGuestId(), request.getTargetAddress(), g,
                        new GrpcPageChannel(channel, route, pushChannels, () -> {
                            pushChannels.forEach(ManagedChannel::shutdown);
                            preempt.shutdown();
                        }), p);
                // the guest runs on the target and was verified (QEMU's source exits here): its
                // memory goes before anyone sees COMPLETED; its entry and the migration's info stay
                m.beforeCompleted(g::release);
                node.addMigration(m);
                String address = request.getTargetAddress();
                NodeDowntimeProbe probe = new NodeDowntimeProbe(id, g, node.dial(address));
                m.setDowntimeProbe(probe.start());
                m.addListener(probe);
                PostcopyReconnector r = new PostcopyReconnector(m, () -> node.dial(address), preempt);
                reconnectors.add(r);
                m.addListener(r);
                m.addListener(new ProgressListener() {
                    @Override
                    public void onStateChange(StateChange c) {
                        if (c.toState().isFinal()) {
                            pushChannels.forEach(ManagedChannel::shutdown); // graceful: calls in flight finish
                            preempt.shutdown();
                        }
                    }
                });
            }
            m.start();
            return StartMigrationResponse.newBuilder().setMigrationId(m.id())
                    .setState(MigrationControlCodec.state(m.state()))
                    .setParameters(MigrationControlCodec.parameters(m.parameters())).build();
        });
    }

    /**
     * Page streams of a migration unless its parameters say otherwise (QEMU's multifd-channels
     * default is 2). A post-copy migration defaults to one: its page stream is the background
     * push, and a second sending and receiving thread takes the cores that the faulting
     * vCPUs' requests wait for (p50 1.7-2.6 ms with two, 0.7-0.8 ms with one, in the same
     * run on 2 loaded cores; docs/benchmarks.md).
     */
    static final int DEFAULT_MULTIFD_CHANNELS = 2;
    static final int MAX_MULTIFD_CHANNELS = 16;

    private static void checkRanges(MigrationParameters p) {
        if (p.throttleInitialPercent() > 99 || p.throttleIncrementPercent() > 99) {
            throw new IllegalArgumentException("throttle percentages must be below 100");
        }
        if (p.batchPages() > 4096) {
            throw new IllegalArgumentException("batch_pages " + p.batchPages() + " > 4096");
        }
    }

    private OutgoingMigration migration(String id) {
        if (id.isEmpty()) {
            throw new IllegalArgumentException("migration_id missing");
        }
        OutgoingMigration m = node.migration(id);
        if (m == null) {
            throw Status.NOT_FOUND.withDescription("no migration " + id).asRuntimeException();
        }
        return m;
    }

    @Override
    public void runRound(RunRoundRequest request, StreamObserver<RoundRecord> out) {
        unary(out, () -> {
            OutgoingMigration m = migration(request.getMigrationId());
            var r = m.runRound();
            if (r == null) {
                throw Status.FAILED_PRECONDITION.withDescription("no round ran: migration is " + m.state()
                        + (m.error().isEmpty() ? "" : " (" + m.error() + ")")).asRuntimeException();
            }
            return MigrationControlCodec.round(r);
        });
    }

    @Override
    public void watch(WatchRequest request, StreamObserver<ProgressEvent> out) {
        OutgoingMigration m;
        try {
            m = migration(request.getMigrationId());
        } catch (RuntimeException e) {
            out.onError(PageTransferService.toStatus(e));
            return;
        }
        watchers.execute(new WatchStream(m, (ServerCallStreamObserver<ProgressEvent>) out,
                request.getIncludeHistory(), request.getProgressIntervalMs()));
    }

    @Override
    public void getInfo(GetInfoRequest request, StreamObserver<MigrationInfo> out) {
        unary(out, () -> {
            OutgoingMigration m = request.getMigrationId().isEmpty() ? node.latestMigration()
                    : migration(request.getMigrationId());
            if (m == null) {
                throw Status.NOT_FOUND.withDescription("no migration yet").asRuntimeException();
            }
            return MigrationControlCodec.info(m.info(), request.getOmitRounds());
        });
    }

    @Override
    public void cancel(CancelRequest request, StreamObserver<CancelResponse> out) {
        unary(out, () -> {
            OutgoingMigration m = migration(request.getMigrationId());
            String reason = request.getReason().isEmpty() ? "cancelled by client" : request.getReason();
            return CancelResponse.newBuilder().setState(MigrationControlCodec.state(m.cancel(reason))).build();
        });
    }

    /**
     * Applies the masked fields of the request onto the parameters in force (a running
     * migration's, or the node's defaults); no mask applies every field the request sets.
     */
    @Override
    public void setParameters(SetParametersRequest request,
                              StreamObserver<dev.livemig.proto.v1.MigrationParameters> out) {
        unary(out, () -> {
            FieldMask mask = request.getUpdateMask();
            if (!FieldMaskUtil.isValid(dev.livemig.proto.v1.MigrationParameters.class, mask)) {
                throw new IllegalArgumentException("update_mask names no field of MigrationParameters: "
                        + mask.getPathsList());
            }
            OutgoingMigration m = request.getMigrationId().isEmpty() ? null : migration(request.getMigrationId());
            MigrationParameters current = m == null ? node.defaults() : m.parameters();
            dev.livemig.proto.v1.MigrationParameters.Builder b = MigrationControlCodec.parameters(current).toBuilder();
            if (mask.getPathsCount() == 0) {
                b.mergeFrom(request.getParameters());
            } else {
                FieldMaskUtil.merge(mask, request.getParameters(), b,
                        new FieldMaskUtil.MergeOptions().setReplacePrimitiveFields(true));
            }
            MigrationParameters next = MigrationControlCodec.parameters(b.build());
            checkRanges(next.withDefaults());
            if (m == null) {
                MigrationParameters filled = next.withDefaults();
                node.setDefaults(next);
                return MigrationControlCodec.parameters(filled);
            }
            return MigrationControlCodec.parameters(m.setParameters(next));
        });
    }

    @Override
    public void getNodeStats(dev.livemig.proto.v1.GetNodeStatsRequest request,
                             StreamObserver<dev.livemig.proto.v1.NodeStats> out) {
        unary(out, node::stats);
    }

    // ---- dirty rate -------------------------------------------------------------------------

    @Override
    public void measureDirtyRate(MeasureDirtyRateRequest request, StreamObserver<DirtyRateResult> out) {
        unary(out, () -> {
            Guest g = guest(request.getGuestId());
            if (request.getDurationMs() > MAX_DIRTY_RATE_DURATION_MS) {
                throw new IllegalArgumentException("duration_ms " + request.getDurationMs() + " > "
                        + MAX_DIRTY_RATE_DURATION_MS);
            }
            if (node.migrationOf(request.getGuestId()) != null) {
                throw Status.FAILED_PRECONDITION.withDescription("guest " + request.getGuestId()
                        + " is being migrated or has left").asRuntimeException();
            }
            node.takeOver(request.getGuestId()); // a received guest: the tracker registers its memory
            DirtyTrackerKind kind = MigrationControlCodec.tracker(request.getTracker());
            try {
                return MigrationControlCodec.dirtyRate(DirtyRateMeter.measure(request.getGuestId(), g,
                        kind == null ? DirtyTrackerKind.WP_ASYNC : kind, request.getDurationMs(),
                        request.getPeriodMs()));
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw Status.CANCELLED.withDescription("interrupted").asRuntimeException();
            }
        });
    }

    // ---- helpers ----------------------------------------------------------------------------

    private interface Call<R> {
        R run();
    }

    /**
     * Runs a unary call; the engine's "FAILED_PRECONDITION: ..." and "INVALID_ARGUMENT: ..."
     * messages keep their codes.
     */
    private static <R> void unary(StreamObserver<R> out, Call<R> call) {
        R r;
        try {
            r = call.run();
        } catch (RuntimeException e) {
            out.onError(status(e));
            return;
        }
        out.onNext(r);
        out.onCompleted();
    }

    private static StatusRuntimeException status(RuntimeException e) {
        String msg = e.getMessage() == null ? "" : e.getMessage();
        if (e instanceof StatusRuntimeException) {
            return PageTransferService.toStatus(e);
        }
        // the code moves from the message to the status; clients print both
        if (msg.startsWith("FAILED_PRECONDITION")) {
            return Status.FAILED_PRECONDITION.withDescription(withoutCode(msg)).asRuntimeException();
        }
        if (msg.startsWith("INVALID_ARGUMENT")) {
            return Status.INVALID_ARGUMENT.withDescription(withoutCode(msg)).asRuntimeException();
        }
        return PageTransferService.toStatus(e);
    }

    private static String withoutCode(String msg) {
        int colon = msg.indexOf(':');
        return colon < 0 ? msg : msg.substring(colon + 1).strip();
    }

    @Override
    public void close() {
        watchers.shutdownNow();
        for (PostcopyReconnector r : reconnectors) {
            r.stop();
        }
    }
}
