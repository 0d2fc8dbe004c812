package dev.livemig.bench;

import dev.livemig.mm.Kernel;
import dev.livemig.mm.MmStruct;
import dev.livemig.mm.vma.Mmap;
import java.lang.management.ManagementFactory;
import java.lang.management.ThreadMXBean;
import java.util.Arrays;
import java.util.SplittableRandom;
import java.util.concurrent.CyclicBarrier;

/**
 * The CPU side of {@link ParallelFaults}: CPU time per operation of 1 or N threads working
 * on disjoint 16 MiB ranges of one address space, next to the wall-clock rate. On shared,
 * oversubscribed cores the wall-clock figure mostly measures how often the scheduler runs
 * the threads; CPU time per operation does not, and it grows with N only by what the
 * threads cost each other (lock hand-offs, cache lines bouncing between cores).
 *
 * <pre>
 * java -cp benchmarks/target/benchmarks.jar dev.livemig.bench.FaultCpuProbe fault 2   # or: store 1
 * </pre>
 *
 * {@code fault}: each round zaps the range with MADV_DONTNEED and stores once to each of
 * its 4 096 pages (do_anonymous_page); {@code store}: 4 096 stores to random pages of the
 * populated range. Prints each of 7 repetitions of 40 rounds, then the median; the first
 * repetitions include JIT warm-up.
 */
public final class FaultCpuProbe {
    private static final int RANGE_PAGES = 4096;
    private static final int ROUNDS = 40;
    private static final int REPS = 7;

    private FaultCpuProbe() {
    }

    public static void main(String[] args) throws Exception {
        boolean fault = args.length > 0 && args[0].equals("fault");
        int threads = args.length > 1 ? Integer.parseInt(args[1]) : 1;
        long range = (long) RANGE_PAGES << 12;
        ThreadMXBean mx = ManagementFactory.getThreadMXBean();
        try (Kernel kernel = new Kernel()) {
            MmStruct mm = kernel.newMm();
            long base = mm.mmap(range * threads, Mmap.PROT_READ | Mmap.PROT_WRITE, false, null, 0, 0);
            mm.madvise(base, range * threads, Mmap.Advice.NOHUGEPAGE);
            for (long a = base; a < base + range * threads; a += 4096) {
                mm.writeLong(a, a);
            }
            double[] cpuPerOp = new double[REPS];
            for (int rep = 0; rep < REPS; rep++) {
                CyclicBarrier start = new CyclicBarrier(threads);
                long[] cpu = new long[threads];
                long[] wall = new long[threads];
                Thread[] ts = new Thread[threads];
                for (int t = 0; t < threads; t++) {
                    int ti = t;
                    ts[t] = new Thread(() -> {
                        long mine = base + ti * range;
                        SplittableRandom rnd = new SplittableRandom(ti);
                        await(start);
                        long c0 = mx.getCurrentThreadCpuTime();
                        long w0 = System.nanoTime();
                        for (int r = 0; r < ROUNDS; r++) {
                            if (fault) {
                                mm.madvise(mine, range, Mmap.Advice.DONTNEED);
                                for (long i = 0; i < RANGE_PAGES; i++) {
                                    mm.writeLong(mine + (i << 12), i);
                                }
                            } else {
                                for (int i = 0; i < RANGE_PAGES; i++) {
                                    mm.writeLong(mine + (rnd.nextLong(RANGE_PAGES) << 12), i);
                                }
                            }
                        }
                        cpu[ti] = mx.getCurrentThreadCpuTime() - c0;
                        wall[ti] = System.nanoTime() - w0;
                    });
                    ts[t].start();
                }
                for (Thread t : ts) {
                    t.join();
                }
                long ops = (long) threads * ROUNDS * RANGE_PAGES;
                cpuPerOp[rep] = (double) Arrays.stream(cpu).sum() / ops;
                System.out.printf("%s, %d thread(s): %.1f ns CPU per op, %.2f ops/µs summed (wall)%n",
                        fault ? "fault" : "store", threads, cpuPerOp[rep],
                        ops * 1000.0 / Arrays.stream(wall).max().getAsLong());
            }
            double[] sorted = cpuPerOp.clone();
            Arrays.sort(sorted);
            System.out.printf("median: %.1f ns CPU per op%n", sorted[REPS / 2]);
        }
    }

    private static void await(CyclicBarrier b) {
        try {
            b.await();
        } catch (Exception e) {
            throw new IllegalStateException(e);
        }
    }
}
