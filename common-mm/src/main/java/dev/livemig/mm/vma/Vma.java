package dev.livemig.mm.vma;

import static dev.livemig.mm.MmConstants.PAGE_SHIFT;
import static dev.livemig.mm.VmFlags.*;

import dev.livemig.mm.MmStruct;
import dev.livemig.mm.page.AddressSpace;
import dev.livemig.mm.uffd.UserfaultfdCtx;

/**
 * Mirrors struct vm_area_struct (include/linux/mm_types.h) and the vma predicates of
 * include/linux/mm.h and include/linux/userfaultfd_k.h.
 */
public final class Vma {
    public final MmStruct mm;
    public long start;
    public long end;
    public long flags;
    /** File offset of {@link #start} in 4 KiB pages. */
    public long pgoff;
    /** The mapped file; null for private anonymous memory. */
    public final AddressSpace file;
    public UserfaultfdCtx uffdCtx;
    /** Whether an anon_vma is attached (anon_vma_prepare() ran). */
    public boolean anonVma;

    /**
     * anon_vma_prepare(): marks the vma as having anonymous pages. Writes only when the
     * mark is missing, as the kernel tests vma->anon_vma first: every anonymous fault
     * calls this, and an unconditional store would bounce the vma's cache line between
     * vCPUs faulting in parallel.
     */
    public void anonVmaPrepare() {
        if (!anonVma) {
            anonVma = true;
        }
    }

    public Vma(MmStruct mm, long start, long end, long flags, long pgoff, AddressSpace file) {
        this.mm = mm;
        this.start = start;
        this.end = end;
        this.flags = flags;
        this.pgoff = pgoff;
        this.file = file;
    }

    public Vma copyFor(MmStruct other) {
        Vma v = new Vma(other, start, end, flags, pgoff, file);
        v.uffdCtx = uffdCtx;
        v.anonVma = anonVma;
        return v;
    }

    public long pages() {
        return (end - start) >>> PAGE_SHIFT;
    }

    public boolean contains(long addr) {
        return addr >= start && addr < end;
    }

    /** linear_page_index(): the file page offset of {@code addr}. */
    public long pgoffOf(long addr) {
        return pgoff + ((addr - start) >>> PAGE_SHIFT);
    }

    /** vma_is_anonymous(): private anonymous memory (no vm_ops). */
    public boolean isAnonymous() {
        return file == null;
    }

    public boolean isHugetlb() {
        return (flags & VM_HUGETLB) != 0;
    }

    public boolean isShmem() {
        return file != null && !file.isHugetlb();
    }

    public boolean isShared() {
        return (flags & VM_SHARED) != 0;
    }

    /** is_cow_mapping(): private and may become writable. */
    public boolean isCowMapping() {
        return (flags & (VM_SHARED | VM_MAYWRITE)) == VM_MAYWRITE;
    }

    public boolean uffdMissing() {
        return (flags & VM_UFFD_MISSING) != 0;
    }

    /** userfaultfd_wp(). */
    public boolean uffdWp() {
        return (flags & VM_UFFD_WP) != 0;
    }

    public boolean uffdMinor() {
        return (flags & VM_UFFD_MINOR) != 0;
    }

    /** userfaultfd_wp_async(). */
    public boolean uffdWpAsync() {
        return uffdCtx != null && uffdCtx.wpAsync();
    }

    /** userfaultfd_wp_use_markers(): wp-protect none ptes with pte markers. */
    public boolean uffdWpUseMarkers() {
        if (!uffdWp()) {
            return false;
        }
        if (!isAnonymous()) {
            return true;
        }
        return uffdCtx != null && uffdCtx.wpUnpopulated();
    }

    /** vma_wants_writenotify() for the flags we model: shared + uffd-wp or soft-dirty tracking. */
    public boolean wantsWritenotify() {
        if ((flags & (VM_WRITE | VM_SHARED)) != (VM_WRITE | VM_SHARED)) {
            return false;
        }
        return uffdWp() || (mm.kernel().softDirtyEnabled() && (flags & VM_SOFTDIRTY) == 0);
    }

    /** Whether vm_page_prot grants write: only shared writable mappings without write-notify. */
    public boolean pageProtWritable() {
        return (flags & (VM_WRITE | VM_SHARED)) == (VM_WRITE | VM_SHARED) && !wantsWritenotify();
    }

    /** Whether two adjacent vmas may merge (is_mergeable_vma + anon/file contiguity). */
    public boolean canMergeWith(Vma next) {
        if (end != next.start || flags != next.flags || file != next.file || uffdCtx != next.uffdCtx) {
            return false;
        }
        return file == null || pgoff + pages() == next.pgoff;
    }

    @Override
    public String toString() {
        return String.format("vma[%x-%x %s pgoff=%d%s]", start, end, describe(flags), pgoff,
                file == null ? "" : " " + file.name());
    }
}
