/**
 * The page-fault path and the page-table walkers that rewrite entries in bulk (mm/memory.c,
 * mm/huge_memory.c, mm/mprotect.c, kernel/fork.c).
 *
 * <p>The userfaultfd write-protect rules of the seed patches live here: the uffd-wp bit
 * surviving COW, async resolution of WP_ASYNC faults, pte markers for none entries, and fork
 * copying uffd-wp state only into a child vma that keeps it.
 */
package dev.livemig.mm.fault;
