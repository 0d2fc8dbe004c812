package dev.livemig.source;

import dev.livemig.migration.MigrationControl.MigrationParameters;
import dev.livemig.migration.MigrationControl.MigrationState;
import dev.livemig.migration.guest.Guest;
import dev.livemig.migration.source.OutgoingMigration;
import dev.livemig.migration.target.IncomingMigration;
import dev.livemig.mm.Kernel;
import dev.livemig.proto.v1.MigrationControlGrpc;
import dev.livemig.proto.v1.NodeStats;
import dev.livemig.proto.v1.PageTransferGrpc;
import dev.livemig.source.grpc.MigrationControlService;
import dev.livemig.target.IncomingMigrations;
import dev.livemig.target.TargetNode;
import dev.livemig.target.grpc.PageTransferService;
import io.grpc.Grpc;
import io.grpc.InsecureChannelCredentials;
import io.grpc.ManagedChannel;
import io.grpc.Server;
import io.grpc.ServerBuilder;
import io.grpc.ServerInterceptors;
import io.grpc.health.v1.HealthCheckResponse.ServingStatus;
import io.grpc.protobuf.services.ProtoReflectionServiceV1;
import io.grpc.services.HealthStatusManager;
import java.io.IOException;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.function.Function;

/**
 * A source node: the guests it runs in its simulated kernel, their outgoing migrations,
 * and the MigrationControl service over them (plus grpc.health.v1 and reflection), on
 * whatever transport the given {@link ServerBuilder} builds. Targets are dialled through
 * {@code dialer} (Netty in {@link SourceNodeMain}, in-process in tests).
 *
 * <p>It is a target too: it serves livemig.v1.PageTransfer (the target node's service and
 * engine) into the same kernel, and a guest it received becomes one of its guests once it
 * runs here with every page (under the id it had on its source), so it can be migrated
 * onward, or back, with the same MigrationControl calls. The incoming migration keeps the
 * guest's userfaultfd (its writes tracked for the source's verification) until the guest
 * is migrated again or stopped; then it hands the guest over ({@link #takeOver}).
 *
 * <p>A guest that migrated away stays listed (GetGuest, GetInfo) with its memory released.
 */
public final class SourceNode implements AutoCloseable {
    private final Kernel kernel;
    private final Function<String, ManagedChannel> dialer;
    private final Function<String, ManagedChannel> postcopyDialer;
    private final Map<String, Guest> guests = new ConcurrentHashMap<>();
    /** The spec each guest was created from, as the client sent it (GetGuest echoes it). */
    private final Map<String, dev.livemig.proto.v1.GuestSpec> guestSpecs = new ConcurrentHashMap<>();
    private final List<String> guestOrder = new ArrayList<>();
    private final Map<String, OutgoingMigration> migrations = new ConcurrentHashMap<>();
    private final IncomingMigrations incoming;
    /** Received guests whose incoming migration still holds them (until {@link #takeOver}), by guest id. */
    private final Map<String, IncomingMigration> receivedBy = new ConcurrentHashMap<>();
    private final List<String> migrationOrder = new ArrayList<>();
    private volatile MigrationParameters defaults = MigrationControlService.UNSET;
    private final HealthStatusManager health = new HealthStatusManager();
    private final MigrationControlService service;
    private final Server server;

    public SourceNode(ServerBuilder<?> builder, Kernel kernel, Function<String, ManagedChannel> dialer) {
        this(builder, kernel, dialer, dialer);
    }

    /**
     * As above; the post-copy priority connection of each migration is dialed with
     * {@code postcopyDialer} ({@link #dialOnOwnLoop} in {@link SourceNodeMain}: an event
     * loop of its own, so that page requests are not read by the loop that writes the push).
     */
    public SourceNode(ServerBuilder<?> builder, Kernel kernel, Function<String, ManagedChannel> dialer,
                      Function<String, ManagedChannel> postcopyDialer) {
        this.kernel = kernel;
        this.dialer = dialer;
        this.postcopyDialer = postcopyDialer;
        this.service = new MigrationControlService(this);
        this.incoming = new IncomingMigrations(() -> {
            IncomingMigration m = new IncomingMigration(kernel);
            m.whenCompleted(this::adopt);
            return m;
        });
        this.server = builder.addService(service)
                .addService(ServerInterceptors.intercept(new PageTransferService(incoming),
                        PageTransferService.migrationIdInterceptor()))
                .addService(health.getHealthService())
                .addService(ProtoReflectionServiceV1.newInstance())
                .maxInboundMessageSize(TargetNode.MAX_INBOUND_MESSAGE_BYTES)
                .build();
    }

    /**
     * How a node reaches a target (the {@code dialer} of the node's main, and of tests that
     * run a source in-process against target processes): plaintext gRPC over Netty, taking
     * messages as large as a page batch or a received bitmap can be.
     */
    public static ManagedChannel dialOverNetty(String target) {
        // no gRPC retries: the engine resends what a broken stream lost by batch sequence,
        // and a retry buffer would keep each sent batch (and its reused page array) for a replay
        return Grpc.newChannelBuilder(target, InsecureChannelCredentials.create())
                .maxInboundMessageSize(TargetNode.MAX_INBOUND_MESSAGE_BYTES).disableRetry().build();
    }

    /** As {@link #dialOverNetty}, on a one-thread event loop group of the channel's own, ended with it. */
    public static ManagedChannel dialOnOwnLoop(String target) {
        return dev.livemig.source.grpc.OwnLoopChannel.dial(target);
    }

    public SourceNode start() throws IOException {
        server.start();
        health.setStatus("", ServingStatus.SERVING);
        health.setStatus(MigrationControlGrpc.SERVICE_NAME, ServingStatus.SERVING);
        health.setStatus(PageTransferGrpc.SERVICE_NAME, ServingStatus.SERVING);
        return this;
    }

    /** The incoming migrations this node hosts as a target. */
    public IncomingMigrations incoming() {
        return incoming;
    }

    /**
     * A received guest runs here with every page: it joins this node's guests under the id
     * it had on its source, replacing a migrated-away entry of the same id (the guest came
     * back); if a guest that lives here has that id, under the migration's id instead.
     */
    private synchronized void adopt(IncomingMigration m) {
        String id = m.guestId();
        Guest here = id.isEmpty() ? null : guests.get(id);
        if (id.isEmpty() || (here != null && !here.isReleased())) {
            id = m.migrationId();
        }
        guests.put(id, m.guest());
        guestSpecs.putIfAbsent(id, dev.livemig.proto.v1.GuestSpec.getDefaultInstance());
        guestOrder.remove(id);
        guestOrder.add(id);
        receivedBy.put(id, m);
    }

    /**
     * Before a received guest is migrated onward, measured or stopped: its incoming migration
     * hands it over (its userfaultfd closed, so a dirty tracker can register the memory; if
     * the previous source has not verified yet, the pages as they were at resume are
     * checksummed first) and is forgotten.
     */
    public void takeOver(String guestId) {
        IncomingMigration m;
        synchronized (this) {
            m = receivedBy.remove(guestId);
        }
        if (m != null) {
            m.handOver();
            incoming.drop(m.migrationId(), m);
        }
    }

    /** Engine threads by name: those the engine starts and ends itself (not pools: gRPC's, the JVM's, Watch's). */
    private static final List<String> ENGINE_THREADS = List.of("vcpu-", "migration-", "postcopy-", "progress-",
            "reconnect-wait-", "uffd-wp-monitor-", "inmem-", "downtime-probe");

    /** GetNodeStats: what this node holds now. */
    public NodeStats stats() {
        long threads = Thread.getAllStackTraces().keySet().stream()
                .filter(t -> t.isAlive() && ENGINE_THREADS.stream().anyMatch(p -> t.getName().startsWith(p))).count();
        String[] fds = new java.io.File("/proc/self/fd").list();
        int running = 0;
        for (Guest g : guests.values()) {
            running += g.isRunning() ? 1 : 0;
        }
        return NodeStats.newBuilder().setEngineThreads((int) threads).setOpenFds(fds == null ? 0 : fds.length)
                .setAllocatedFrames(kernel.physMem().allocatedPages()).setOffHeapBytes(kernel.physMem().reservedBytes())
                .setAddressSpaces(kernel.liveMms().size()).setFreeHugePages(kernel.hugetlbPool().free())
                .setGuests(guests.size()).setRunningGuests(running).setIncomingMigrations(incoming.size()).build();
    }

    public int port() {
        return server.getPort();
    }

    /** The grpc.health.v1 statuses this node serves (an embedder may mark it NOT_SERVING to drain it). */
    public HealthStatusManager health() {
        return health;
    }

    public void awaitTermination() throws InterruptedException {
        server.awaitTermination();
    }

    // ---- state the service maps onto ----------------------------------------------------

    public Kernel kernel() {
        return kernel;
    }

    public ManagedChannel dial(String targetAddress) {
        return dialer.apply(targetAddress);
    }

    /** The node's dialer for post-copy priority connections. */
    public Function<String, ManagedChannel> postcopyDialer() {
        return postcopyDialer;
    }

    public Guest guest(String id) {
        return guests.get(id);
    }

    public synchronized void addGuest(String id, Guest g, dev.livemig.proto.v1.GuestSpec spec) {
        guests.put(id, g);
        guestSpecs.put(id, spec);
        guestOrder.add(id);
    }

    public dev.livemig.proto.v1.GuestSpec guestSpec(String id) {
        return guestSpecs.get(id);
    }

    /** The most recently created guest still on this node, or null. */
    public synchronized String latestGuestId() {
        for (int i = guestOrder.size() - 1; i >= 0; i--) {
            if (guests.containsKey(guestOrder.get(i))) {
                return guestOrder.get(i);
            }
        }
        return null;
    }

    /** Forgets a guest (StopGuest); the caller stops it and frees its memory. */
    public synchronized Guest removeGuest(String id) {
        guestSpecs.remove(id);
        guestOrder.remove(id);
        return guests.remove(id);
    }

    /** The most recently started migration of a guest, whatever its state, or null. */
    public synchronized OutgoingMigration latestMigrationOf(String guestId) {
        for (int i = migrationOrder.size() - 1; i >= 0; i--) {
            OutgoingMigration m = migrations.get(migrationOrder.get(i));
            if (m.guestId().equals(guestId)) {
                return m;
            }
        }
        return null;
    }

    public OutgoingMigration migration(String id) {
        return migrations.get(id);
    }

    public synchronized void addMigration(OutgoingMigration m) {
        migrations.put(m.id(), m);
        migrationOrder.add(m.id());
    }

    /** The most recently started migration, or null. */
    public synchronized OutgoingMigration latestMigration() {
        return migrationOrder.isEmpty() ? null : migrations.get(migrationOrder.get(migrationOrder.size() - 1));
    }

    /**
     * The migration that has or had the guest, if it is not over for the source: one still
     * running, or one that completed (the guest runs on the target now). A guest that came
     * back since is a new guest under the same id, which no migration has had yet.
     */
    public OutgoingMigration migrationOf(String guestId) {
        Guest current = guests.get(guestId);
        for (OutgoingMigration m : migrations.values()) {
            MigrationState s = m.state();
            if (m.guestId().equals(guestId) && m.guest() == current
                    && s != MigrationState.FAILED && s != MigrationState.CANCELLED) {
                return m;
            }
        }
        return null;
    }

    /** The node's defaults as set (zero and null: the engine's default), not filled in. */
    public MigrationParameters defaults() {
        return defaults;
    }

    public void setDefaults(MigrationParameters p) {
        defaults = p;
    }

    /** Stops serving, cancels what still runs and stops the guests. */
    @Override
    public void close() {
        health.enterTerminalState();
        server.shutdown();
        service.close();
        for (OutgoingMigration m : migrations.values()) {
            if (m.state() != MigrationState.POSTCOPY_ACTIVE && !m.state().isFinal()) {
                m.cancel("source node shutting down");
            }
        }
        incoming.close(); // stops the guests still held by their incoming migration
        for (Guest g : guests.values()) {
            g.close();
        }
        try {
            if (!server.awaitTermination(5, TimeUnit.SECONDS)) {
                server.shutdownNow();
            }
        } catch (InterruptedException e) {
            server.shutdownNow();
            Thread.currentThread().interrupt();
        }
    }
}
