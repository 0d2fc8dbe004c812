package dev.livemig.mm;

/** Mirrors include/linux/mm.h VM_* flags (the subset the simulation needs). */
public final class VmFlags {
    public static final long VM_READ = 1L << 0;
    public static final long VM_WRITE = 1L << 1;
    public static final long VM_EXEC = 1L << 2;
    public static final long VM_SHARED = 1L << 3;
    public static final long VM_MAYREAD = 1L << 4;
    public static final long VM_MAYWRITE = 1L << 5;
    public static final long VM_MAYEXEC = 1L << 6;
    public static final long VM_MAYSHARE = 1L << 7;
    public static final long VM_UFFD_MISSING = 1L << 9;
    public static final long VM_UFFD_WP = 1L << 12;
    public static final long VM_PFNMAP = 1L << 10;
    public static final long VM_LOCKED = 1L << 13;
    public static final long VM_DONTCOPY = 1L << 17;
    public static final long VM_HUGETLB = 1L << 22;
    public static final long VM_SOFTDIRTY = 1L << 27;
    public static final long VM_HUGEPAGE = 1L << 29;
    public static final long VM_NOHUGEPAGE = 1L << 30;
    public static final long VM_UFFD_MINOR = 1L << 41;
    public static final long VM_UFFD_ALL = VM_UFFD_MISSING | VM_UFFD_WP | VM_UFFD_MINOR;

    private VmFlags() {
    }

    public static String describe(long flags) {
        StringBuilder sb = new StringBuilder();
        if ((flags & VM_READ) != 0) sb.append("rd ");
        if ((flags & VM_WRITE) != 0) sb.append("wr ");
        if ((flags & VM_SHARED) != 0) sb.append("sh ");
        if ((flags & VM_MAYWRITE) != 0) sb.append("mw ");
        if ((flags & VM_HUGETLB) != 0) sb.append("ht ");
        if ((flags & VM_HUGEPAGE) != 0) sb.append("hg ");
        if ((flags & VM_NOHUGEPAGE) != 0) sb.append("nh ");
        if ((flags & VM_UFFD_MISSING) != 0) sb.append("um ");
        if ((flags & VM_UFFD_WP) != 0) sb.append("uw ");
        if ((flags & VM_UFFD_MINOR) != 0) sb.append("ui ");
        if ((flags & VM_SOFTDIRTY) != 0) sb.append("sd ");
        return sb.toString().trim();
    }
}
