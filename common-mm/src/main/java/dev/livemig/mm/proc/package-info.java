/**
 * /proc/pid/pagemap and the PAGEMAP_SCAN ioctl (fs/proc/task_mmu.c): 64-bit PM_* entries and
 * the scan with categories, masks, WP_MATCHING, max_pages and the walk_end rule, which is the
 * dirty tracker pre-copy relies on.
 */
package dev.livemig.mm.proc;
