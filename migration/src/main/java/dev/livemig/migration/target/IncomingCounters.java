package dev.livemig.migration.target;

import dev.livemig.migration.MigrationControl.LatencySummary;

/**
 * The counters of one incoming migration, read at one moment: what tests and operators
 * check after a run (a page request never made in pre-copy, every duplicate recognised,
 * every damaged page caught). Kept apart from {@link IncomingMigration}, which is the
 * protocol's state machine; these only read what its placer and fault handler counted.
 */
public final class IncomingCounters {
    private final PagePlacer placer;
    private final PostcopyFaultHandler faults;
    private final long pageRequests;
    private final long duplicateBatches;

    IncomingCounters(PagePlacer placer, PostcopyFaultHandler faults, long pageRequests, long duplicateBatches) {
        this.placer = placer;
        this.faults = faults;
        this.pageRequests = pageRequests;
        this.duplicateBatches = duplicateBatches;
    }

    /** Fault to page-installed latency of post-copy requests, as the target saw it. */
    public LatencySummary faultLatency() {
        return faults == null ? LatencySummary.EMPTY : faults.faultLatency.summary();
    }

    /** Post-copy page requests sent to the source. */
    public long pageRequests() {
        return pageRequests;
    }

    /** UFFDIO_COPY answered EEXIST: the page had arrived on the other stream first. */
    public long copyRaces() {
        return placer == null ? 0 : placer.copyRaces.get();
    }

    /** Batches that arrived twice (the second copy was dropped). */
    public long duplicateBatches() {
        return duplicateBatches;
    }

    /** Pages of overtaken batches that were not placed because a later batch had placed them. */
    public long stalePages() {
        return placer == null ? 0 : placer.stalePages.get();
    }

    /** Pages that failed their checksum on arrival (each was dropped, and sent again or the switchover refused). */
    public long checksumMismatchPages() {
        return placer == null ? 0 : placer.checksumMismatchPages.get();
    }

    /** Pages dropped because the source said the copy here was stale (post-copy discard). */
    public long discardedPages() {
        return placer == null ? 0 : placer.discardedPages.get();
    }

    /** Pages the guest wrote here after the switchover (sync uffd-wp faults). */
    public long dirtiedSinceSwitchover() {
        return faults == null ? 0 : faults.dirtied.cardinality();
    }
}
