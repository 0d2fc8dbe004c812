package dev.livemig.migration.source;

import dev.livemig.migration.guest.GuestLayout;
import dev.livemig.migration.guest.PageBitmap;
import dev.livemig.migration.transport.MessageSink;
import dev.livemig.migration.transport.PageChannel;
import dev.livemig.migration.transport.PageTransfer.PageBatch;
import dev.livemig.migration.transport.PageTransfer.PostcopySourceMessage;
import dev.livemig.migration.transport.PageTransfer.PostcopyStart;
import dev.livemig.migration.transport.PageTransfer.ReceivedBitmapRequest;
import dev.livemig.migration.transport.PageTransfer.RegionBitmap;
import java.util.List;
import java.util.function.Consumer;

/**
 * The source's side of POSTCOPY_ACTIVE after the switchover (QEMU's postcopy with
 * postcopy-recover): the background push and the wait for the target's "done", on a
 * thread of its own.
 *
 * <p>If the connection breaks, the guest runs on the target and cannot come back, so the
 * migration does not fail: it pauses (QEMU's postcopy-paused; the target's faulting vCPUs
 * wait) until {@link #recover} brings a new channel to the same target. Then the target's
 * received bitmap says which pages it still lacks, they are pushed again, and the page
 * requests it could not send meanwhile come in on the new priority stream.
 */
final class PostcopyPhase implements Runnable {
    private static final long ACK_TIMEOUT_MS = 60_000;

    /** One connection's streams. */
    record Link(PageChannel channel, MessageSink<PageBatch> pushStream, AckWaiter ack, PostcopyCompletion done) {
    }

    private final String migrationId;
    private final GuestLayout layout;
    private final PageSender sender;
    private final PostcopyPageServer server;
    private final int round;
    private final Consumer<String> onPaused;
    private final Consumer<String> onFailed;
    private final Runnable onDone;
    private Link link;
    private Link nextLink;
    private boolean paused;

    PostcopyPhase(String migrationId, GuestLayout layout, PageSender sender, PostcopyPageServer server, int round,
                  Link first, Consumer<String> onPaused, Consumer<String> onFailed, Runnable onDone) {
        this.migrationId = migrationId;
        this.layout = layout;
        this.sender = sender;
        this.server = server;
        this.round = round;
        this.link = first;
        this.onPaused = onPaused;
        this.onFailed = onFailed;
        this.onDone = onDone;
    }

    @Override
    public void run() {
        while (true) {
            String broken;
            try {
                server.pushRest(sender, round, link.pushStream());
                link.ack().await(ACK_TIMEOUT_MS);
                if (link.done().await(ACK_TIMEOUT_MS)) {
                    onDone.run();
                    return;
                }
                if (link.done().error == null && link.ack().error() == null) {
                    onFailed.accept("post-copy did not complete in " + ACK_TIMEOUT_MS + " ms");
                    return;
                }
                broken = link.done().error != null ? link.done().error : String.valueOf(link.ack().error());
            } catch (PageSender.StreamBroken e) {
                broken = e.getMessage();
            } catch (RuntimeException e) {
                onFailed.accept("post-copy failed: " + e);
                return;
            }
            if (!pauseUntilRecovered("connection lost: " + broken)) {
                return;
            }
        }
    }

    private synchronized boolean pauseUntilRecovered(String why) {
        paused = true;
        onPaused.accept(why);
        while (nextLink == null) {
            try {
                wait();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                return false;
            }
        }
        link = nextLink;
        nextLink = null;
        paused = false;
        return true;
    }

    synchronized boolean paused() {
        return paused;
    }

    /**
     * Reconnects to the same target over {@code channel}: new page and priority streams,
     * and everything the target's received bitmap lacks is needed again. Returns the link.
     */
    Link recover(PageChannel channel) {
        synchronized (this) {
            if (!paused || nextLink != null) {
                throw new IllegalStateException("FAILED_PRECONDITION: post-copy is not paused");
            }
        }
        // first the one call that proves the target is reachable again: if it fails, no stream was opened
        PageBitmap missing = missingOn(channel);
        AckWaiter ack = new AckWaiter();
        MessageSink<PageBatch> push = channel.pushPages(ack);
        PostcopyCompletion done = new PostcopyCompletion();
        done.server = server;
        MessageSink<PostcopySourceMessage> priority = channel.postcopy(done);
        server.reattach(priority, missing);
        sender.reattach(push, ack::error);
        synchronized (priority) {
            priority.onNext(new PostcopyStart(migrationId));
        }
        Link l = new Link(channel, push, ack, done);
        synchronized (this) {
            nextLink = l;
            notifyAll();
        }
        return l;
    }

    /** The pages the target's received bitmap lacks. */
    private PageBitmap missingOn(PageChannel channel) {
        PageBitmap missing = new PageBitmap(layout.pages());
        List<RegionBitmap> regions = channel.receivedBitmap(new ReceivedBitmapRequest(migrationId, List.of()))
                .regions();
        for (RegionBitmap rb : regions) {
            int base = layout.firstPage(layout.regions().indexOf(layout.region(rb.regionName())));
            byte[] got = rb.received();
            for (int i = 0; i < rb.pageCount(); i++) {
                if ((got[i >>> 3] & (1 << (i & 7))) == 0) {
                    missing.set(base + i);
                }
            }
        }
        return missing;
    }
}
