package dev.livemig.migration.guest;

import dev.livemig.migration.EpochClock;
import dev.livemig.migration.guest.GuestSpec.Workload;
import dev.livemig.mm.SignalException;
import java.nio.ByteBuffer;
import java.util.concurrent.locks.LockSupport;

/**
 * One simulated vCPU: a thread that runs a seeded workload against the guest's memory.
 * Each write stores {@code (vcpu index + 1) << 48 | sequence} into a slot of the chosen
 * 4 KiB page that only this vCPU uses, so page contents tell who wrote what and when.
 * Word 0 of every page is never written by a workload: it holds the population stamp.
 *
 * <p>The whole generator state (random state, cursor, sequence, pacing parameters) fits
 * in {@link State}, the vCPU state a switchover carries: the target continues the exact
 * sequence the source would have run.
 */
public final class Vcpu implements Runnable {
    /** Recent writes remembered for integrity checks. */
    static final int RING = 64;
    /**
     * How long an idle vCPU halts before it looks again, like a tickless guest's HLT: a
     * pause or stop kicks it at once (Guest.idle waits on the run lock), so this bounds
     * nothing but the wake-ups of an idle guest, 100 a second instead of thousands.
     */
    private static final long IDLE_TICK_MILLIS = 10;

    /** The vCPU state carried by a switchover (livemig.v1.VcpuState). */
    public record State(int vcpuIndex, long accessesDone, byte[] state, int throttlePercent) {
    }

    final int index;
    private final Guest guest;
    private final Workload workload;
    private final long gfns;
    private final double ratePerS;
    private final double hotSetFraction;
    private final double hotSetWriteFraction;
    private final double zipfExponent;
    private final double readFraction;
    private final int slotsPerVcpu;
    private final Zipf zipf;
    private long rng;
    private long cursor;
    private long accessesDone;
    volatile int throttlePercent;
    volatile long dirtyLimitPagesPerS;
    volatile long firstInstructionNanos;
    volatile Throwable error;
    final long[] ringAddr = new long[RING];
    final long[] ringValue = new long[RING];
    private long nextDueNanos;

    Vcpu(Guest guest, int index, int vcpus, GuestSpec spec, long gfns) {
        this(guest, index, vcpus, spec.workload(), gfns, (double) spec.writeRatePagesPerS() / vcpus,
                spec.hotSetFraction(), spec.hotSetWriteFraction(), spec.zipfExponent(), spec.readFraction(),
                Guest.mix64(spec.seed() * 31 + index + 1), gfns * index / vcpus, 0, 0);
    }

    private Vcpu(Guest guest, int index, int vcpus, Workload workload, long gfns, double ratePerS,
                 double hotSetFraction, double hotSetWriteFraction, double zipfExponent, double readFraction,
                 long rng, long cursor, long accessesDone, int throttlePercent) {
        this.guest = guest;
        this.index = index;
        this.workload = workload;
        this.gfns = gfns;
        this.ratePerS = ratePerS;
        this.hotSetFraction = hotSetFraction;
        this.hotSetWriteFraction = hotSetWriteFraction;
        this.zipfExponent = zipfExponent;
        this.readFraction = readFraction;
        this.rng = rng;
        this.cursor = cursor;
        this.accessesDone = accessesDone;
        this.throttlePercent = throttlePercent;
        this.slotsPerVcpu = Math.max(1, 511 / vcpus);
        this.zipf = workload == Workload.ZIPF ? new Zipf(gfns, zipfExponent) : null;
    }

    /** Rebuilds a vCPU from a switchover's state (the target side). */
    static Vcpu restore(Guest guest, int vcpus, State s) {
        ByteBuffer b = ByteBuffer.wrap(s.state());
        Workload w = Workload.values()[b.getInt()];
        long gfns = b.getLong();
        double rate = b.getDouble();
        double hot = b.getDouble();
        double hotW = b.getDouble();
        double zipfExp = b.getDouble();
        double read = b.getDouble();
        long rng = b.getLong();
        long cursor = b.getLong();
        return new Vcpu(guest, s.vcpuIndex(), vcpus, w, gfns, rate, hot, hotW, zipfExp, read, rng, cursor,
                s.accessesDone(), s.throttlePercent());
    }

    /** The state to carry to the target; only meaningful while the guest is paused. */
    State save() {
        ByteBuffer b = ByteBuffer.allocate(4 + 8 * 9);
        b.putInt(workload.ordinal()).putLong(gfns).putDouble(ratePerS).putDouble(hotSetFraction)
                .putDouble(hotSetWriteFraction).putDouble(zipfExponent).putDouble(readFraction)
                .putLong(rng).putLong(cursor);
        return new State(index, accessesDone, b.array(), throttlePercent);
    }

    long accessesDone() {
        return accessesDone;
    }

    @Override
    public void run() {
        try {
            while (guest.awaitRunnable(this)) {
                if (firstInstructionNanos == 0) {
                    firstInstructionNanos = EpochClock.nowNanos();
                    nextDueNanos = System.nanoTime();
                }
                if (workload == Workload.IDLE) {
                    guest.halt(IDLE_TICK_MILLIS);
                    continue;
                }
                pace();
                step();
            }
        } catch (SignalException e) {
            error = e;
        }
    }

    /** Keeps the vCPU at its write rate, scaled down by the throttle and the dirty limit. */
    private void pace() {
        double rate = ratePerS * (100 - throttlePercent) / 100.0;
        long limit = dirtyLimitPagesPerS;
        if (limit > 0 && (rate <= 0 || rate > limit)) {
            rate = limit;
        }
        if (rate <= 0) {
            if (throttlePercent > 0 && (accessesDone & 255) == 0) {
                LockSupport.parkNanos(throttlePercent * 10_000L);
            }
            return;
        }
        long interval = (long) (1e9 / rate);
        long now = System.nanoTime();
        nextDueNanos += interval;
        if (nextDueNanos < now - 20_000_000L) {
            nextDueNanos = now; // do not burst after a long stall (pause, throttle change)
        }
        while (nextDueNanos > now) {
            LockSupport.parkNanos(nextDueNanos - now);
            now = System.nanoTime();
            if (guest.pauseRequested()) {
                return;
            }
        }
    }

    private void step() {
        long gfn = nextGfn();
        long page = guest.layout().gfnAddress(gfn);
        long seq = accessesDone++;
        long addr = page + 8L * (1 + (long) index * slotsPerVcpu + seq % slotsPerVcpu);
        if (workload == Workload.READ_MOSTLY && nextDouble() < readFraction) {
            guest.mm().readLong(addr);
            return;
        }
        long value = ((long) (index + 1) << 48) | (seq & 0xFFFF_FFFF_FFFFL);
        int pageIndex = guest.layout().pageIndex(page);
        WriteLog log = guest.writeLog();
        log.beginWrite(index);
        try {
            guest.mm().writeLong(addr, value);
        } catch (RuntimeException e) {
            log.abortWrite(index);
            throw e;
        }
        log.endWrite(index, pageIndex);
        int r = (int) (seq % RING);
        ringAddr[r] = addr;
        ringValue[r] = value;
    }

    private long nextGfn() {
        return switch (workload) {
            case HOTSET -> {
                long hot = Math.max(1, (long) (gfns * hotSetFraction));
                yield nextDouble() < hotSetWriteFraction ? scatter(nextLong(hot)) : nextLong(gfns);
            }
            case ZIPF -> scatter(zipf.sample(nextDouble()));
            case SEQUENTIAL -> {
                long g = cursor;
                cursor = (cursor + 1) % gfns;
                yield g;
            }
            default -> nextLong(gfns);
        };
    }

    /** Spreads ranks over the guest (an odd multiplier is a bijection modulo a power of two). */
    private long scatter(long rank) {
        return Math.floorMod(rank * 0x9E3779B97F4A7C15L, gfns);
    }

    /** splitmix64: one long of state, so it travels in {@link State}. */
    private long nextRaw() {
        rng += 0x9E3779B97F4A7C15L;
        return Guest.mix64(rng);
    }

    private long nextLong(long bound) {
        return Math.floorMod(nextRaw(), bound);
    }

    private double nextDouble() {
        return (nextRaw() >>> 11) * 0x1.0p-53;
    }

    /** Gray et al.'s Zipfian generator (as in YCSB), ranks 0..n-1. */
    static final class Zipf {
        private final long n;
        private final double theta;
        private final double zetan;
        private final double alpha;
        private final double eta;

        Zipf(long n, double theta) {
            if (theta <= 0 || theta == 1.0) {
                throw new IllegalArgumentException("zipf exponent must be > 0 and != 1: " + theta);
            }
            this.n = n;
            this.theta = theta;
            this.zetan = zeta(n, theta);
            this.alpha = 1.0 / (1.0 - theta);
            double zeta2 = zeta(2, theta);
            this.eta = (1 - Math.pow(2.0 / n, 1 - theta)) / (1 - zeta2 / zetan);
        }

        private static double zeta(long n, double theta) {
            double s = 0;
            for (long i = 1; i <= n; i++) {
                s += 1.0 / Math.pow(i, theta);
            }
            return s;
        }

        long sample(double u) {
            double uz = u * zetan;
            if (uz < 1.0) {
                return 0;
            }
            if (uz < 1.0 + Math.pow(0.5, theta)) {
                return 1;
            }
            return Math.min(n - 1, (long) (n * Math.pow(eta * u - eta + 1, alpha)));
        }
    }
}
