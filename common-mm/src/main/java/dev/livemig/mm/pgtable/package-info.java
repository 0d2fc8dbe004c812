/**
 * Page tables (include/linux/pgtable.h, arch/x86 pgtable_types.h): four levels of primitive
 * {@code long[512]} tables, packed 64-bit PTEs and huge PMDs, swap entries and pte markers.
 *
 * <p>The bit layout of an entry is documented once in {@link dev.livemig.mm.pgtable.Pte}; every
 * other class goes through its one-field helpers so that layout can change in one place.
 */
package dev.livemig.mm.pgtable;
