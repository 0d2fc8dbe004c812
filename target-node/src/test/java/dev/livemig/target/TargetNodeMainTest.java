package dev.livemig.target;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.PrintWriter;
import java.io.StringWriter;
import org.junit.jupiter.api.Test;
import picocli.CommandLine;

/** The target node's command line: bad values are refused before anything starts. */
class TargetNodeMainTest {
    @Test
    void aNegativeMemPreallocIsAUsageErrorAndStartsNoServer() {
        StringWriter err = new StringWriter();
        CommandLine cl = new CommandLine(new TargetNodeMain()).setErr(new PrintWriter(err));
        // port 1 would fail to bind if the node got as far as starting its server
        int rc = cl.execute("--mem-prealloc-mib", "-1", "--host", "127.0.0.1", "--port", "1");
        assertEquals(2, rc, err.toString());
        assertTrue(err.toString().contains("--mem-prealloc-mib must be >= 0, got -1"), err.toString());
    }
}
