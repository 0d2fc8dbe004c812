/**
 * The simulated guest: memory regions (anonymous, THP, shmem, hugetlb) mapped into one
 * {@code MmStruct}, vCPU threads running seeded workloads (uniform, hot set, Zipf,
 * sequential sweep, idle, read-mostly) at a given write rate, pause/resume at instruction
 * boundaries, and the ground truth of which pages were written ({@code WriteLog}) that
 * trackers are scored against.
 *
 * <p>Pages are numbered per {@code GuestLayout}: one index per page of the region's page
 * size (2 MiB in hugetlb regions, else 4 KiB), the same on source and target.
 */
package dev.livemig.migration.guest;
