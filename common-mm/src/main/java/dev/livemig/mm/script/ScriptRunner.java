package dev.livemig.mm.script;

import static dev.livemig.mm.MmConstants.HPAGE_PMD_NR;
import static dev.livemig.mm.MmConstants.PAGE_SIZE;
import static dev.livemig.mm.MmConstants.PMD_MASK;

import dev.livemig.mm.Errno;
import dev.livemig.mm.Kernel;
import dev.livemig.mm.KernelException;
import dev.livemig.mm.MmStruct;
import dev.livemig.mm.SignalException;
import dev.livemig.mm.VmFlags;
import dev.livemig.mm.hugetlb.HugetlbFile;
import dev.livemig.mm.page.AddressSpace;
import dev.livemig.mm.shmem.ShmemFile;
import dev.livemig.mm.uffd.PageSource;
import dev.livemig.mm.uffd.UffdFeatures;
import dev.livemig.mm.uffd.UffdMsg;
import dev.livemig.mm.uffd.UserfaultfdCtx;
import dev.livemig.mm.vma.Mmap;
import java.io.PrintStream;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;

/**
 * Runs parsed mmscript commands. Each process (parent, and the child after {@code fork})
 * has a task thread that performs its memory accesses and syscalls, so a fault that
 * waits for userfaultfd really blocks; this thread is the monitor: it reads every
 * userfaultfd's messages as they arrive, prints them, and resolves faults with the
 * configured policy, then prints the command's result line.
 */
final class ScriptRunner implements AutoCloseable {
    private record Region(String name, long base, long pages, String kind, AddressSpace file) {
        boolean hugetlb() {
            return file instanceof HugetlbFile;
        }
    }

    private record Policy(String name, long value) {
    }

    private final Kernel kernel;
    private final PrintStream out;
    private final MmStruct parent;
    private MmStruct child;
    private final Map<String, Region> regions = new LinkedHashMap<>();
    private final Map<String, UserfaultfdCtx> uffds = new LinkedHashMap<>();
    private final Map<String, Policy> policies = new LinkedHashMap<>();
    private final ExecutorService parentTask = Executors.newSingleThreadExecutor(r -> daemon(r, "task-parent"));
    private ExecutorService childTask;
    private final Object activity = new Object();
    private int fileSeq;

    ScriptRunner(Kernel kernel, PrintStream out) {
        this.kernel = kernel;
        this.out = out;
        this.parent = kernel.newMm();
    }

    private static Thread daemon(Runnable r, String name) {
        Thread t = new Thread(r, name);
        t.setDaemon(true);
        return t;
    }

    void runAll(List<Command> cmds) {
        for (Command c : cmds) {
            run(c);
        }
    }

    private void run(Command c) {
        if (c.op().equals("handler")) {
            String p = c.arg(1);
            if (!List.of("auto", "copy", "copy-wp", "zeropage", "continue", "unprotect", "wake").contains(p)) {
                throw new ScriptError(c.line(), "unknown handler policy '" + p + "'");
            }
            policies.put(c.arg(0), new Policy(p, c.argc() > 2 ? ScriptParser.number(c, 2, "value") : 0));
            return;
        }
        if (c.child() && child == null) {
            throw new ScriptError(c.line(), "'child' before 'fork'");
        }
        ExecutorService task = c.child() ? childTask : parentTask;
        MmStruct mm = c.child() ? child : parent;
        Future<String> f = task.submit(() -> execute(c, mm));
        String result = monitorUntilDone(f, c);
        out.println(c.child() ? "child " + result : result);
    }

    private String monitorUntilDone(Future<String> f, Command c) {
        int faults = 0;
        while (true) {
            boolean handled = false;
            for (Map.Entry<String, UserfaultfdCtx> e : new ArrayList<>(uffds.entrySet())) {
                UserfaultfdCtx ctx = e.getValue();
                if (ctx.features() == 0 || ctx.isReleased()) {
                    continue;
                }
                UffdMsg msg = ctx.read(0);
                if (msg != null) {
                    if (++faults > 10_000) {
                        throw new ScriptError(c.line(), "the fault never resolves (monitor policy loops)");
                    }
                    handle(e.getKey(), ctx, msg);
                    handled = true;
                    break;
                }
            }
            if (handled) {
                continue;
            }
            if (f.isDone()) {
                break;
            }
            synchronized (activity) {
                try {
                    activity.wait(0, 50_000);
                } catch (InterruptedException ie) {
                    Thread.currentThread().interrupt();
                    throw new ScriptError(c.line(), "interrupted");
                }
            }
        }
        try {
            return f.get();
        } catch (ExecutionException e) {
            if (e.getCause() instanceof ScriptError se) {
                throw se;
            }
            throw new IllegalStateException("line " + c.line() + ": " + e.getCause(), e.getCause());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new ScriptError(c.line(), "interrupted");
        }
    }

    private void wakeMonitor() {
        synchronized (activity) {
            activity.notifyAll();
        }
    }

    // ---- the monitor --------------------------------------------------------------

    private Region regionOf(long addr) {
        for (Region r : regions.values()) {
            if (addr >= r.base && addr < r.base + r.pages * PAGE_SIZE) {
                return r;
            }
        }
        return null;
    }

    private String where(long addr) {
        Region r = regionOf(addr);
        return r == null ? "? " + Long.toHexString(addr) : r.name + " " + ((addr - r.base) >>> 12);
    }

    private void handle(String name, UserfaultfdCtx ctx, UffdMsg msg) {
        switch (msg.event()) {
            case UffdMsg.EVENT_PAGEFAULT -> {
                String flags = (msg.write() ? "WRITE" : "READ") + (msg.wp() ? ",WP" : "") + (msg.minor() ? ",MINOR" : "");
                out.println("event " + name + " pagefault " + where(msg.address()) + " " + flags);
                resolve(name, ctx, msg);
            }
            case UffdMsg.EVENT_FORK -> {
                out.println("event " + name + " fork");
                UserfaultfdCtx nctx = msg.forkCtx();
                nctx.onMessage(this::wakeMonitor);
                uffds.put(name + "/child", nctx);
                policies.put(name + "/child", policies.getOrDefault(name, new Policy("auto", 0)));
            }
            case UffdMsg.EVENT_REMOVE, UffdMsg.EVENT_UNMAP -> {
                String ev = msg.event() == UffdMsg.EVENT_REMOVE ? "remove" : "unmap";
                out.println("event " + name + " " + ev + " " + where(msg.start()) + " "
                        + ((msg.end() - msg.start()) >>> 12));
            }
            default -> out.println("event " + name + " " + msg.event());
        }
    }

    private void resolve(String name, UserfaultfdCtx ctx, UffdMsg msg) {
        Region r = regionOf(msg.address());
        boolean huge = r != null && r.hugetlb();
        long len = huge ? HPAGE_PMD_NR * PAGE_SIZE : PAGE_SIZE;
        long addr = msg.address() & (huge ? PMD_MASK : ~(PAGE_SIZE - 1));
        Policy p = policies.getOrDefault(name, new Policy("auto", 0));
        Errno err = act(ctx, msg, p.name, p.value, addr, len);
        if (err == null) {
            return;
        }
        out.println("event " + name + " resolve " + err);
        if (!p.name.equals("auto")) {
            Errno err2 = act(ctx, msg, "auto", p.value, addr, len);
            if (err2 != null) {
                out.println("event " + name + " resolve " + err2);
            }
        }
        try {
            ctx.wakeIoctl(addr, len);
        } catch (KernelException e) {
            out.println("event " + name + " resolve " + e.errno());
        }
    }

    private Errno act(UserfaultfdCtx ctx, UffdMsg msg, String policy, long value, long addr, long len) {
        try {
            switch (policy) {
                case "auto" -> {
                    if (msg.wp()) {
                        ctx.writeprotect(addr, len, 0);
                    } else if (msg.minor()) {
                        ctx.cont(addr, len, 0);
                    } else {
                        ctx.copy(addr, len, 0, PageSource.ofValue(value));
                    }
                }
                case "copy" -> ctx.copy(addr, len, 0, PageSource.ofValue(value));
                case "copy-wp" -> ctx.copy(addr, len, UserfaultfdCtx.COPY_MODE_WP, PageSource.ofValue(value));
                case "zeropage" -> ctx.zeropage(addr, len, 0);
                case "continue" -> ctx.cont(addr, len, 0);
                case "unprotect" -> ctx.writeprotect(addr, len, 0);
                case "wake" -> ctx.wakeIoctl(addr, len);
                default -> throw new IllegalStateException(policy);
            }
            return null;
        } catch (KernelException e) {
            return e.errno();
        }
    }

    // ---- commands (run on a task thread) ------------------------------------------------

    private Region region(Command c, int i) {
        Region r = regions.get(c.arg(i));
        if (r == null) {
            throw new ScriptError(c.line(), "unknown region '" + c.arg(i) + "'");
        }
        return r;
    }

    private UserfaultfdCtx uffd(Command c, int i) {
        UserfaultfdCtx u = uffds.get(c.arg(i));
        if (u == null) {
            throw new ScriptError(c.line(), "unknown userfaultfd '" + c.arg(i) + "'");
        }
        return u;
    }

    /** START N inside the region: returns {start address, byte length}. */
    private long[] range(Command c, Region r, int i) {
        long start = ScriptParser.number(c, i, "start page");
        long n = ScriptParser.number(c, i + 1, "page count");
        if (start < 0 || n < 0 || start + n > r.pages) {
            throw new ScriptError(c.line(), "range " + start + "+" + n + " outside region " + r.name
                    + " of " + r.pages + " pages");
        }
        return new long[] {r.base + start * PAGE_SIZE, n * PAGE_SIZE};
    }

    private long page(Command c, Region r, int i) {
        long p = ScriptParser.number(c, i, "page");
        if (p < 0 || p >= r.pages) {
            throw new ScriptError(c.line(), "page " + p + " outside region " + r.name);
        }
        return r.base + p * PAGE_SIZE;
    }

    private String execute(Command c, MmStruct mm) {
        String op = c.op();
        try {
            return switch (op) {
                case "mmap" -> doMmap(c, mm);
                case "munmap" -> {
                    Region r = region(c, 0);
                    long[] rg = range(c, r, 1);
                    mm.munmap(rg[0], rg[1]);
                    yield "munmap " + r.name + " ok";
                }
                case "madvise" -> doMadvise(c, mm);
                case "mprotect" -> {
                    Region r = region(c, 0);
                    long[] rg = range(c, r, 1);
                    int prot = switch (c.arg(3)) {
                        case "none" -> Mmap.PROT_NONE;
                        case "r" -> Mmap.PROT_READ;
                        case "rw" -> Mmap.PROT_READ | Mmap.PROT_WRITE;
                        default -> throw new ScriptError(c.line(), "unknown protection '" + c.arg(3) + "'");
                    };
                    mm.mprotect(rg[0], rg[1], prot);
                    yield "mprotect " + r.name + " ok";
                }
                case "write" -> {
                    Region r = region(c, 0);
                    long a = page(c, r, 1);
                    long v = ScriptParser.number(c, 2, "value");
                    try {
                        mm.writeLong(a, v);
                        yield "write " + r.name + " " + c.arg(1) + " ok";
                    } catch (SignalException s) {
                        yield "write " + r.name + " " + c.arg(1) + " " + s.signal();
                    }
                }
                case "read" -> {
                    Region r = region(c, 0);
                    long a = page(c, r, 1);
                    try {
                        yield "read " + r.name + " " + c.arg(1) + " = " + Long.toUnsignedString(mm.readLong(a));
                    } catch (SignalException s) {
                        yield "read " + r.name + " " + c.arg(1) + " " + s.signal();
                    }
                }
                case "fill" -> {
                    Region r = region(c, 0);
                    long[] rg = range(c, r, 1);
                    long v = ScriptParser.number(c, 3, "value");
                    for (long a = rg[0]; a < rg[0] + rg[1]; a += PAGE_SIZE) {
                        try {
                            mm.writeLong(a, v);
                        } catch (SignalException s) {
                            yield "fill " + r.name + " " + s.signal() + " at " + ((a - r.base) >>> 12);
                        }
                    }
                    yield "fill " + r.name + " ok";
                }
                case "uffd" -> doUffd(c, mm);
                case "api" -> {
                    noChild(c);
                    UserfaultfdCtx u = uffd(c, 0);
                    u.api(features(c, 1));
                    yield "api " + c.arg(0) + " ok";
                }
                case "register" -> doRegister(c);
                case "unregister" -> {
                    noChild(c);
                    UserfaultfdCtx u = uffd(c, 0);
                    Region r = region(c, 1);
                    long[] rg = range(c, r, 2);
                    u.unregister(rg[0], rg[1]);
                    yield "unregister " + c.arg(0) + " " + r.name + " ok";
                }
                case "wp" -> doWp(c);
                case "copy", "zeropage", "continue" -> doFill(c);
                case "wake" -> {
                    noChild(c);
                    UserfaultfdCtx u = uffd(c, 0);
                    Region r = region(c, 1);
                    long[] rg = range(c, r, 2);
                    u.wakeIoctl(rg[0], rg[1]);
                    yield "wake " + c.arg(0) + " " + r.name + " ok";
                }
                case "pagemap" -> doPagemap(c, mm);
                case "scan" -> doScan(c, mm);
                case "fork" -> {
                    if (c.child()) {
                        throw new ScriptError(c.line(), "fork in the child is not supported");
                    }
                    child = mm.fork();
                    if (childTask != null) {
                        childTask.shutdownNow();
                    }
                    childTask = Executors.newSingleThreadExecutor(r -> daemon(r, "task-child"));
                    yield "fork ok";
                }
                default -> throw new ScriptError(c.line(), "unknown command '" + op + "'");
            };
        } catch (KernelException e) {
            return errLine(c, e);
        }
    }

    private String errLine(Command c, KernelException e) {
        String head = switch (c.op()) {
            case "uffd", "api" -> c.op() + " " + c.arg(0);
            case "register", "unregister", "wp", "copy", "zeropage", "continue", "wake" ->
                    c.op() + " " + c.arg(0) + " " + c.arg(1);
            case "madvise" -> "madvise " + c.arg(0) + " " + c.arg(3);
            default -> c.op() + " " + c.arg(0);
        };
        String s = head + " ERR " + e.errno();
        if (c.op().equals("copy") || c.op().equals("zeropage") || c.op().equals("continue")) {
            String key = c.op().equals("copy") ? "copied" : c.op().equals("zeropage") ? "zeroed" : "mapped";
            long v = e.hasResult() ? e.result() : 0;
            s += " " + key + "=" + (v > 0 ? v >>> 12 : v);
        }
        return s;
    }

    private void noChild(Command c) {
        if (c.child()) {
            throw new ScriptError(c.line(), "userfaultfd ioctls cannot run in the child");
        }
    }

    private String doMmap(Command c, MmStruct mm) {
        String name = c.arg(0);
        String kind = c.arg(1);
        int rw = Mmap.PROT_READ | Mmap.PROT_WRITE;
        long base;
        long pages;
        AddressSpace file = null;
        if (kind.equals("alias")) {
            Region other = region(c, 2);
            if (other.file == null) {
                throw new ScriptError(c.line(), "region " + other.name + " has no file to alias");
            }
            pages = other.pages;
            file = other.file;
            base = mm.mmap(pages * PAGE_SIZE, rw, true, file, 0, 0);
        } else {
            pages = ScriptParser.number(c, 2, "page count");
            if (pages <= 0) {
                throw new ScriptError(c.line(), "page count must be positive");
            }
            long len = pages * PAGE_SIZE;
            String fname = "file" + (++fileSeq);
            switch (kind) {
                case "anon" -> {
                    base = mm.mmap(len, rw, false, null, 0, 0);
                    mm.madvise(base, len, Mmap.Advice.NOHUGEPAGE);
                }
                case "thp" -> {
                    base = mm.mmap(len, rw, false, null, 0, 0);
                    mm.madvise(base, len, Mmap.Advice.HUGEPAGE);
                }
                case "shmem", "shmem-anon" -> {
                    file = new ShmemFile(kernel.physMem(), fname, pages);
                    base = mm.mmap(len, rw, true, file, 0, 0);
                }
                case "shmem-private" -> {
                    file = new ShmemFile(kernel.physMem(), fname, pages);
                    base = mm.mmap(len, rw, false, file, 0, 0);
                }
                case "hugetlb", "hugetlb-private" -> {
                    file = new HugetlbFile(kernel.physMem(), fname, pages);
                    base = mm.mmap(len, rw, kind.equals("hugetlb"), file, 0, 0);
                }
                default -> throw new ScriptError(c.line(), "unknown mapping kind '" + kind + "'");
            }
        }
        regions.put(name, new Region(name, base, pages, kind, file));
        return "mmap " + name + " ok";
    }

    private String doMadvise(Command c, MmStruct mm) {
        Region r = region(c, 0);
        long[] rg = range(c, r, 1);
        Mmap.Advice a = switch (c.arg(3)) {
            case "dontneed" -> Mmap.Advice.DONTNEED;
            case "remove" -> Mmap.Advice.REMOVE;
            case "populate-read" -> Mmap.Advice.POPULATE_READ;
            case "populate-write" -> Mmap.Advice.POPULATE_WRITE;
            case "hugepage" -> Mmap.Advice.HUGEPAGE;
            case "nohugepage" -> Mmap.Advice.NOHUGEPAGE;
            case "collapse" -> Mmap.Advice.COLLAPSE;
            default -> throw new ScriptError(c.line(), "unknown advice '" + c.arg(3) + "'");
        };
        mm.madvise(rg[0], rg[1], a);
        return "madvise " + r.name + " " + c.arg(3) + " ok";
    }

    private long features(Command c, int i) {
        String s = c.arg(i);
        if (s.equals("none")) {
            return 0;
        }
        long f = 0;
        for (String name : s.split(",")) {
            long b = UffdFeatures.bit(name, kernel.profile());
            if (b < 0) {
                if (UffdFeatures.bit(name, dev.livemig.mm.KernelProfile.MAINLINE) < 0) {
                    throw new ScriptError(c.line(), "unknown feature '" + name + "'");
                }
                b = 1L << 40; // a feature this kernel does not have: UFFDIO_API says EINVAL
            }
            f |= b;
        }
        return f;
    }

    private String doUffd(Command c, MmStruct mm) {
        noChild(c);
        String name = c.arg(0);
        long f = features(c, 1);
        UserfaultfdCtx u = mm.userfaultfd();
        u.onMessage(this::wakeMonitor);
        try {
            u.api(f);
        } catch (KernelException e) {
            uffds.remove(name);
            return "uffd " + name + " ERR " + e.errno();
        }
        uffds.put(name, u);
        return "uffd " + name + " ok";
    }

    private String doRegister(Command c) {
        noChild(c);
        UserfaultfdCtx u = uffd(c, 0);
        Region r = region(c, 1);
        long[] rg = range(c, r, 2);
        int mode = 0;
        for (String m : c.arg(4).split(",")) {
            mode |= switch (m) {
                case "missing" -> UserfaultfdCtx.REGISTER_MODE_MISSING;
                case "wp" -> UserfaultfdCtx.REGISTER_MODE_WP;
                case "minor" -> UserfaultfdCtx.REGISTER_MODE_MINOR;
                case "none" -> 0;
                default -> throw new ScriptError(c.line(), "unknown register mode '" + m + "'");
            };
        }
        long ioctls = u.register(rg[0], rg[1], mode);
        String[] names = {"", "", "WAKE", "COPY", "ZEROPAGE", "MOVE", "WRITEPROTECT", "CONTINUE", "POISON"};
        StringBuilder sb = new StringBuilder();
        for (int b = 0; b < names.length; b++) {
            if ((ioctls & (1L << b)) != 0) {
                sb.append(sb.length() > 0 ? "," : "").append(names[b]);
            }
        }
        return "register " + c.arg(0) + " " + r.name + " ok ioctls=" + sb;
    }

    private String doWp(Command c) {
        noChild(c);
        UserfaultfdCtx u = uffd(c, 0);
        Region r = region(c, 1);
        long[] rg = range(c, r, 2);
        int mode = switch (c.arg(4)) {
            case "on" -> UserfaultfdCtx.WRITEPROTECT_MODE_WP;
            case "off" -> 0;
            default -> throw new ScriptError(c.line(), "wp takes on or off, got '" + c.arg(4) + "'");
        };
        if (c.argc() > 5) {
            if (!c.arg(5).equals("dontwake")) {
                throw new ScriptError(c.line(), "unknown wp flag '" + c.arg(5) + "'");
            }
            mode |= UserfaultfdCtx.WRITEPROTECT_MODE_DONTWAKE;
        }
        u.writeprotect(rg[0], rg[1], mode);
        return "wp " + c.arg(0) + " " + r.name + " ok";
    }

    private String doFill(Command c) {
        noChild(c);
        UserfaultfdCtx u = uffd(c, 0);
        Region r = region(c, 1);
        long[] rg = range(c, r, 2);
        int mode = 0;
        int first = 4;
        long value = 0;
        if (c.op().equals("copy")) {
            value = ScriptParser.number(c, 4, "value");
            first = 5;
        }
        for (int i = first; i < c.argc(); i++) {
            switch (c.arg(i)) {
                case "wp" -> mode |= UserfaultfdCtx.COPY_MODE_WP;
                case "dontwake" -> mode |= UserfaultfdCtx.COPY_MODE_DONTWAKE;
                default -> throw new ScriptError(c.line(), "unknown " + c.op() + " flag '" + c.arg(i) + "'");
            }
        }
        long done = switch (c.op()) {
            case "copy" -> u.copy(rg[0], rg[1], mode, PageSource.ofValue(value));
            case "zeropage" -> u.zeropage(rg[0], rg[1], mode);
            default -> u.cont(rg[0], rg[1], mode);
        };
        String key = c.op().equals("copy") ? "copied" : c.op().equals("zeropage") ? "zeroed" : "mapped";
        return c.op() + " " + c.arg(0) + " " + r.name + " ok " + key + "=" + (done >>> 12);
    }

    private String doPagemap(Command c, MmStruct mm) {
        Region r = region(c, 0);
        long[] rg = range(c, r, 1);
        return ProcCommands.pagemap(c, mm, r.name, r.base, rg[0], rg[1], kernel.physMem().zeroPfn);
    }

    private String doScan(Command c, MmStruct mm) {
        Region r = region(c, 0);
        long[] rg = range(c, r, 1);
        return ProcCommands.scan(c, mm, r.name, r.base, rg[0], rg[0] + rg[1]);
    }

    @Override
    public void close() {
        parentTask.shutdownNow();
        if (childTask != null) {
            childTask.shutdownNow();
        }
    }
}
