/**
 * The simulated Linux address space: one {@link dev.livemig.mm.Kernel} (physical memory,
 * hugetlb pool, configuration) and its processes ({@link dev.livemig.mm.MmStruct}), each
 * with its mmap_lock and split page-table locks.
 *
 * <p>Everything below this package mirrors a kernel file named in each class javadoc, so a
 * kernel engineer can read the Java next to mm/ and fs/. Behaviour is pinned down by the
 * conformance corpus recorded on Linux 6.18; where the WP_ASYNC patch as first posted
 * differs, {@link dev.livemig.mm.KernelProfile} lists it. This module imports nothing but the
 * JDK, so the migration engine and the nodes can depend on it without dragging gRPC along.
 */
package dev.livemig.mm;
