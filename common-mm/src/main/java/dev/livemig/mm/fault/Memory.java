package dev.livemig.mm.fault;

import static dev.livemig.mm.MmConstants.FAULT_AROUND_PAGES;
import static dev.livemig.mm.MmConstants.PAGE_SIZE;
import static dev.livemig.mm.MmConstants.PTRS_PER_TABLE;
import static dev.livemig.mm.MmConstants.pteIndex;
import static dev.livemig.mm.fault.VmFault.*;

import dev.livemig.mm.VmFlags;
import dev.livemig.mm.hugetlb.Hugetlb;
import dev.livemig.mm.page.AddressSpace;
import dev.livemig.mm.page.Folio;
import dev.livemig.mm.page.PhysMem;
import dev.livemig.mm.page.Rmap;
import dev.livemig.mm.pgtable.PmdTable;
import dev.livemig.mm.pgtable.Pte;
import dev.livemig.mm.uffd.Userfaultfd;
import dev.livemig.mm.vma.Vma;

/**
 * Mirrors mm/memory.c: the page-fault handler.
 *
 * <p>{@link #handleMmFault} runs with the mmap read lock and the split lock of the
 * faulting PMD slot held (see {@code PageTable#ptlock}); everything it changes in the page
 * tables lies in that slot. It follows the kernel's structure: huge PMD faults go to
 * {@link HugeMemory}, hugetlb vmas to {@link Hugetlb}, everything else to
 * {@link #handlePteFault}, which dispatches on the old pte: none (anonymous or file
 * fault), a swap entry or pte marker, or a present pte that needs write access
 * ({@link #doWpPage}). A fault that must be resolved by a userfaultfd monitor queues a
 * message and returns {@link VmFault#RETRY}; the caller sleeps after dropping its locks
 * and then re-executes the access, exactly as VM_FAULT_RETRY does.
 *
 * <p>The uffd-wp rules of the seed patches live here: a write to a uffd-wp pte reports a
 * WP fault (sync) or clears the bit and carries on (WP_ASYNC); a fault on a uffd-wp pte
 * marker installs the new pte with the uffd-wp bit (vmf_orig_pte_uffd_wp); COW of a
 * protected page leaves the other mapping's bit alone.
 */
public final class Memory {
    private Memory() {
    }

    static PhysMem pm(Vma vma) {
        return vma.mm.kernel().physMem();
    }

    /** handle_mm_fault(): resolves one fault at {@code vmf.address}. */
    public static int handleMmFault(VmFault vmf) {
        Vma vma = vmf.vma;
        if (vma.isHugetlb()) {
            return Hugetlb.fault(vmf);
        }
        PmdTable t = vma.mm.pgtable().pmdTable(vmf.address, true);
        int i = dev.livemig.mm.MmConstants.pmdIndex(vmf.address);
        if (t.pmdNone(i) && HugeMemory.thpAllowed(vma, vmf.address)) {
            int r = HugeMemory.doHugePmdAnonymousPage(vmf, t, i);
            if (r != FALLBACK) {
                return r;
            }
        } else if (!t.isTable(i) && Pte.present(t.pmd[i])) {
            long pmd = t.pmd[i];
            if (vmf.write && !Pte.write(pmd)) {
                int r = HugeMemory.wpHugePmd(vmf, t, i);
                if (r != FALLBACK) {
                    return r;
                }
            } else {
                t.pmd[i] = Pte.mkYoung(vmf.write ? Pte.mkDirty(pmd) : pmd);
                return OK;
            }
        }
        return handlePteFault(vmf);
    }

    /** handle_pte_fault(). */
    static int handlePteFault(VmFault vmf) {
        Vma vma = vmf.vma;
        long[] tbl = vma.mm.pgtable().pteAlloc(vmf.address);
        if (tbl == null) {
            return RETRY; // raced with a huge PMD
        }
        int idx = pteIndex(vmf.address);
        long pte = tbl[idx];
        if (pte == 0) {
            vmf.origPteValid = false;
            vmf.origPte = 0;
            return doPteMissing(vmf);
        }
        vmf.origPteValid = true;
        vmf.origPte = pte;
        if (!Pte.present(pte)) {
            if (Pte.isMarker(pte)) {
                return handlePteMarker(vmf, tbl, idx);
            }
            return SIGBUS; // no swap device
        }
        if (Pte.protnone(pte)) {
            tbl[idx] = Pte.clearProtnone(pte);
            return OK;
        }
        if (vmf.write && !Pte.write(pte)) {
            return doWpPage(vmf, tbl, idx);
        }
        tbl[idx] = Pte.mkYoung(vmf.write ? Pte.mkDirty(pte) : pte);
        return OK;
    }

    static int doPteMissing(VmFault vmf) {
        return vmf.vma.isAnonymous() ? doAnonymousPage(vmf) : doFault(vmf);
    }

    /** handle_pte_marker(). */
    static int handlePteMarker(VmFault vmf, long[] tbl, int idx) {
        long marker = Pte.markerBits(vmf.origPte);
        if (marker == 0) {
            return SIGBUS;
        }
        if ((marker & Pte.MARKER_POISONED) != 0) {
            return HWPOISON;
        }
        if ((marker & Pte.MARKER_GUARD) != 0) {
            return SIGSEGV;
        }
        if ((marker & Pte.MARKER_UFFD_WP) != 0) {
            // pte_marker_handle_uffd_wp(): leftovers after unregister are just cleared
            if (!vmf.vma.uffdWp()) {
                tbl[idx] = 0;
                return OK;
            }
            return doPteMissing(vmf);
        }
        return SIGBUS;
    }

    /** pte_same() re-check after the lock was (notionally) dropped. */
    static boolean pteChanged(VmFault vmf, long[] tbl, int idx) {
        long cur = tbl[idx];
        return vmf.origPteValid ? cur != vmf.origPte : cur != 0;
    }

    /** do_anonymous_page(). */
    static int doAnonymousPage(VmFault vmf) {
        Vma vma = vmf.vma;
        PhysMem pm = pm(vma);
        if (vma.isShared()) {
            return SIGBUS;
        }
        long[] tbl = vma.mm.pgtable().pteAlloc(vmf.address);
        int idx = pteIndex(vmf.address);
        if (!vmf.write) {
            if (pteChanged(vmf, tbl, idx)) {
                return OK;
            }
            if (vma.uffdMissing()) {
                return Userfaultfd.handleUserfault(vmf, VmFlags.VM_UFFD_MISSING);
            }
            long entry = Pte.mkSpecial(Pte.pfnPte(pm.zeroPfn));
            if (vmf.origPteUffdWp()) {
                entry = Pte.mkUffdWp(entry);
            }
            tbl[idx] = entry;
            return OK;
        }
        vma.anonVmaPrepare();
        if (vma.uffdMissing()) {
            return Userfaultfd.handleUserfault(vmf, VmFlags.VM_UFFD_MISSING);
        }
        long pfn = pm.allocFolio(0, 0);
        if (pfn < 0) {
            return OOM;
        }
        long entry = Pte.pfnPte(pfn);
        if ((vma.flags & VmFlags.VM_WRITE) != 0) {
            entry = Pte.mkWrite(Pte.mkDirty(entry));
        }
        Rmap.addNewAnon(pm, pfn);
        if (vmf.origPteUffdWp()) {
            entry = Pte.mkUffdWp(entry);
        }
        tbl[idx] = entry;
        return OK;
    }

    // ---- file-backed faults -------------------------------------------------------

    /** do_fault(). */
    static int doFault(VmFault vmf) {
        if (!vmf.write) {
            return doReadFault(vmf);
        }
        if (!vmf.vma.isShared()) {
            return doCowFault(vmf);
        }
        return doSharedFault(vmf);
    }

    /** uffd_disable_fault_around() / should_fault_around(). */
    static boolean shouldFaultAround(Vma vma) {
        return (vma.flags & (VmFlags.VM_UFFD_WP | VmFlags.VM_UFFD_MINOR)) == 0;
    }

    static int doReadFault(VmFault vmf) {
        if (shouldFaultAround(vmf.vma)) {
            int r = doFaultAround(vmf);
            if (r != OK) {
                return r;
            }
        }
        long[] folio = new long[1];
        int r = shmemFault(vmf, folio);
        if (r != OK) {
            return r;
        }
        return finishFault(vmf, folio[0], Folio.head(pm(vmf.vma), folio[0]));
    }

    /** do_cow_fault(): private write fault on a file mapping. */
    static int doCowFault(VmFault vmf) {
        Vma vma = vmf.vma;
        PhysMem pm = pm(vma);
        vma.anonVmaPrepare();
        long[] folio = new long[1];
        int r = shmemFault(vmf, folio);
        if (r != OK) {
            return r;
        }
        long newPfn = pm.allocFolio(0, 0);
        if (newPfn < 0) {
            Folio.put(pm, folio[0]);
            return OOM;
        }
        pm.copyFrame(folio[0], newPfn);
        Folio.put(pm, folio[0]);
        return finishFault(vmf, newPfn, newPfn);
    }

    static int doSharedFault(VmFault vmf) {
        long[] folio = new long[1];
        int r = shmemFault(vmf, folio);
        if (r != OK) {
            return r;
        }
        Folio.set(pm(vmf.vma), folio[0], Folio.DIRTY);
        return finishFault(vmf, folio[0], folio[0]);
    }

    /**
     * shmem_fault() / shmem_get_folio_gfp(SGP_CACHE): finds or allocates the page-cache
     * folio, handing MINOR and MISSING faults to userfaultfd. On success {@code out[0]}
     * holds the folio with a reference for the caller.
     */
    static int shmemFault(VmFault vmf, long[] out) {
        Vma vma = vmf.vma;
        PhysMem pm = pm(vma);
        AddressSpace f = vma.file;
        if (vmf.pgoff >= f.sizePages()) {
            return SIGBUS;
        }
        long pfn = f.lookup(vmf.pgoff);
        if (pfn >= 0 && vma.uffdMinor()) {
            return Userfaultfd.handleUserfault(vmf, VmFlags.VM_UFFD_MINOR);
        }
        if (pfn >= 0) {
            pfn = f.lookupGet(vmf.pgoff);
            if (pfn < 0) {
                return RETRY; // truncated since the peek: fault again
            }
            out[0] = pfn;
            return OK;
        }
        if (vma.uffdMissing()) {
            return Userfaultfd.handleUserfault(vmf, VmFlags.VM_UFFD_MISSING);
        }
        pfn = pm.allocFolio(0, 0);
        if (pfn < 0) {
            return OOM;
        }
        Folio.get(pm, pfn); // the caller's, taken before the cache's can be dropped by a truncation
        if (!f.add(vmf.pgoff, pfn)) {
            // another mapping of the file (another PMD slot, another mm) filled the index first
            Folio.put(pm, pfn, 2);
            return RETRY;
        }
        out[0] = pfn;
        return OK;
    }

    /** finish_fault(): maps {@code pfn} (a reference owned by the caller) at the fault address. */
    static int finishFault(VmFault vmf, long pfn, long head) {
        Vma vma = vmf.vma;
        long[] tbl = vma.mm.pgtable().pteAlloc(vmf.address);
        int idx = pteIndex(vmf.address);
        if (tbl == null || pteChanged(vmf, tbl, idx)) {
            Folio.put(pm(vma), head);
            return OK;
        }
        setPteRange(vmf, tbl, idx, pfn, vmf.write, vmf.origPteUffdWp());
        return OK;
    }

    /** set_pte_range() for one page: builds the pte and adds the rmap. */
    static void setPteRange(VmFault vmf, long[] tbl, int idx, long pfn, boolean write, boolean uffdWp) {
        Vma vma = vmf.vma;
        PhysMem pm = pm(vma);
        long entry = Pte.pfnPte(pfn);
        if (vma.pageProtWritable()) {
            entry = Pte.mkWrite(entry);
        }
        if (write) {
            entry = Pte.mkDirty(entry);
            if ((vma.flags & VmFlags.VM_WRITE) != 0) {
                entry = Pte.mkWrite(entry);
            }
        } else if (Pte.write(entry) && Folio.test(pm, Folio.head(pm, pfn), Folio.DIRTY)) {
            entry = Pte.mkDirty(entry);
        }
        if (uffdWp) {
            entry = Pte.mkUffdWp(entry);
        }
        if (write && !vma.isShared()) {
            Rmap.addNewAnon(pm, pfn);
        } else {
            Rmap.addPte(pm, pfn);
        }
        tbl[idx] = entry;
    }

    /**
     * do_fault_around() + filemap_map_pages(): maps the page-cache pages around the fault
     * (a 16-page window aligned in the page table, clamped to the vma) into none ptes.
     * Returns NOPAGE if the faulting address itself got mapped.
     */
    static int doFaultAround(VmFault vmf) {
        Vma vma = vmf.vma;
        PhysMem pm = pm(vma);
        long ptoff = pteIndex(vmf.address);
        long vmaOff = vmf.pgoff - vma.pgoff;
        long fromPte = Math.max(ptoff & ~(long) (FAULT_AROUND_PAGES - 1), ptoff - Math.min(ptoff, vmaOff));
        long toPte = Math.min(Math.min(fromPte + FAULT_AROUND_PAGES, PTRS_PER_TABLE),
                ptoff + vma.pages() - vmaOff) - 1;
        long[] tbl = vma.mm.pgtable().pteAlloc(vmf.address);
        if (tbl == null) {
            return OK;
        }
        long base = vmf.address - (ptoff << 12);
        AddressSpace f = vma.file;
        int ret = OK;
        for (long p = fromPte; p <= toPte; p++) {
            long addr = base + (p << 12);
            long pgoff = vma.pgoffOf(addr);
            if (pgoff >= f.sizePages() || tbl[(int) p] != 0) {
                continue;
            }
            long pfn = f.lookupGet(pgoff);
            if (pfn < 0) {
                continue;
            }
            VmFault around = vmf;
            setPteRange(around, tbl, (int) p, pfn, false, false);
            if (addr == vmf.address) {
                ret = NOPAGE;
            }
        }
        return ret == NOPAGE ? NOPAGE : OK;
    }

    // ---- write-protect faults -------------------------------------------------------

    /** vm_normal_page(): the pfn behind a present pte, or -1 for special (zero page) ptes. */
    public static long vmNormalPage(long pte) {
        return Pte.special(pte) ? -1 : Pte.pfn(pte);
    }

    /** do_wp_page(): a write to a present, write-protected pte. */
    static int doWpPage(VmFault vmf, long[] tbl, int idx) {
        Vma vma = vmf.vma;
        PhysMem pm = pm(vma);
        long pte = tbl[idx];
        if (vma.uffdWp() && Pte.uffdWp(pte)) {
            if (!vma.uffdWpAsync()) {
                return Userfaultfd.handleUserfault(vmf, VmFlags.VM_UFFD_WP);
            }
            // WP_ASYNC: resolve in place; the bit is invisible to the user
            pte = Pte.clearUffdWp(pte);
            tbl[idx] = pte;
            vmf.origPte = pte;
        }
        long page = vmNormalPage(pte);
        if ((vma.flags & (VmFlags.VM_SHARED | VmFlags.VM_MAYSHARE)) != 0) {
            // wp_page_shared() / wp_pfn_shared(): no COW in a shared mapping
            if (page >= 0) {
                Folio.set(pm, Folio.head(pm, page), Folio.DIRTY);
            }
            tbl[idx] = Pte.mkYoung(Pte.mkWrite(Pte.mkDirty(pte)));
            return OK;
        }
        if (page >= 0) {
            long head = Folio.head(pm, page);
            if (Folio.isAnon(pm, head) && (Folio.anonExclusive(pm, page) || wpCanReuseAnonFolio(pm, head))) {
                Folio.set(pm, page, Folio.ANON_EXCLUSIVE);
                wpPageReuse(vma, tbl, idx, pte);
                return OK;
            }
        }
        return wpPageCopy(vmf, tbl, idx, pte, page);
    }

    /** wp_can_reuse_anon_folio(): only we reference a small folio. */
    static boolean wpCanReuseAnonFolio(PhysMem pm, long head) {
        if (Folio.isLarge(pm, head)) {
            return false;
        }
        return Folio.refcount(pm, head) == 1;
    }

    /** wp_page_reuse(). */
    static void wpPageReuse(Vma vma, long[] tbl, int idx, long pte) {
        long entry = Pte.mkYoung(Pte.mkDirty(pte));
        if ((vma.flags & VmFlags.VM_WRITE) != 0) {
            entry = Pte.mkWrite(entry);
        }
        tbl[idx] = entry;
    }

    /** wp_page_copy(): break COW into a new exclusive anonymous page. */
    static int wpPageCopy(VmFault vmf, long[] tbl, int idx, long oldPte, long oldPage) {
        Vma vma = vmf.vma;
        PhysMem pm = pm(vma);
        vma.anonVmaPrepare();
        long newPfn = pm.allocFolio(0, 0);
        if (newPfn < 0) {
            return OOM;
        }
        if (oldPage >= 0) {
            pm.copyFrame(oldPage, newPfn);
        }
        long entry = Pte.mkYoung(Pte.mkDirty(Pte.pfnPte(newPfn)));
        if ((vma.flags & VmFlags.VM_WRITE) != 0) {
            entry = Pte.mkWrite(entry);
        }
        Rmap.addNewAnon(pm, newPfn);
        tbl[idx] = entry;
        if (oldPage >= 0) {
            Rmap.removePte(pm, oldPage);
        }
        return OK;
    }
}
