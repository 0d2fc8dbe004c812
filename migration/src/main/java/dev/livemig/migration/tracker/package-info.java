/**
 * Dirty-page trackers behind one interface ({@code DirtyTracker}): userfaultfd WP_ASYNC
 * harvested with PAGEMAP_SCAN (the default), synchronous userfaultfd write-protect with a
 * monitor thread, and soft-dirty via clear_refs and pagemap. Each drives the simulated
 * kernel only through its uapi (userfaultfd ioctls, /proc/pid files).
 */
package dev.livemig.migration.tracker;
