package dev.livemig.source;

import dev.livemig.migration.MigrationControl.MigrationParameters;
import dev.livemig.migration.MigrationControl.MigrationState;
import dev.livemig.migration.guest.Guest;
import dev.livemig.migration.source.OutgoingMigration;
import dev.livemig.mm.Kernel;
import dev.livemig.proto.v1.MigrationControlGrpc;
import dev.livemig.source.grpc.MigrationControlService;
import io.grpc.ManagedChannel;
import io.grpc.Server;
import io.grpc.ServerBuilder;
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
 */
public final class SourceNode implements AutoCloseable {
    private final Kernel kernel;
    private final Function<String, ManagedChannel> dialer;
    private final Map<String, Guest> guests = new ConcurrentHashMap<>();
    /** The spec each guest was created from, as the client sent it (GetGuest echoes it). */
    private final Map<String, dev.livemig.proto.v1.GuestSpec> guestSpecs = new ConcurrentHashMap<>();
    private final List<String> guestOrder = new ArrayList<>();
    private final Map<String, OutgoingMigration> migrations = new ConcurrentHashMap<>();
    private final List<String> migrationOrder = new ArrayList<>();
    private volatile MigrationParameters defaults = MigrationControlService.UNSET;
    private final HealthStatusManager health = new HealthStatusManager();
    private final MigrationControlService service;
    private final Server server;

    public SourceNode(ServerBuilder<?> builder, Kernel kernel, Function<String, ManagedChannel> dialer) {
        this.kernel = kernel;
        this.dialer = dialer;
        this.service = new MigrationControlService(this);
        this.server = builder.addService(service).addService(health.getHealthService())
                .addService(ProtoReflectionServiceV1.newInstance()).build();
    }

    public SourceNode start() throws IOException {
        server.start();
        health.setStatus("", ServingStatus.SERVING);
        health.setStatus(MigrationControlGrpc.SERVICE_NAME, ServingStatus.SERVING);
        return this;
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
            if (m.info().guestId().equals(guestId)) {
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
     * running, or one that completed (the guest runs on the target now).
     */
    public OutgoingMigration migrationOf(String guestId) {
        for (OutgoingMigration m : migrations.values()) {
            MigrationState s = m.state();
            if (m.info().guestId().equals(guestId) && s != MigrationState.FAILED && s != MigrationState.CANCELLED) {
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
