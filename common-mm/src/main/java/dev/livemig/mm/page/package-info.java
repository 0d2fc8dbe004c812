/**
 * Physical memory (mm/page_alloc.c, struct page / struct folio, mm/rmap.c, mm/filemap.c).
 *
 * <p>Guest bytes live off-heap in 2 MiB chunks indexed by pfn, and each frame has exactly one
 * packed {@code long} of folio metadata; there is no Java object per page. That is what lets a
 * 4 GiB guest run in a small heap, and why folio state is read and written through static
 * helpers on {@link dev.livemig.mm.page.Folio} instead of fields.
 */
package dev.livemig.mm.page;
