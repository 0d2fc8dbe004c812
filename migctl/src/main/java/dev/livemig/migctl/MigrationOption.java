package dev.livemig.migctl;

import dev.livemig.proto.v1.GetInfoRequest;
import picocli.CommandLine.Option;

/**
 * {@code --migration ID} for the commands that look at or act on one migration. Left out, it
 * means the node's most recent migration, as {@code GetInfo} with an empty id does, so that a
 * person who just ran {@code migctl migrate --detach} can follow up without copying an id.
 */
final class MigrationOption {
    @Option(names = "--migration", paramLabel = "ID", defaultValue = "",
            description = "Migration id (default: the node's most recent migration).")
    String id;

    /**
     * The id itself, or the most recent migration's. Commands whose RPC takes an empty id
     * to mean the same need not call this; Cancel and Watch do, because they must name it.
     */
    String resolve(NodeClient source) {
        if (!id.isEmpty()) {
            return id;
        }
        return source.call("GetInfo", s -> s.getInfo(GetInfoRequest.newBuilder().setOmitRounds(true).build()))
                .getMigrationId();
    }
}
