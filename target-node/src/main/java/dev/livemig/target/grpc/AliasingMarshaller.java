package dev.livemig.target.grpc;

import com.google.protobuf.CodedInputStream;
import dev.livemig.migration.transport.BatchBuffers;
import com.google.protobuf.ExtensionRegistryLite;
import com.google.protobuf.Message;
import com.google.protobuf.Parser;
import com.google.protobuf.UnsafeByteOperations;
import io.grpc.KnownLength;
import io.grpc.MethodDescriptor;
import io.grpc.ServerMethodDefinition;
import io.grpc.ServerServiceDefinition;
import io.grpc.ServiceDescriptor;
import io.grpc.Status;
import io.grpc.protobuf.ProtoUtils;
import java.io.IOException;
import java.io.InputStream;

/**
 * A protobuf marshaller that parses a message out of one array holding the whole message,
 * with aliasing: a {@code bytes} field is a view of that array, not a copy of it. For a
 * PageBatch the page data then reaches the engine with one copy (from the transport's
 * buffers into the array) instead of three (into gRPC's parse buffer, into the ByteString,
 * into the engine's array), and no batch-sized garbage: the array comes from
 * {@link BatchBuffers#RECEIVE} and goes back once the engine has placed the batch.
 *
 * <p>Serialising is the stock marshaller's.
 */
final class AliasingMarshaller<T extends Message> implements MethodDescriptor.Marshaller<T> {
    private final MethodDescriptor.Marshaller<T> stock;
    private final Parser<T> parser;

    @SuppressWarnings("unchecked")
    AliasingMarshaller(T defaultInstance) {
        this.stock = ProtoUtils.marshaller(defaultInstance);
        this.parser = (Parser<T>) defaultInstance.getParserForType();
    }

    @Override
    public InputStream stream(T value) {
        return stock.stream(value);
    }

    /**
     * The array this thread parsed its last message into, until {@link #recycleParsed}:
     * gRPC hands a parsed message to the call's listener on the thread that parsed it, and
     * the engine places a batch before its {@code onNext} returns, so the array is free again
     * then.
     */
    private static final ThreadLocal<byte[]> PARSED = new ThreadLocal<>();

    /** After the message this thread parsed last was handled and is referenced no more: its array is reused. */
    static void recycleParsed() {
        byte[] b = PARSED.get();
        if (b != null) {
            PARSED.remove();
            BatchBuffers.RECEIVE.give(b);
        }
    }

    @Override
    public T parse(InputStream stream) {
        if (!(stream instanceof KnownLength)) {
            return stock.parse(stream);
        }
        try {
            int size = stream.available();
            byte[] buf = BatchBuffers.RECEIVE.take(size);
            PARSED.set(buf);
            int got = 0;
            while (got < size) {
                int n = stream.read(buf, got, size - got);
                if (n < 0) {
                    throw new IOException("message ended after " + got + " of " + size + " bytes");
                }
                got += n;
            }
            // through a ByteString: only an input protobuf knows to be immutable aliases its
            // array (CodedInputStream.newInstance(byte[], ...) copies every bytes field even
            // with aliasing enabled); nothing writes buf while the message lives
            CodedInputStream in = UnsafeByteOperations.unsafeWrap(buf, 0, size).newCodedInput();
            in.enableAliasing(true);
            in.setSizeLimit(Integer.MAX_VALUE);
            T message = parser.parseFrom(in, ExtensionRegistryLite.getEmptyRegistry());
            stream.close();
            return message;
        } catch (IOException e) {
            throw Status.INTERNAL.withDescription("invalid protobuf message").withCause(e).asRuntimeException();
        }
    }

    /**
     * {@code service} with the request marshaller of {@code method} replaced by an
     * aliasing one (the service descriptor is rebuilt around the new method, as gRPC
     * requires bound methods to be the descriptor's own instances).
     */
    @SuppressWarnings({"unchecked", "rawtypes"})
    static <Q extends Message> ServerServiceDefinition aliasRequests(ServerServiceDefinition service,
                                                                     MethodDescriptor<Q, ?> method,
                                                                     Q defaultInstance) {
        ServiceDescriptor old = service.getServiceDescriptor();
        ServiceDescriptor.Builder descriptor = ServiceDescriptor.newBuilder(old.getName())
                .setSchemaDescriptor(old.getSchemaDescriptor());
        java.util.List<ServerMethodDefinition<?, ?>> methods = new java.util.ArrayList<>();
        for (ServerMethodDefinition<?, ?> m : service.getMethods()) {
            if (m.getMethodDescriptor().getFullMethodName().equals(method.getFullMethodName())) {
                MethodDescriptor.Marshaller aliasing = new AliasingMarshaller<Q>(defaultInstance);
                MethodDescriptor replaced = ((MethodDescriptor) m.getMethodDescriptor()).toBuilder()
                        .setRequestMarshaller(aliasing).build();
                m = ServerMethodDefinition.create(replaced, (io.grpc.ServerCallHandler) m.getServerCallHandler());
            }
            methods.add(m);
            descriptor.addMethod(m.getMethodDescriptor());
        }
        ServerServiceDefinition.Builder out = ServerServiceDefinition.builder(descriptor.build());
        for (ServerMethodDefinition<?, ?> m : methods) {
            out.addMethod(m);
        }
        return out.build();
    }
}
