package dev.livemig.bench;

import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;

/**
 * UFFDIO_WRITEPROTECT (MODE_WP) of a populated 1 GiB private anonymous region registered
 * with WP_ASYNC: the start of a dirty-tracking session. Real kernel (6.18): 24–29 ms.
 *
 * <p>The region is unprotected again (UFFDIO_WRITEPROTECT mode 0) before every invocation,
 * outside the measured section.
 */
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@State(Scope.Thread)
@Fork(1)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
public class UffdWriteprotect {
    static final long LEN = 1L << 30;

    Guest guest;

    @Setup(Level.Trial)
    public void setUp() {
        guest = new Guest(LEN).populate().registerWpAsync();
    }

    @Setup(Level.Invocation)
    public void unprotect() {
        guest.writeprotect(false);
    }

    @TearDown(Level.Trial)
    public void tearDown() {
        guest.close();
    }

    @Benchmark
    public void writeprotect() {
        guest.writeprotect(true);
    }
}
