/**
 * The incoming side of a migration: {@code IncomingMigration} serves the
 * {@code PageChannel} calls, {@code PagePlacer} installs pages with UFFDIO_COPY /
 * UFFDIO_ZEROPAGE (and drops stale copies), and {@code PostcopyFaultHandler} turns
 * missing-page faults into priority requests and write-protect faults into the record of
 * pages dirtied since switchover.
 */
package dev.livemig.migration.target;
