package dev.livemig.mm.hugetlb;

import static dev.livemig.mm.MmConstants.HPAGE_PMD_NR;
import static dev.livemig.mm.MmConstants.PMD_MASK;
import static dev.livemig.mm.MmConstants.pmdIndex;
import static dev.livemig.mm.fault.VmFault.*;

import dev.livemig.mm.VmFlags;
import dev.livemig.mm.fault.VmFault;
import dev.livemig.mm.page.AddressSpace;
import dev.livemig.mm.page.Folio;
import dev.livemig.mm.page.PhysMem;
import dev.livemig.mm.pgtable.PmdTable;
import dev.livemig.mm.pgtable.Pte;
import dev.livemig.mm.uffd.Userfaultfd;
import dev.livemig.mm.vma.Vma;

/**
 * Mirrors mm/hugetlb.c: faults on hugetlb vmas. A 2 MiB hugetlb page is mapped by a
 * huge entry at PMD level; a none entry may also hold a uffd-wp pte marker. Shared
 * mappings fault pages into the file's page cache; private ones get anonymous huge
 * pages (copy-on-write from the cache when the file already has the page).
 */
public final class Hugetlb {
    private Hugetlb() {
    }

    static PhysMem pm(Vma vma) {
        return vma.mm.kernel().physMem();
    }

    static HugetlbPool pool(Vma vma) {
        return vma.mm.kernel().hugetlbPool();
    }

    /** Huge index of {@code haddr} in the vma's file. */
    public static long hugeIndex(Vma vma, long haddr) {
        return vma.pgoffOf(haddr) / HPAGE_PMD_NR;
    }

    /** hugetlb_fault(). */
    public static int fault(VmFault vmf) {
        Vma vma = vmf.vma;
        vmf.address = vmf.realAddress & PMD_MASK;
        vmf.pgoff = vma.pgoffOf(vmf.address);
        PmdTable t = vma.mm.pgtable().pmdTable(vmf.address, true);
        int i = pmdIndex(vmf.address);
        long entry = t.pmd[i];
        vmf.origPte = entry;
        vmf.origPteValid = entry != 0;
        if (entry == 0 || Pte.isMarker(entry)) {
            long marker = Pte.markerBits(entry);
            if ((marker & Pte.MARKER_POISONED) != 0) {
                return HWPOISON;
            }
            if ((marker & Pte.MARKER_GUARD) != 0) {
                return SIGSEGV;
            }
            return noPage(vmf, t, i);
        }
        if (!Pte.present(entry)) {
            return SIGBUS;
        }
        if (vma.uffdWp() && Pte.uffdWp(entry) && vmf.write && !Pte.write(entry)) {
            if (!vma.uffdWpAsync()) {
                return Userfaultfd.handleUserfault(vmf, VmFlags.VM_UFFD_WP);
            }
            entry = Pte.clearUffdWp(entry);
            t.pmd[i] = entry;
            vmf.origPte = entry;
        }
        if (vmf.write) {
            if (!Pte.write(entry)) {
                return wp(vmf, t, i);
            }
            entry = Pte.mkDirty(entry);
        }
        t.pmd[i] = Pte.mkYoung(entry);
        return OK;
    }

    /** make_huge_pte(). */
    static long makeHugePte(Vma vma, long head, boolean tryMkwrite) {
        long e = Pte.mkHuge(Pte.pfnPte(head));
        if (tryMkwrite && (vma.flags & VmFlags.VM_WRITE) != 0) {
            e = Pte.mkWrite(Pte.mkDirty(e));
        }
        return e;
    }

    /** hugetlb_no_page(). */
    static int noPage(VmFault vmf, PmdTable t, int i) {
        Vma vma = vmf.vma;
        PhysMem pm = pm(vma);
        AddressSpace f = vma.file;
        long idx = hugeIndex(vma, vmf.address);
        if (idx >= f.sizeIndexes()) {
            return SIGBUS;
        }
        long head = f.lookup(idx);
        boolean anon = false;
        if (head < 0) {
            if (vma.uffdMissing()) {
                return Userfaultfd.handleUserfault(vmf, VmFlags.VM_UFFD_MISSING);
            }
            boolean shared = (vma.flags & VmFlags.VM_MAYSHARE) != 0;
            if (!shared) {
                vma.anonVmaPrepare();
            }
            head = pool(vma).alloc(!shared);
            if (head < 0) {
                return SIGBUS;
            }
            if (shared) {
                Folio.get(pm, head); // the mapping's, taken before the cache's can be dropped
                if (!f.add(idx, head)) {
                    Folio.put(pm, head, 2); // another mm's fault filled the index first
                    return RETRY;
                }
            } else {
                anon = true;
                Folio.setAnonExclusiveAll(pm, head, true);
            }
        } else {
            if (vma.uffdMinor()) {
                return Userfaultfd.handleUserfault(vmf, VmFlags.VM_UFFD_MINOR);
            }
            head = f.lookupGet(idx);
            if (head < 0) {
                return RETRY; // truncated since the lookup
            }
        }
        Folio.addEntireMapping(pm, head, 1);
        long entry = makeHugePte(vma, head, vma.isShared());
        if (vmf.origPteUffdWp()) {
            entry = Pte.mkUffdWp(entry);
        }
        t.pmd[i] = entry;
        if (vmf.write && !vma.isShared()) {
            vmf.origPte = entry;
            return wp(vmf, t, i);
        }
        return OK;
    }

    /** hugetlb_wp(): write fault on a read-only huge entry. */
    static int wp(VmFault vmf, PmdTable t, int i) {
        Vma vma = vmf.vma;
        PhysMem pm = pm(vma);
        long entry = t.pmd[i];
        if (Pte.uffdWp(entry)) {
            return OK;
        }
        if ((vma.flags & VmFlags.VM_MAYSHARE) != 0) {
            t.pmd[i] = Pte.mkYoung(Pte.mkWrite(Pte.mkDirty(entry)));
            return OK;
        }
        long old = Pte.pfn(entry);
        if (Folio.isAnon(pm, old) && Folio.entireMapcount(pm, old) == 1) {
            Folio.setAnonExclusiveAll(pm, old, true);
            t.pmd[i] = Pte.mkYoung(Pte.mkWrite(Pte.mkDirty(entry)));
            return OK;
        }
        vma.anonVmaPrepare();
        long head = pool(vma).alloc(true);
        if (head < 0) {
            return SIGBUS;
        }
        for (int j = 0; j < HPAGE_PMD_NR; j++) {
            pm.copyFrame(old + j, head + j);
        }
        Folio.setAnonExclusiveAll(pm, head, true);
        Folio.addEntireMapping(pm, head, 1);
        t.pmd[i] = Pte.mkYoung(makeHugePte(vma, head, true));
        Folio.addEntireMapping(pm, old, -1);
        Folio.put(pm, old);
        return OK;
    }
}
