package dev.livemig.migctl.report;

import com.google.protobuf.InvalidProtocolBufferException;
import com.google.protobuf.util.JsonFormat;
import dev.livemig.proto.v1.MigrationInfo;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * The report of one migration: {@code report.json} (the MigrationInfo with every field,
 * zeros included, in the proto3 JSON mapping with the .proto field names) and {@code report.html}, one self-contained
 * page (no network: the charts are SVG drawn by inline JavaScript from the same JSON,
 * embedded in the page).
 *
 * <p>The page sets {@code data-rendered="true"} and {@code data-points} on each chart
 * element once drawn, and {@code data-error} on {@code <body>} if drawing threw, so a
 * headless browser can check that it rendered.
 */
public final class MigrationReport {
    public static final String JSON_FILE = "report.json";
    public static final String HTML_FILE = "report.html";
    private static final String TEMPLATE = "report.html";
    private static final String DATA_SLOT = "/*@MIGRATION_INFO@*/";
    private static final String TITLE_SLOT = "@TITLE@";

    private MigrationReport() {
    }

    /** Every field of {@code info}, including those at their default value. */
    public static String json(MigrationInfo info) {
        try {
            return JsonFormat.printer().alwaysPrintFieldsWithNoPresence().preservingProtoFieldNames().print(info);
        } catch (InvalidProtocolBufferException e) {
            // only thrown for Any fields with unknown types, which MigrationInfo has none of
            throw new IllegalStateException(e);
        }
    }

    /** Reads a report.json back (for `migctl report --from`). */
    public static MigrationInfo parseJson(String json) throws InvalidProtocolBufferException {
        MigrationInfo.Builder b = MigrationInfo.newBuilder();
        JsonFormat.parser().merge(json, b);
        return b.build();
    }

    public static String html(MigrationInfo info) {
        String template = template();
        // JSON inside <script> must not contain "</script" or "<!--": escape every '<'.
        String data = json(info).replace("<", "\\u003c");
        String title = "livemig report " + escapeHtml(info.getMigrationId());
        return template.replace(TITLE_SLOT, title).replace(DATA_SLOT, data);
    }

    /** Writes report.json and report.html into {@code dir} (created if missing); returns the HTML path. */
    public static Path write(Path dir, MigrationInfo info) throws IOException {
        Files.createDirectories(dir);
        Files.writeString(dir.resolve(JSON_FILE), json(info) + "\n", StandardCharsets.UTF_8);
        Path html = dir.resolve(HTML_FILE);
        Files.writeString(html, html(info), StandardCharsets.UTF_8);
        return html;
    }

    static String escapeHtml(String s) {
        StringBuilder b = new StringBuilder(s.length());
        for (char c : s.toCharArray()) {
            switch (c) {
                case '<' -> b.append("&lt;");
                case '>' -> b.append("&gt;");
                case '&' -> b.append("&amp;");
                case '"' -> b.append("&quot;");
                case '\'' -> b.append("&#39;");
                default -> b.append(c);
            }
        }
        return b.toString();
    }

    private static String template() {
        try (InputStream in = MigrationReport.class.getResourceAsStream(TEMPLATE)) {
            if (in == null) {
                throw new IllegalStateException("report template missing from the classpath: " + TEMPLATE);
            }
            return new String(in.readAllBytes(), StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
