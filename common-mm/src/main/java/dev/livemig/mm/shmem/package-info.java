/**
 * tmpfs / memfd / shared anonymous memory (mm/shmem.c): files whose pages live only in their
 * page cache, shared by every mapping, which is why MADV_DONTNEED on them keeps the data and
 * why uffd-wp on an unpopulated entry needs a pte marker.
 */
package dev.livemig.mm.shmem;
