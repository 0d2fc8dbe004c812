package dev.livemig.mm.script;

import static dev.livemig.mm.MmConstants.PAGE_SIZE;

import dev.livemig.mm.MmStruct;
import dev.livemig.mm.proc.Pagemap;
import dev.livemig.mm.proc.PagemapScan;
import java.util.ArrayList;
import java.util.List;

/**
 * The mmscript commands that read {@code /proc/self/pagemap} and run PAGEMAP_SCAN: their
 * option parsing and the exact output format of FORMAT.md ("pagemap runs", "scan"). Kept
 * apart from {@link ScriptRunner} because they only read state and never involve the
 * monitor thread.
 */
final class ProcCommands {
    private static final String[] CATEGORY_NAMES = {"WPALLOWED", "WRITTEN", "FILE", "PRESENT", "SWAPPED",
        "PFNZERO", "HUGE", "SOFT_DIRTY", "GUARD"};

    private ProcCommands() {
    }

    /** {@code pagemap R START N}: the range's entries as runs of identical flags. */
    static String pagemap(Command c, MmStruct mm, String region, long base, long addr, long len, long zeroPfn) {
        int n = (int) (len >>> 12);
        long[] pme = Pagemap.read(mm, addr, n);
        long start = (addr - base) >>> 12;
        StringBuilder sb = new StringBuilder();
        int i = 0;
        while (i < n) {
            String f = pmFlags(pme[i], zeroPfn);
            int j = i + 1;
            while (j < n && pmFlags(pme[j], zeroPfn).equals(f)) {
                j++;
            }
            if (!f.isEmpty()) {
                sb.append(sb.length() > 0 ? " " : "").append('[').append(start + i).append(',').append(start + j)
                        .append(")=").append(f);
            }
            i = j;
        }
        return "pagemap " + region + " " + c.arg(1) + " " + c.arg(2) + ": " + (sb.length() == 0 ? "-" : sb);
    }

    private static String pmFlags(long e, long zeroPfn) {
        List<String> f = new ArrayList<>(6);
        if ((e & Pagemap.PM_PRESENT) != 0) f.add("present");
        if ((e & Pagemap.PM_SWAP) != 0) f.add("swap");
        if ((e & Pagemap.PM_FILE) != 0) f.add("file");
        if ((e & Pagemap.PM_UFFD_WP) != 0) f.add("uffd-wp");
        if ((e & Pagemap.PM_MMAP_EXCLUSIVE) != 0) f.add("excl");
        if ((e & Pagemap.PM_PRESENT) != 0 && Pagemap.pfn(e) == zeroPfn) f.add("zero");
        return String.join(",", f);
    }

    private static long categories(Command c, String v) {
        if (v.isEmpty() || v.equals("none")) {
            return 0;
        }
        if (Character.isDigit(v.charAt(0))) {
            return Long.parseLong(v);
        }
        long m = 0;
        for (String n : v.split(",")) {
            int b = List.of(CATEGORY_NAMES).indexOf(n);
            if (b < 0) {
                throw new ScriptError(c.line(), "unknown category '" + n + "'");
            }
            m |= 1L << b;
        }
        return m;
    }

    /** {@code scan R START N [KEY=VALUE ...]}: one PAGEMAP_SCAN, its regions relative to the region base. */
    static String scan(Command c, MmStruct mm, String region, long base, long start, long end) {
        long flags = 0, inverted = 0, mask = 0, anyof = 0, ret = 0, max = 0, vec = 4096, size = 96;
        for (int i = 3; i < c.argc(); i++) {
            String kv = c.arg(i);
            int eq = kv.indexOf('=');
            if (eq < 0) {
                throw new ScriptError(c.line(), "scan option '" + kv + "' is not KEY=VALUE");
            }
            String k = kv.substring(0, eq);
            String v = kv.substring(eq + 1);
            try {
                switch (k) {
                    case "flags" -> {
                        if (!v.isEmpty() && Character.isDigit(v.charAt(0))) {
                            flags = Long.parseLong(v);
                        } else {
                            for (String n : v.split(",")) {
                                flags |= switch (n) {
                                    case "WP_MATCHING" -> PagemapScan.PM_SCAN_WP_MATCHING;
                                    case "CHECK_WPASYNC" -> PagemapScan.PM_SCAN_CHECK_WPASYNC;
                                    case "none" -> 0;
                                    default -> throw new ScriptError(c.line(), "unknown scan flag '" + n + "'");
                                };
                            }
                        }
                    }
                    case "inverted" -> inverted = categories(c, v);
                    case "mask" -> mask = categories(c, v);
                    case "anyof" -> anyof = categories(c, v);
                    case "return" -> ret = categories(c, v);
                    case "max" -> max = Long.parseLong(v);
                    case "vec" -> vec = Long.parseLong(v);
                    case "size" -> size = Long.parseLong(v);
                    case "end" -> end = base + Long.parseLong(v) * PAGE_SIZE;
                    default -> throw new ScriptError(c.line(), "unknown scan key '" + k + "'");
                }
            } catch (NumberFormatException e) {
                throw new ScriptError(c.line(), "scan " + k + " must be a number, got '" + v + "'");
            }
        }
        PagemapScan.Arg arg = new PagemapScan.Arg(size, flags, start, end, vec == 0, vec, max, inverted, mask,
                anyof, ret);
        PagemapScan.Result res = PagemapScan.scan(mm, arg);
        StringBuilder sb = new StringBuilder("scan " + region + " n=" + res.regions().size());
        for (PagemapScan.Region reg : res.regions()) {
            sb.append(" [").append((reg.start() - base) >> 12).append(',').append((reg.end() - base) >> 12)
                    .append(")=").append(catNames(reg.categories()));
        }
        sb.append(" walk_end=").append((res.walkEnd() - base) >> 12);
        return sb.toString();
    }

    private static String catNames(long cats) {
        if (cats == 0) {
            return "0";
        }
        List<String> n = new ArrayList<>();
        for (int b = 0; b < CATEGORY_NAMES.length; b++) {
            if ((cats & (1L << b)) != 0) {
                n.add(CATEGORY_NAMES[b]);
            }
        }
        return String.join(",", n);
    }
}
