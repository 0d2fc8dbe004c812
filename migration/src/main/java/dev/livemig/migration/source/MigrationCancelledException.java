package dev.livemig.migration.source;

/** Unwinds a migration step when a cancel was requested (checked between batches). */
final class MigrationCancelledException extends RuntimeException {
    MigrationCancelledException() {
        super("migration cancelled", null, false, false);
    }
}
