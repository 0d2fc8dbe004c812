package dev.livemig.migctl;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.protobuf.Descriptors.MethodDescriptor;
import com.google.protobuf.Descriptors.ServiceDescriptor;
import dev.livemig.proto.v1.MigrationControlGrpc;
import io.grpc.ManagedChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;

/**
 * README's grpcurl block, run as grpcurl would run it (through {@link ReflectionClient}:
 * reflection only, JSON bodies) against the real source and target nodes, in the README's
 * order; {@code localhost:50051} is the source and {@code localhost:50052} the target.
 */
class ReadmeGrpcurlTest {
    private static final HostPort TARGET = new HostPort("localhost", 50052);
    private static final Pattern MIGRATION_ID = Pattern.compile("\"migration_id\": \"([^\"]+)\"");

    /** The ```sh block after the "With a stock gRPC client" heading, as argv lists (a small sh tokenizer). */
    static List<List<String>> readmeCommands() throws Exception {
        String readme = Files.readString(Path.of("..", "README.md"));
        int section = readme.indexOf("### With a stock gRPC client");
        assertTrue(section >= 0, "README has the grpcurl section");
        int from = readme.indexOf("```sh\n", section) + "```sh\n".length();
        String block = readme.substring(from, readme.indexOf("```", from));
        List<List<String>> commands = new ArrayList<>();
        List<String> argv = new ArrayList<>();
        StringBuilder token = null;
        boolean quoted = false;
        for (int i = 0; i < block.length(); i++) {
            char c = block.charAt(i);
            if (quoted) {
                if (c == '\'') {
                    quoted = false;
                } else {
                    token.append(c);
                }
            } else if (c == '\'') {
                quoted = true;
                token = token == null ? new StringBuilder() : token;
            } else if (c == '\\' && i + 1 < block.length() && block.charAt(i + 1) == '\n') {
                i++; // line continuation
            } else if (c == ' ' || c == '\n') {
                if (token != null) {
                    argv.add(token.toString());
                    token = null;
                }
                if (c == '\n' && !argv.isEmpty()) {
                    commands.add(argv);
                    argv = new ArrayList<>();
                }
            } else {
                token = token == null ? new StringBuilder() : token;
                token.append(c);
            }
        }
        return commands;
    }

    @Test
    void theReadmesGrpcurlCommands_workThroughReflectionAgainstTheRealNodes() throws Exception {
        List<List<String>> commands = readmeCommands();
        assertEquals(8, commands.size(), commands::toString);
        List<String> ran = new ArrayList<>();
        String migrationId = null;
        try (LocalNodes nodes = new LocalNodes()) {
            for (List<String> argv : commands) {
                assertEquals(List.of("grpcurl", "-plaintext"), argv.subList(0, 2), argv::toString);
                int at = 2;
                String json = "{}";
                if (argv.get(at).equals("-d")) {
                    json = argv.get(at + 1);
                    at += 2;
                }
                if (migrationId != null) {
                    json = json.replace("MIGRATION_ID", migrationId);
                }
                ManagedChannel channel = nodes.channels(TARGET).open(HostPort.parse(argv.get(at)));
                try {
                    ReflectionClient grpcurl = new ReflectionClient(channel);
                    String verb = argv.get(at + 1);
                    ran.add(verb);
                    switch (verb) {
                        case "list" -> assertTrue(grpcurl.listServices().contains(MigrationControlGrpc.SERVICE_NAME));
                        case "describe" -> {
                            ServiceDescriptor s = grpcurl.service(argv.get(at + 2));
                            List<String> methods = s.getMethods().stream().map(MethodDescriptor::getName).toList();
                            assertTrue(methods.containsAll(List.of("CreateGuest", "StartMigration", "RunRound",
                                    "Watch", "GetInfo", "GetGuest", "StopGuest")), methods::toString);
                        }
                        default -> {
                            if (verb.endsWith("/Watch")) {
                                runRoundsUntilSwitchover(grpcurl, migrationId);
                            }
                            List<String> answers = grpcurl.call(verb, json);
                            String last = answers.get(answers.size() - 1);
                            check(verb, last);
                            Matcher id = MIGRATION_ID.matcher(last);
                            if (verb.endsWith("/StartMigration") && id.find()) {
                                migrationId = id.group(1);
                            }
                        }
                    }
                } finally {
                    channel.shutdownNow();
                }
            }
        }
        assertEquals(List.of("list", "describe", "livemig.v1.MigrationControl/CreateGuest",
                "livemig.v1.MigrationControl/StartMigration", "livemig.v1.MigrationControl/RunRound",
                "livemig.v1.MigrationControl/GetInfo", "livemig.v1.MigrationControl/Watch",
                "grpc.health.v1.Health/Check"), ran);
    }

    /** What each answer must say for the README's next command to make sense. */
    private static void check(String verb, String json) {
        switch (verb.substring(verb.indexOf('/') + 1)) {
            case "CreateGuest" -> assertTrue(json.contains("\"guest_id\": \"guest-1\""), json);
            case "StartMigration" -> assertTrue(json.contains("\"manual_rounds\": true"), json);
            case "RunRound" -> assertTrue(json.contains("\"round\": 0") || !json.contains("\"round\""), json);
            case "GetInfo" -> assertTrue((json.contains("\"state\": \"MIGRATION_STATE_ACTIVE\"")
                    || json.contains("\"state\": \"MIGRATION_STATE_COMPLETED\"")) && !json.contains("\"rounds\": ["), json);
            case "Watch" -> assertTrue(json.contains("\"to_state\": \"MIGRATION_STATE_COMPLETED\""), json);
            case "Check" -> assertEquals("{\n  \"status\": \"SERVING\"\n}", json);
            default -> throw new AssertionError("README runs an unexpected method " + verb);
        }
    }

    /**
     * What the reader does in another terminal while Watch streams: rounds while the
     * migration is ACTIVE, until one decides SWITCHOVER (the engine then completes it).
     */
    private static void runRoundsUntilSwitchover(ReflectionClient grpcurl, String migrationId) throws Exception {
        assertFalse(migrationId == null, "StartMigration ran first");
        String id = "{\"migration_id\": \"" + migrationId + "\"}";
        List<String> rounds = new ArrayList<>();
        for (int i = 0; i < 60; i++) {
            String info = grpcurl.call("livemig.v1.MigrationControl/GetInfo", id).get(0);
            if (!info.contains("\"state\": \"MIGRATION_STATE_ACTIVE\"")) {
                // the README's one round may already have decided SWITCHOVER
                assertTrue(info.contains("\"state\": \"MIGRATION_STATE_COMPLETED\""), () -> info + "\nafter " + rounds);
                return;
            }
            String round;
            try {
                round = grpcurl.call("livemig.v1.MigrationControl/RunRound", id).get(0);
            } catch (io.grpc.StatusRuntimeException e) {
                throw new AssertionError("after " + info + "\nand rounds " + rounds, e);
            }
            rounds.add(round);
            if (round.contains("ROUND_DECISION_SWITCHOVER")) {
                return;
            }
        }
        throw new AssertionError("no round decided SWITCHOVER in 60 rounds: " + rounds);
    }
}
