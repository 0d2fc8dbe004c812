/**
 * The migration engine: moves a running simulated guest from one {@code common-mm}
 * kernel to another, in QEMU's vocabulary (setup, iterate, complete, postcopy) and
 * states (SETUP, ACTIVE, POSTCOPY_ACTIVE, COMPLETED, FAILED, CANCELLED).
 *
 * <ul>
 * <li>{@code guest}: the simulated guest (regions, vCPU workloads, ground-truth write log).</li>
 * <li>{@code tracker}: dirty-page trackers (WP_ASYNC + PAGEMAP_SCAN, sync uffd-wp, soft-dirty).</li>
 * <li>{@code transport}: the data-plane messages and the {@code PageChannel} every transport implements.</li>
 * <li>{@code source}: the outgoing side: pre-copy rounds, convergence, switchover, post-copy page server.</li>
 * <li>{@code target}: the incoming side: page placement with userfaultfd, post-copy fault handling.</li>
 * <li>{@code stats}: latency histograms and page checksums.</li>
 * </ul>
 *
 * <p>{@link dev.livemig.migration.MigrationControl} mirrors {@code migration_control.proto}
 * and {@code transport.PageTransfer} mirrors {@code page_transfer.proto}, so the gRPC
 * nodes only map messages. This module imports nothing from gRPC or protobuf.
 */
package dev.livemig.migration;
