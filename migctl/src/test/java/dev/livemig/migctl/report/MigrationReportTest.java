package dev.livemig.migctl.report;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.protobuf.Descriptors.FieldDescriptor;
import dev.livemig.migctl.InProcessMigration;
import dev.livemig.proto.v1.LatencyBucket;
import dev.livemig.proto.v1.LatencySummary;
import dev.livemig.proto.v1.MigrationInfo;
import dev.livemig.proto.v1.MigrationStats;
import dev.livemig.proto.v1.RoundRecord;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class MigrationReportTest {
    private static MigrationInfo info;

    @BeforeAll
    static void migrate() throws Exception {
        info = InProcessMigration.hybrid();
    }

    @Test
    void json_hasEveryStatAndRoundFieldEvenWhenZero_andParsesBackToTheSameInfo() throws Exception {
        String json = MigrationReport.json(info);
        for (FieldDescriptor f : MigrationStats.getDescriptor().getFields()) {
            assertTrue(json.contains("\"" + f.getName() + "\""), "stat missing from the JSON: " + f.getName());
        }
        for (FieldDescriptor f : RoundRecord.getDescriptor().getFields()) {
            assertTrue(json.contains("\"" + f.getName() + "\""), "round field missing from the JSON: " + f.getName());
        }
        assertEquals(info, MigrationReport.parseJson(json));
    }

    @Test
    void theNodeServesTheFaultLatencyDistribution_asLogScaleBucketsSummingToTheCount() {
        LatencySummary l = info.getStats().getPostcopyFaultLatency();
        assertTrue(l.getCount() > 0, "the hybrid scenario faults in post-copy");
        assertEquals(l.getCount(), l.getBucketsList().stream().mapToLong(LatencyBucket::getCount).sum());
        for (int i = 1; i < l.getBucketsCount(); i++) {
            assertEquals(2 * l.getBuckets(i - 1).getUpperBoundUs(), l.getBuckets(i).getUpperBoundUs(), l::toString);
        }
        assertTrue(l.getBuckets(l.getBucketsCount() - 1).getUpperBoundUs() > l.getMaxUs(), l::toString);
        assertTrue(MigrationReport.json(info).contains("\"upper_bound_us\""));
    }

    @Test
    void html_embedsTheSameJsonAndNeedsNoNetwork() {
        String html = MigrationReport.html(info);
        assertTrue(html.contains(MigrationReport.json(info).replace("<", "\\u003c")));
        // the SVG namespace is a name, not a fetch
        String rest = html.replace("'http://www.w3.org/2000/svg'", "");
        for (String fetch : new String[] {"http:", "https:", "src=", "href=", "url(", "@import"}) {
            assertFalse(rest.contains(fetch), "the page must load nothing from elsewhere: " + fetch);
        }
        assertFalse(html.contains("/*@MIGRATION_INFO@*/") || html.contains("@TITLE@"), "a template slot is left");
    }

    @Test
    void html_cannotBeBrokenOutOfByStringsInTheData() {
        MigrationInfo evil = info.toBuilder().setMigrationId("</script><script>alert(1)</script>")
                .setError("<!-- x").build();
        String html = MigrationReport.html(evil);
        assertEquals(2, html.split("</script>", -1).length - 1, "only the two script elements close");
        assertFalse(html.contains("<script>alert"));
        assertFalse(html.contains("<!-- x"));
    }

    @Test
    void write_createsBothFiles(@TempDir Path dir) throws Exception {
        Path out = dir.resolve("nested/report");
        Path html = MigrationReport.write(out, info);
        assertEquals(out.resolve(MigrationReport.HTML_FILE), html);
        assertEquals(info, MigrationReport.parseJson(Files.readString(out.resolve(MigrationReport.JSON_FILE))));
        assertEquals(MigrationReport.html(info), Files.readString(html));
    }
}
