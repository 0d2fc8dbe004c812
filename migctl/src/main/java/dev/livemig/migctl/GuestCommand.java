package dev.livemig.migctl;

import com.google.protobuf.InvalidProtocolBufferException;
import com.google.protobuf.util.JsonFormat;
import dev.livemig.migctl.render.Units;
import dev.livemig.proto.v1.CreateGuestRequest;
import dev.livemig.proto.v1.CreateGuestResponse;
import dev.livemig.proto.v1.GetGuestRequest;
import dev.livemig.proto.v1.GuestInfo;
import dev.livemig.proto.v1.RegionInfo;
import dev.livemig.proto.v1.StopGuestRequest;
import java.io.PrintWriter;
import java.util.List;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.Spec;

/** {@code migctl guest start|info|stop}: guests on the source node. */
@Command(name = "guest", mixinStandardHelpOptions = true, description = "Creates, inspects and stops guests.",
        subcommands = {GuestCommand.Start.class, GuestCommand.Info.class, GuestCommand.Stop.class})
final class GuestCommand implements Runnable {
    @Spec
    CommandSpec spec;

    @Override
    public void run() {
        throw new ParameterException(spec.commandLine(), "expected start, info or stop");
    }

    static void printRegions(PrintWriter out, List<RegionInfo> regions) {
        for (RegionInfo r : regions) {
            out.println(Units.f("  region %-8s %-22s at 0x%x, %s, %d pages populated", r.getName(),
                    Units.enumName(r.getKind(), "REGION_KIND_"), r.getStartAddress(), Units.bytes(r.getSizeBytes()),
                    r.getPopulatedPages()));
        }
    }

    @Command(name = "start", mixinStandardHelpOptions = true,
            description = "Creates a guest on the source node and starts its vCPUs; prints its id.")
    static final class Start implements Runnable {
        @Spec
        CommandSpec spec;
        @Mixin
        NodeOptions node;
        @Mixin
        GuestOptions guest;

        @Override
        public void run() {
            try (NodeClient source = node.source()) {
                CreateGuestResponse r = source.call("CreateGuest",
                        s -> s.createGuest(CreateGuestRequest.newBuilder().setSpec(guest.toSpec()).build()));
                PrintWriter out = spec.commandLine().getOut();
                out.println(Units.f("guest %s: %s, %d pages populated", r.getGuestId(), Units.bytes(r.getSizeBytes()),
                        r.getPopulatedPages()));
                printRegions(out, r.getRegionsList());
            }
        }
    }

    @Command(name = "info", mixinStandardHelpOptions = true, description = "Shows a guest's layout and state.")
    static final class Info implements Runnable {
        @Spec
        CommandSpec spec;
        @Mixin
        NodeOptions node;
        @Option(names = "--guest", paramLabel = "ID", defaultValue = "",
                description = "Guest id (default: the most recently created guest).")
        String guestId;
        @Option(names = "--json", description = "Print the GuestInfo message as JSON.")
        boolean json;

        @Override
        public void run() {
            try (NodeClient source = node.source()) {
                GuestInfo g = source.call("GetGuest",
                        s -> s.getGuest(GetGuestRequest.newBuilder().setGuestId(guestId).build()));
                PrintWriter out = spec.commandLine().getOut();
                if (json) {
                    out.println(toJson(g));
                    return;
                }
                out.println(Units.f("guest %s: %s, %d pages populated, %s, %d accesses%s", g.getGuestId(),
                        Units.bytes(g.getSizeBytes()), g.getPopulatedPages(), g.getRunning() ? "running" : "stopped",
                        g.getAccesses(), g.getMigrationId().isEmpty() ? "" : ", last migration " + g.getMigrationId()));
                out.println(Units.f("  workload %s, %d pages/s, %d vCPUs, seed %d",
                        Units.enumName(g.getSpec().getWorkload(), "WORKLOAD_"), g.getSpec().getWriteRatePagesPerS(),
                        g.getSpec().getVcpuCount(), g.getSpec().getSeed()));
                printRegions(out, g.getRegionsList());
            }
        }

        private static String toJson(GuestInfo g) {
            try {
                return JsonFormat.printer().alwaysPrintFieldsWithNoPresence().preservingProtoFieldNames().print(g);
            } catch (InvalidProtocolBufferException e) {
                throw new IllegalStateException(e);
            }
        }
    }

    @Command(name = "stop", mixinStandardHelpOptions = true,
            description = "Stops a guest's vCPUs and frees its memory (cancel its migration first).")
    static final class Stop implements Runnable {
        @Spec
        CommandSpec spec;
        @Mixin
        NodeOptions node;
        @Option(names = "--guest", paramLabel = "ID", required = true, description = "Guest id.")
        String guestId;

        @Override
        public void run() {
            try (NodeClient source = node.source()) {
                source.call("StopGuest", s -> s.stopGuest(StopGuestRequest.newBuilder().setGuestId(guestId).build()));
                spec.commandLine().getOut().println("guest " + guestId + " stopped");
            }
        }
    }
}
