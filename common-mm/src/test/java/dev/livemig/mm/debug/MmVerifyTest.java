package dev.livemig.mm.debug;

import static dev.livemig.mm.MmConstants.PAGE_SIZE;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.livemig.mm.Kernel;
import dev.livemig.mm.MmStruct;
import dev.livemig.mm.page.Folio;
import dev.livemig.mm.page.PhysMem;
import dev.livemig.mm.pgtable.Pte;
import dev.livemig.mm.shmem.ShmemFile;
import dev.livemig.mm.vma.Mmap;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** The invariant checker must see what it claims to check, and MmStruct.exit() must free everything. */
class MmVerifyTest {
    private Kernel kernel;
    private MmStruct mm;
    private PhysMem pm;

    @BeforeEach
    void boot() {
        kernel = new Kernel();
        mm = kernel.newMm();
        pm = kernel.physMem();
    }

    @AfterEach
    void shutdown() {
        kernel.close();
    }

    private long populatedAnon() {
        long a = mm.mmap(4 * PAGE_SIZE, Mmap.PROT_READ | Mmap.PROT_WRITE, false, null, 0, 0);
        mm.madvise(a, 4 * PAGE_SIZE, Mmap.Advice.NOHUGEPAGE);
        mm.writeLong(a, 1);
        mm.writeLong(a + PAGE_SIZE, 2);
        return a;
    }

    private long pfnOf(long addr) {
        return Pte.pfn(mm.pgtable().lookup(addr));
    }

    @Test
    void consistentAfterForkAndSharedMemory() {
        long a = populatedAnon();
        ShmemFile f = new ShmemFile(pm, "memfd", 4);
        long sh = mm.mmap(4 * PAGE_SIZE, Mmap.PROT_READ | Mmap.PROT_WRITE, true, f, 0, 0);
        mm.writeLong(sh, 3);
        MmStruct child = mm.fork();
        child.writeLong(a, 5);
        assertEquals(List.of(), MmVerify.check(kernel, List.of(f)));
        assertEquals(2, Folio.refcount(pm, pfnOf(sh)), "page cache + the parent's pte");
        child.exit();
        mm.exit();
        assertEquals(List.of(), MmVerify.check(kernel, List.of(f)));
        f.evictAll();
        assertEquals(0, pm.allocatedPages(), "exit and the last close free every frame");
    }

    @Test
    void detectsAnExtraReference() {
        long a = populatedAnon();
        Folio.get(pm, pfnOf(a));
        List<String> p = MmVerify.check(kernel, List.of());
        assertEquals(1, p.size(), p.toString());
        assertTrue(p.get(0).contains("refcount 2 but 1"), p.get(0));
        Folio.put(pm, pfnOf(a));
    }

    @Test
    void detectsAMapcountMismatchAndALeak() {
        long a = populatedAnon();
        long pfn = pfnOf(a);
        Folio.addPteMapping(pm, pfn, 1);
        assertTrue(MmVerify.check(kernel, List.of()).get(0).contains("mapcount 2 but 1"));
        Folio.addPteMapping(pm, pfn, -1);
        mm.pgtable().pteTable(a)[dev.livemig.mm.MmConstants.pteIndex(a)] = 0;
        List<String> p = MmVerify.check(kernel, List.of());
        assertTrue(p.stream().anyMatch(s -> s.contains("(leaked)")), p.toString());
    }

    @Test
    void detectsAWritableUffdWpPte() {
        long a = populatedAnon();
        long[] tbl = mm.pgtable().pteTable(a);
        int idx = dev.livemig.mm.MmConstants.pteIndex(a);
        tbl[idx] |= Pte.UFFD_WP; // mkUffdWp() would also clear WRITE
        assertTrue(MmVerify.check(kernel, List.of()).get(0).contains("writable and uffd-wp"));
    }

    @Test
    void detectsAnUncountedPageCache() {
        ShmemFile f = new ShmemFile(pm, "memfd", 4);
        long sh = mm.mmap(4 * PAGE_SIZE, Mmap.PROT_READ | Mmap.PROT_WRITE, true, f, 0, 0);
        mm.writeLong(sh, 3);
        mm.exit();
        assertTrue(MmVerify.check(kernel, List.of()).get(0).contains("(leaked)"),
                "a closed-over file nobody names holds an unaccounted folio");
        assertEquals(List.of(), MmVerify.check(kernel, List.of(f)));
        f.evictAll();
    }
}
