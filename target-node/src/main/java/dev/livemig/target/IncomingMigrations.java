package dev.livemig.target;

import dev.livemig.migration.target.IncomingMigration;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.function.Supplier;

/**
 * The incoming migrations a target node hosts, by migration id (QEMU has one
 * MigrationIncomingState per process; a target node here can receive several guests at
 * once, each into its own address space). A handshake opens one; every later RPC finds
 * it by id.
 */
public final class IncomingMigrations implements AutoCloseable {
    private final Supplier<IncomingMigration> factory;
    private final Map<String, IncomingMigration> byId = new ConcurrentHashMap<>();

    /** {@code factory} makes the engine for each new migration id (a fresh address space of the node's kernel). */
    public IncomingMigrations(Supplier<IncomingMigration> factory) {
        this.factory = factory;
    }

    /** The migration called {@code id}, created if new; {@code created[0]} says which. */
    public IncomingMigration open(String id, boolean[] created) {
        created[0] = false;
        return byId.computeIfAbsent(id, k -> {
            created[0] = true;
            return factory.get();
        });
    }

    /** Forgets a migration whose handshake failed, so that the source can retry under the same id. */
    public void drop(String id, IncomingMigration m) {
        byId.remove(id, m);
    }

    /** The migration called {@code id}, or null. */
    public IncomingMigration get(String id) {
        return byId.get(id);
    }

    public int size() {
        return byId.size();
    }

    /** Stops every hosted guest. */
    @Override
    public void close() {
        for (IncomingMigration m : byId.values()) {
            m.close();
        }
        byId.clear();
    }
}
