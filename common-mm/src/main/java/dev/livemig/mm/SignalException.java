package dev.livemig.mm;

/** A signal delivered to the guest by a memory access (SIGSEGV or SIGBUS). */
public final class SignalException extends RuntimeException {
    public enum Signal { SIGSEGV, SIGBUS }

    private final Signal signal;
    private final long address;

    public SignalException(Signal signal, long address) {
        super(signal + " at 0x" + Long.toHexString(address), null, false, false);
        this.signal = signal;
        this.address = address;
    }

    public Signal signal() {
        return signal;
    }

    public long address() {
        return address;
    }
}
