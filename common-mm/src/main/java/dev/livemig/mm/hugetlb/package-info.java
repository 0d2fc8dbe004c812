/**
 * hugetlbfs (mm/hugetlb.c, fs/hugetlbfs/inode.c): the pool of 2 MiB pages, hugetlb faults,
 * and the page cache that makes a UFFDIO_COPY into a shared mapping visible to every other
 * mapping of the file.
 */
package dev.livemig.mm.hugetlb;
