package dev.livemig.bench;

import static dev.livemig.mm.MmConstants.PAGE_SIZE;

import dev.livemig.mm.Kernel;
import dev.livemig.mm.MmStruct;
import dev.livemig.mm.uffd.UffdFeatures;
import dev.livemig.mm.uffd.UserfaultfdCtx;
import dev.livemig.mm.vma.Mmap;

/**
 * The fixture shared by the benchmarks: one simulated process with one private anonymous
 * mapping (THP off, as the mmscript "anon" kind), optionally populated and registered with
 * a userfaultfd, set up exactly as a migration source sets up guest RAM.
 */
final class Guest implements AutoCloseable {
    final Kernel kernel = new Kernel();
    final MmStruct mm = kernel.newMm();
    final long base;
    final long len;
    final long pages;
    UserfaultfdCtx uffd;

    Guest(long len) {
        this.len = len;
        this.pages = len / PAGE_SIZE;
        this.base = mm.mmap(len, Mmap.PROT_READ | Mmap.PROT_WRITE, false, null, 0, 0);
        mm.madvise(base, len, Mmap.Advice.NOHUGEPAGE);
    }

    long page(long i) {
        return base + i * PAGE_SIZE;
    }

    /** Writes every page once, so each has its own anonymous frame. */
    Guest populate() {
        for (long i = 0; i < pages; i++) {
            mm.writeLong(page(i), i);
        }
        return this;
    }

    /** userfaultfd(UFFD_FEATURE_WP_ASYNC | WP_UNPOPULATED) + UFFDIO_REGISTER(MODE_WP): the dirty tracker's setup. */
    Guest registerWpAsync() {
        uffd = mm.userfaultfd();
        uffd.api(UffdFeatures.WP_ASYNC_MAINLINE | UffdFeatures.WP_UNPOPULATED);
        uffd.register(base, len, UserfaultfdCtx.REGISTER_MODE_WP);
        return this;
    }

    /** userfaultfd() + UFFDIO_REGISTER(MODE_MISSING): the post-copy target's setup. */
    Guest registerMissing() {
        uffd = mm.userfaultfd();
        uffd.api(0);
        uffd.register(base, len, UserfaultfdCtx.REGISTER_MODE_MISSING);
        return this;
    }

    void writeprotect(boolean on) {
        uffd.writeprotect(base, len, on ? UserfaultfdCtx.WRITEPROTECT_MODE_WP : 0);
    }

    @Override
    public void close() {
        if (uffd != null) {
            uffd.close();
        }
        kernel.close();
    }
}
