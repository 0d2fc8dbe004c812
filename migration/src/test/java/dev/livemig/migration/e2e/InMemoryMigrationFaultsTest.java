package dev.livemig.migration.e2e;

import dev.livemig.migration.target.IncomingMigration;
import dev.livemig.migration.transport.InMemoryPageChannel;
import dev.livemig.migration.transport.PageChannel;

/** The fault suite over {@link InMemoryPageChannel}: two engines, one JVM. */
class InMemoryMigrationFaultsTest extends AbstractMigrationFaultsTest {
    @Override
    protected PageChannel connect(IncomingMigration target) {
        return new InMemoryPageChannel(target);
    }
}
