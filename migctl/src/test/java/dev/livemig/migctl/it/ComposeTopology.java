package dev.livemig.migctl.it;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.yaml.snakeyaml.Yaml;

/**
 * What docker-compose.yml and docker/Dockerfile would run, read from the files themselves:
 * per service, the argv (the build stage's ENTRYPOINT plus the service's command, or the
 * stage's CMD), the environment (the stage's ENV lines, inherited through FROM, plus the
 * service's environment), its health check and its volumes. {@code ${VAR:-default}} is
 * interpolated from a given map as compose interpolates it from the shell.
 */
final class ComposeTopology {
    private static final Pattern VAR = Pattern.compile("\\$\\{(\\w+)(?::-([^}]*))?}");
    private static final Pattern FROM = Pattern.compile("(?i)^FROM\\s+(\\S+)(?:\\s+AS\\s+(\\S+))?");
    private static final Pattern ENV = Pattern.compile("(?i)^ENV\\s+(\\w+)=(\"[^\"]*\"|\\S+)");
    private static final Pattern JSON_STRING = Pattern.compile("\"((?:[^\"\\\\]|\\\\.)*)\"");

    record Service(String name, List<String> argv, Map<String, String> env, List<String> healthcheck,
                   Map<String, String> volumes, List<String> dependsOn) {
    }

    /** One Dockerfile stage, with what it inherits from its base stage already folded in. */
    private record Stage(Map<String, String> env, List<String> entrypoint, List<String> cmd) {
    }

    private final Map<String, Service> services = new LinkedHashMap<>();

    ComposeTopology(Path repo, Map<String, String> vars) throws IOException {
        Map<String, Stage> stages = stages(Files.readAllLines(repo.resolve("docker/Dockerfile")));
        Map<String, Object> compose = new Yaml().load(Files.readString(repo.resolve("docker-compose.yml")));
        @SuppressWarnings("unchecked")
        Map<String, Map<String, Object>> svcs = (Map<String, Map<String, Object>>) compose.get("services");
        for (Map.Entry<String, Map<String, Object>> e : svcs.entrySet()) {
            Map<String, Object> s = e.getValue();
            @SuppressWarnings("unchecked")
            Map<String, Object> build = (Map<String, Object>) s.get("build");
            Stage stage = stages.get((String) build.get("target"));
            if (stage == null) {
                throw new IllegalStateException(e.getKey() + ": no Dockerfile stage " + build.get("target"));
            }
            List<String> argv = new ArrayList<>(stage.entrypoint());
            argv.addAll(s.containsKey("command") ? strings(s.get("command"), vars) : stage.cmd());
            Map<String, String> env = new LinkedHashMap<>(stage.env());
            if (s.get("environment") instanceof Map<?, ?> m) {
                m.forEach((k, v) -> env.put(String.valueOf(k), interpolate(String.valueOf(v), vars)));
            }
            List<String> health = List.of();
            if (s.get("healthcheck") instanceof Map<?, ?> h) {
                health = strings(h.get("test"), vars);
            }
            Map<String, String> volumes = new LinkedHashMap<>();
            if (s.get("volumes") instanceof List<?> vs) {
                for (Object v : vs) {
                    String[] parts = interpolate(String.valueOf(v), vars).split(":");
                    volumes.put(parts[1], parts[0]);
                }
            }
            List<String> deps = new ArrayList<>();
            if (s.get("depends_on") instanceof Map<?, ?> d) {
                d.keySet().forEach(k -> deps.add(String.valueOf(k)));
            }
            services.put(e.getKey(), new Service(e.getKey(), argv, env, health, volumes, deps));
        }
    }

    Service service(String name) {
        Service s = services.get(name);
        if (s == null) {
            throw new IllegalStateException("docker-compose.yml has no service " + name);
        }
        return s;
    }

    List<String> serviceNames() {
        return new ArrayList<>(services.keySet());
    }

    static String interpolate(String s, Map<String, String> vars) {
        Matcher m = VAR.matcher(s);
        StringBuilder b = new StringBuilder();
        while (m.find()) {
            String v = vars.get(m.group(1));
            if (v == null || v.isEmpty()) {
                v = m.group(2) == null ? "" : m.group(2);
            }
            m.appendReplacement(b, Matcher.quoteReplacement(v));
        }
        return m.appendTail(b).toString();
    }

    private static List<String> strings(Object list, Map<String, String> vars) {
        List<String> out = new ArrayList<>();
        for (Object o : (List<?>) list) {
            out.add(interpolate(String.valueOf(o), vars));
        }
        return out;
    }

    /** FROM/ENV/ENTRYPOINT/CMD of each named stage; a stage built FROM another inherits its ENV and ENTRYPOINT. */
    private static Map<String, Stage> stages(List<String> lines) {
        Map<String, Stage> stages = new LinkedHashMap<>();
        String current = null;
        Map<String, String> env = new LinkedHashMap<>();
        List<String> entrypoint = List.of();
        List<String> cmd = List.of();
        for (String raw : lines) {
            String line = raw.strip();
            Matcher from = FROM.matcher(line);
            if (from.find()) {
                if (current != null) {
                    stages.put(current, new Stage(env, entrypoint, cmd));
                }
                Stage base = stages.get(from.group(1));
                env = base == null ? new LinkedHashMap<>() : new LinkedHashMap<>(base.env());
                entrypoint = base == null ? List.of() : base.entrypoint();
                cmd = base == null ? List.of() : base.cmd();
                current = from.group(2);
                continue;
            }
            Matcher e = ENV.matcher(line);
            if (e.find()) {
                String v = e.group(2);
                env.put(e.group(1), v.startsWith("\"") ? v.substring(1, v.length() - 1) : v);
            } else if (line.startsWith("ENTRYPOINT [")) {
                entrypoint = jsonArray(line);
                cmd = List.of(); // docker: setting ENTRYPOINT resets an inherited CMD
            } else if (line.startsWith("CMD [")) {
                cmd = jsonArray(line);
            }
        }
        if (current != null) {
            stages.put(current, new Stage(env, entrypoint, cmd));
        }
        return stages;
    }

    private static List<String> jsonArray(String line) {
        List<String> out = new ArrayList<>();
        Matcher m = JSON_STRING.matcher(line.substring(line.indexOf('[')));
        while (m.find()) {
            out.add(m.group(1));
        }
        return out;
    }
}
