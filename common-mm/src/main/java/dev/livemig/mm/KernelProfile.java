package dev.livemig.mm;

/**
 * Which kernel the simulation behaves like. Every behaviour that differs between
 * profiles is decided by one method here, so the differences are listed in one place.
 *
 * <table>
 * <caption>MAINLINE (Linux 6.18, what the conformance corpus pins down) vs SEED_V11
 * (the UFFD_FEATURE_WP_ASYNC patch as posted in v11, March 2023)</caption>
 * <tr><th>aspect</th><th>MAINLINE</th><th>SEED_V11</th></tr>
 * <tr><td>WP_ASYNC feature bit</td><td>1&lt;&lt;15 (14 is POISON)</td><td>1&lt;&lt;14</td></tr>
 * <tr><td>WP_ASYNC without WP_UNPOPULATED</td><td>implied (kernel ORs it in)</td>
 *     <td>UFFDIO_API fails with EPERM (the v11 code path leaves -EPERM in ret)</td></tr>
 * <tr><td>UFFDIO_WRITEPROTECT unprotect in async mode</td><td>allowed</td><td>EINVAL</td></tr>
 * <tr><td>REGISTER of a hugetlb vma by a WP_ASYNC ctx</td><td>allowed</td><td>EINVAL</td></tr>
 * <tr><td>POISON feature / UFFDIO_POISON</td><td>bit 14</td><td>not available</td></tr>
 * </table>
 */
public enum KernelProfile {
    MAINLINE,
    SEED_V11;

    public static KernelProfile parse(String name) {
        return switch (name) {
            case "mainline" -> MAINLINE;
            case "seed-v11" -> SEED_V11;
            default -> throw new IllegalArgumentException("unknown kernel profile '" + name
                    + "' (expected mainline or seed-v11)");
        };
    }

    /** Bit number of UFFD_FEATURE_WP_ASYNC. */
    public int wpAsyncBit() {
        return this == SEED_V11 ? 14 : 15;
    }

    /** Whether UFFD_FEATURE_POISON exists (bit 14 in mainline). */
    public boolean hasPoisonFeature() {
        return this == MAINLINE;
    }

    /** Mainline silently implies WP_UNPOPULATED; v11 demands it. */
    public boolean wpAsyncImpliesUnpopulated() {
        return this == MAINLINE;
    }

    /** v11: "The unprotection is not supported if in async WP mode". */
    public boolean asyncUnprotectAllowed() {
        return this == MAINLINE;
    }

    /** v11 rejected hugetlb vmas in a WP_ASYNC registration. */
    public boolean asyncHugetlbAllowed() {
        return this == MAINLINE;
    }

    /** Mainline lets a WP_ASYNC ctx register WP-only on any vma type. */
    public boolean asyncWpAnyVma() {
        return this == MAINLINE;
    }
}
