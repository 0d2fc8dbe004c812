/**
 * The outgoing side of a migration: {@code OutgoingMigration} (the state machine and
 * migration thread), {@code PrecopyEngine} (rounds and the final pass),
 * {@code Convergence} (the end-of-round decision and its reason), {@code PageSender}
 * (batches, zero pages, checksums, bandwidth limit), {@code PostcopyPageServer}
 * (priority answers and the background push) and {@code ProgressTicker} (the periodic
 * TransferProgress samples of watchers).
 */
package dev.livemig.migration.source;
