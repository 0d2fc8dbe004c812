/**
 * Virtual memory areas and the syscalls that change them (mm/mmap.c, mm/vma.c,
 * mm/mprotect.c, mm/madvise.c): the vma tree, mmap/munmap/mprotect with split and merge, and
 * the madvise behaviours the conformance format can express.
 */
package dev.livemig.mm.vma;
