package dev.livemig.migration.e2e;

import dev.livemig.migration.target.IncomingMigration;
import dev.livemig.migration.transport.InMemoryPageChannel;
import dev.livemig.migration.transport.PageChannel;

/** The end-to-end suite over {@link InMemoryPageChannel}: two engines, one JVM, queues between them. */
class InMemoryMigrationE2ETest extends AbstractMigrationE2ETest {
    @Override
    protected PageChannel connect(IncomingMigration target) {
        return new InMemoryPageChannel(target);
    }
}
