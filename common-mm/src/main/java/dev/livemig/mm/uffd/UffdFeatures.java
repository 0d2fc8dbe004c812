package dev.livemig.mm.uffd;

import dev.livemig.mm.KernelProfile;

/**
 * Mirrors the UFFD_FEATURE_* bits of include/uapi/linux/userfaultfd.h. Names are the
 * uapi names without the prefix; bit numbers depend on the {@link KernelProfile}
 * (WP_ASYNC is bit 15 in mainline, 14 in the v11 patch).
 */
public final class UffdFeatures {
    public static final long PAGEFAULT_FLAG_WP = 1L << 0;
    public static final long EVENT_FORK = 1L << 1;
    public static final long EVENT_REMAP = 1L << 2;
    public static final long EVENT_REMOVE = 1L << 3;
    public static final long MISSING_HUGETLBFS = 1L << 4;
    public static final long MISSING_SHMEM = 1L << 5;
    public static final long EVENT_UNMAP = 1L << 6;
    public static final long SIGBUS = 1L << 7;
    public static final long THREAD_ID = 1L << 8;
    public static final long MINOR_HUGETLBFS = 1L << 9;
    public static final long MINOR_SHMEM = 1L << 10;
    public static final long EXACT_ADDRESS = 1L << 11;
    public static final long WP_HUGETLBFS_SHMEM = 1L << 12;
    public static final long WP_UNPOPULATED = 1L << 13;
    /** Mainline bit 14; in SEED_V11 bit 14 is WP_ASYNC and POISON does not exist. */
    public static final long POISON = 1L << 14;
    /** Mainline bit of WP_ASYNC. */
    public static final long WP_ASYNC_MAINLINE = 1L << 15;
    public static final long MOVE = 1L << 16;
    /** Internal: OR-ed into ctx->features once UFFDIO_API succeeded. */
    public static final long INITIALIZED = 1L << 31;

    private static final String[] MAINLINE_NAMES = {"PAGEFAULT_FLAG_WP", "EVENT_FORK", "EVENT_REMAP",
        "EVENT_REMOVE", "MISSING_HUGETLBFS", "MISSING_SHMEM", "EVENT_UNMAP", "SIGBUS", "THREAD_ID",
        "MINOR_HUGETLBFS", "MINOR_SHMEM", "EXACT_ADDRESS", "WP_HUGETLBFS_SHMEM", "WP_UNPOPULATED",
        "POISON", "WP_ASYNC", "MOVE"};

    private UffdFeatures() {
    }

    public static long wpAsync(KernelProfile p) {
        return 1L << p.wpAsyncBit();
    }

    /** UFFD_API_FEATURES: everything this kernel supports. */
    public static long available(KernelProfile p) {
        return p == KernelProfile.MAINLINE ? (1L << 17) - 1 : (1L << 15) - 1;
    }

    /** The bit of a feature name (without UFFD_FEATURE_), or -1 if this kernel has none. */
    public static long bit(String name, KernelProfile p) {
        if (p == KernelProfile.SEED_V11) {
            if (name.equals("WP_ASYNC")) {
                return 1L << 14;
            }
            if (name.equals("POISON") || name.equals("MOVE")) {
                return -1;
            }
        }
        for (int i = 0; i < MAINLINE_NAMES.length; i++) {
            if (MAINLINE_NAMES[i].equals(name)) {
                return 1L << i;
            }
        }
        return -1;
    }
}
