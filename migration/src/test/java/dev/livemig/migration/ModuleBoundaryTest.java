package dev.livemig.migration;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Collectors;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;

/** DESIGN.md: the engine imports nothing from gRPC or protobuf; transports adapt to it. */
class ModuleBoundaryTest {
    @Test
    void mainSources_importNoGrpcOrProtobuf() throws IOException {
        Path main = Path.of("src/main/java");
        List<String> offenders;
        try (Stream<Path> files = Files.walk(main)) {
            offenders = files.filter(f -> f.toString().endsWith(".java")).filter(f -> {
                try {
                    String s = Files.readString(f);
                    return s.contains("import io.grpc") || s.contains("import com.google.protobuf")
                            || s.contains("import dev.livemig.proto");
                } catch (IOException e) {
                    throw new RuntimeException(e);
                }
            }).map(Path::toString).collect(Collectors.toList());
        }
        assertEquals(List.of(), offenders);
    }
}
