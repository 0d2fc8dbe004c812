package dev.livemig.migration.target;

import dev.livemig.migration.guest.Guest;
import dev.livemig.migration.guest.GuestLayout;
import dev.livemig.migration.guest.GuestLayout.RegionLayout;
import dev.livemig.migration.guest.PageBitmap;
import dev.livemig.migration.stats.PageChecksums;
import dev.livemig.migration.transport.PageTransfer.ReceivedBitmapRequest;
import dev.livemig.migration.transport.PageTransfer.ReceivedBitmapResponse;
import dev.livemig.migration.transport.PageTransfer.RegionBitmap;
import dev.livemig.migration.transport.PageTransfer.RegionChecksums;
import dev.livemig.migration.transport.PageTransfer.VerifyRequest;
import dev.livemig.migration.transport.PageTransfer.VerifyResponse;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * What an incoming guest has, told three ways: the ReceivedBitmap answer (per region:
 * received, requested, dirtied since switchover; plus the batches placed), the Verify
 * answer against the source's checksums at pause, and the pages never received counted
 * per region, which is what a post-copy whose source died has lost.
 */
final class PageAccounting {
    private PageAccounting() {
    }

    static ReceivedBitmapResponse receivedBitmap(String migrationId, GuestLayout layout, PageBitmap received,
                                                 PostcopyFaultHandler faults, ReceivedBitmapRequest req,
                                                 byte[] placedBatches) {
        List<RegionBitmap> out = new ArrayList<>();
        long got = 0;
        long total = 0;
        for (int r = 0; r < layout.regions().size(); r++) {
            RegionLayout rl = layout.regions().get(r);
            if (!req.regionNames().isEmpty() && !req.regionNames().contains(rl.name())) {
                continue;
            }
            int from = layout.firstPage(r);
            int to = from + rl.pages();
            long n = received.cardinality(from, to);
            out.add(new RegionBitmap(rl.name(), rl.startAddress(), rl.pageSizeBytes(), rl.pages(),
                    received.toBytes(from, to), faults.requested.toBytes(from, to),
                    faults.dirtied.toBytes(from, to), n));
            got += n;
            total += rl.pages();
        }
        return new ReceivedBitmapResponse(migrationId, out, got, total - got, placedBatches);
    }

    /**
     * Compares the source's checksums at pause with the guest as it was at resume: a page
     * not yet written here is read now, a written one was checksummed before its first write.
     */
    static VerifyResponse verify(Guest guest, PostcopyFaultHandler faults, VerifyRequest req) {
        GuestLayout layout = guest.layout();
        long verified = 0;
        long mismatch = 0;
        List<Long> bad = new ArrayList<>();
        for (RegionChecksums rc : req.regions()) {
            RegionLayout r = layout.region(rc.regionName());
            int base = layout.firstPage(layout.regions().indexOf(r));
            int size = (int) r.pageSizeBytes();
            byte[] buf = new byte[size];
            int[] frozen = faults.crcAtHandOver;
            for (int i = 0; i < rc.crc32c().length; i++) {
                long addr = r.startAddress() + (long) i * size;
                // read before asking whether the page was written: a first write in between is
                // then seen as written, and its checksum at first write is the one that counts
                int now = frozen != null ? frozen[base + i] : PageChecksums.crc(guest.mm(), addr, size, buf);
                int atResume = faults.dirtied.get(base + i) ? faults.crcAtFirstWrite[base + i] : now;
                if (atResume == rc.crc32c()[i]) {
                    verified++;
                } else {
                    mismatch++;
                    if (bad.size() < 16) {
                        bad.add(addr);
                    }
                }
            }
        }
        return new VerifyResponse(verified, mismatch, bad.stream().mapToLong(Long::longValue).toArray());
    }

    /**
     * Pages not received, per region in layout order (regions with none left out). Pages
     * the source never populated count too: only the source can tell them apart.
     */
    static Map<String, Long> missingByRegion(GuestLayout layout, PageBitmap received) {
        Map<String, Long> out = new LinkedHashMap<>();
        for (int r = 0; r < layout.regions().size(); r++) {
            int from = layout.firstPage(r);
            int to = from + layout.regions().get(r).pages();
            long missing = (to - from) - received.cardinality(from, to);
            if (missing > 0) {
                out.put(layout.regions().get(r).name(), missing);
            }
        }
        return out;
    }

    /** "N pages never arrived (anon 12, shmem 3)". */
    static String missingReport(Map<String, Long> byRegion) {
        long total = byRegion.values().stream().mapToLong(Long::longValue).sum();
        StringBuilder sb = new StringBuilder();
        byRegion.forEach((name, n) -> sb.append(sb.length() == 0 ? "" : ", ").append(name).append(' ').append(n));
        return total + " pages never arrived" + (total == 0 ? "" : " (" + sb + ")");
    }
}
