package dev.livemig.migration.source;

import dev.livemig.migration.stats.PageChecksums.PresentMethod;
import java.util.ArrayList;
import java.util.List;

/**
 * What one pass over dirty pages costs, as the rounds measured it, and the final pass it
 * predicts. A pass first finds which of its pages are present, then streams their bytes;
 * the two are apart because they scale apart.
 *
 * <ul>
 * <li>Finding the present pages: either the PAGEMAP_SCAN walk of every 2 MiB span holding
 *     one ({@code walkNsPerSpan}, as the last walking round measured it), which costs the
 *     same for 5 000 pages as for 50 000 when they are scattered over the guest, or one
 *     pagemap entry per page ({@code lookupNsPerPage}, from the last round's lookups or
 *     its sample of them). A pass takes whichever {@link #method} says is cheaper for its
 *     pages and spans, and the prediction of the final pass takes the same, so that what is
 *     predicted is what will be done.</li>
 * <li>The stream: the bytes of the last rounds that ran with the vCPUs held back the same
 *     way (throttle, dirty limit), at most {@link #STREAM_WINDOW} of them, over their stream
 *     time (the send without the finding): see {@link #STREAM_WINDOW} for why not more.</li>
 * </ul>
 */
record PassRate(double walkNsPerSpan, double lookupNsPerPage, List<StreamSample> recent) {
    /**
     * Rounds whose stream the estimate pools at most, and only while they ran with the vCPUs
     * held back as in the last one. The rounds measured (26 runs of the downtime scenario,
     * docs/benchmarks.md, "Downtime vs prediction") say why: the stream's rate rises from
     * round to round as auto-converge throttles the vCPUs harder and they leave more of the
     * two cores to it (round 1, at 20 %, streamed at 101-399 MB/s; the round that decided
     * the switchover, at 30-80 %, at 199-528 MB/s, faster in 22 of the 26 runs), and the
     * final pass, vCPUs stopped, is as likely faster than that round as slower (13 of 26).
     * Pooled across throttle steps, the last two or three rounds put the final pass's stream
     * 34-46 % faster than predicted on average (rms error 71-74 %), an EWMA weighted by round
     * duration (0.5-2 s) 25-35 % (rms 57-60 %), the last round alone 7 % (rms 41 %). Rounds
     * under one throttle (WAIT or FORCE, a dirty limit once set) share the vCPUs' demand, and
     * pooling them smooths a short round's swing; no scenario measured here has such rounds.
     */
    static final int STREAM_WINDOW = 3;

    /**
     * One round's stream: its bytes and the send's time beside finding the present pages,
     * and how the vCPUs were held back meanwhile (throttle percent, dirty limit in pages/s).
     */
    record StreamSample(long bytes, long nanos, int throttlePercent, long dirtyLimitPagesPerS) {
        boolean sameVcpuLoad(StreamSample o) {
            return throttlePercent == o.throttlePercent && dirtyLimitPagesPerS == o.dirtyLimitPagesPerS;
        }
    }

    static final PassRate UNKNOWN = new PassRate(0, 0, List.of());

    PassRate {
        recent = List.copyOf(recent);
    }

    /**
     * This estimate after a send of {@code bytes} in {@code nanos}, of which {@code walkNanos}
     * walked {@code spans} spans and {@code lookupNanos} looked pages up at
     * {@code lookupNsPerPage} each, with the vCPUs throttled by {@code throttlePercent} and
     * limited to {@code dirtyLimitPagesPerS} (0: none); what the send did not measure (no
     * spans walked, no lookup, no bytes or no stream time) stays as it was.
     */
    PassRate after(long bytes, long nanos, long walkNanos, long spans, long lookupNanos, double lookupNsPerPage,
                   int throttlePercent, long dirtyLimitPagesPerS) {
        if (bytes < 0 || nanos < 0 || walkNanos < 0 || spans < 0 || lookupNanos < 0 || !(lookupNsPerPage >= 0)) {
            throw new IllegalArgumentException("negative send: " + bytes + " B, " + nanos + " ns, walk " + walkNanos
                    + " ns over " + spans + " spans, lookups " + lookupNanos + " ns at " + lookupNsPerPage + " ns");
        }
        double walk = spans > 0 ? (double) walkNanos / spans : walkNsPerSpan;
        double lookup = lookupNsPerPage > 0 ? lookupNsPerPage : this.lookupNsPerPage;
        long streamNanos = nanos - walkNanos - lookupNanos;
        List<StreamSample> next = recent;
        if (bytes > 0 && streamNanos > 0) {
            List<StreamSample> l = new ArrayList<>(recent);
            l.add(new StreamSample(bytes, streamNanos, throttlePercent, dirtyLimitPagesPerS));
            next = l.subList(Math.max(0, l.size() - STREAM_WINDOW), l.size());
        }
        return new PassRate(walk, lookup, next);
    }

    /**
     * The stream's bytes per second over the last rounds that ran with the vCPUs held back
     * as in the last one (0: none measured yet).
     */
    double streamBytesPerS() {
        long bytes = 0;
        long nanos = 0;
        StreamSample last = recent.isEmpty() ? null : recent.get(recent.size() - 1);
        for (int i = recent.size() - 1; i >= 0 && recent.get(i).sameVcpuLoad(last); i--) {
            bytes += recent.get(i).bytes();
            nanos += recent.get(i).nanos();
        }
        return nanos == 0 ? 0 : bytes * 1e9 / nanos;
    }

    /**
     * How a pass of {@code pages} pages over {@code spans} spans finds the present ones: by
     * lookups when both costs are measured and the lookups cost less, else by the walk (the
     * first round walks, and measures both).
     */
    PresentMethod method(long pages, long spans) {
        if (walkNsPerSpan <= 0 || lookupNsPerPage <= 0) {
            return PresentMethod.WALK;
        }
        return pages * lookupNsPerPage < spans * walkNsPerSpan ? PresentMethod.LOOKUP : PresentMethod.WALK;
    }

    /**
     * A prediction of the final pass: how it will find the present pages, what that costs
     * ({@code walkMs} or {@code lookupMs}), the stream at {@code streamBytesPerS}, and the
     * whole of it.
     */
    record TransferPrediction(PresentMethod method, double walkMs, double lookupMs, double streamMs,
                              double streamBytesPerS) {
        static final TransferPrediction NOTHING = new TransferPrediction(PresentMethod.WALK, 0, 0, 0, 0);

        double totalMs() {
            return walkMs + lookupMs + streamMs;
        }
    }

    /**
     * The part of a switchover that grows with what is left to send: finding the present
     * pages among the {@code pages} remaining over {@code spans} spans, as {@link #method}
     * chooses and at its measured cost, plus the {@code bytes} at the stream rate. Nothing
     * left costs nothing; bytes and no measured rate cost without bound.
     */
    TransferPrediction predict(long bytes, long pages, long spans) {
        if (bytes < 0 || pages < 0 || spans < 0) {
            throw new IllegalArgumentException("negative pass: " + bytes + " B, " + pages + " pages, " + spans
                    + " spans");
        }
        if (bytes == 0) {
            return TransferPrediction.NOTHING;
        }
        PresentMethod m = method(pages, spans);
        double walkMs = m == PresentMethod.WALK ? spans * walkNsPerSpan / 1e6 : 0;
        double lookupMs = m == PresentMethod.LOOKUP ? pages * lookupNsPerPage / 1e6 : 0;
        double rate = streamBytesPerS();
        return new TransferPrediction(m, walkMs, lookupMs, Convergence.predictTransferMs(bytes, rate), rate);
    }
}
