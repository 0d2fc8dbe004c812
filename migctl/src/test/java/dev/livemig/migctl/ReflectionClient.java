package dev.livemig.migctl;

import com.google.protobuf.ByteString;
import com.google.protobuf.DescriptorProtos.FileDescriptorProto;
import com.google.protobuf.Descriptors.DescriptorValidationException;
import com.google.protobuf.Descriptors.FileDescriptor;
import com.google.protobuf.Descriptors.MethodDescriptor;
import com.google.protobuf.Descriptors.ServiceDescriptor;
import com.google.protobuf.DynamicMessage;
import com.google.protobuf.InvalidProtocolBufferException;
import com.google.protobuf.util.JsonFormat;
import io.grpc.CallOptions;
import io.grpc.ManagedChannel;
import io.grpc.protobuf.ProtoUtils;
import io.grpc.reflection.v1.ServerReflectionGrpc;
import io.grpc.reflection.v1.ServerReflectionRequest;
import io.grpc.reflection.v1.ServerReflectionResponse;
import io.grpc.stub.ClientCalls;
import io.grpc.stub.StreamObserver;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;

/**
 * A gRPC client that knows no .proto file, as grpcurl: services, their descriptors and the
 * request and response types all come from the server's reflection service
 * (grpc.reflection.v1); requests are JSON parsed into the reflected type, answers are
 * DynamicMessages printed back as JSON.
 */
final class ReflectionClient {
    private static final long TIMEOUT_S = 60;

    private final ManagedChannel channel;

    ReflectionClient(ManagedChannel channel) {
        this.channel = channel;
    }

    private ServerReflectionResponse ask(ServerReflectionRequest request) throws InterruptedException {
        BlockingQueue<Object> answers = new LinkedBlockingQueue<>();
        StreamObserver<ServerReflectionRequest> requests = ServerReflectionGrpc.newStub(channel)
                .serverReflectionInfo(new StreamObserver<>() {
                    @Override
                    public void onNext(ServerReflectionResponse r) {
                        answers.add(r);
                    }

                    @Override
                    public void onError(Throwable t) {
                        answers.add(t);
                    }

                    @Override
                    public void onCompleted() {
                    }
                });
        requests.onNext(request);
        Object answer = answers.poll(TIMEOUT_S, TimeUnit.SECONDS);
        requests.onCompleted();
        if (!(answer instanceof ServerReflectionResponse r)) {
            throw new AssertionError("reflection failed: " + answer);
        }
        if (r.hasErrorResponse()) {
            throw new AssertionError("reflection refused " + request + ": " + r.getErrorResponse());
        }
        return r;
    }

    /** grpcurl ADDRESS list. */
    List<String> listServices() throws InterruptedException {
        List<String> out = new ArrayList<>();
        ask(ServerReflectionRequest.newBuilder().setListServices("").build()).getListServicesResponse()
                .getServiceList().forEach(s -> out.add(s.getName()));
        return out;
    }

    /** grpcurl ADDRESS describe SERVICE: the service as the server describes it. */
    ServiceDescriptor service(String fullName) throws InterruptedException, InvalidProtocolBufferException,
            DescriptorValidationException {
        ServerReflectionResponse r = ask(ServerReflectionRequest.newBuilder().setFileContainingSymbol(fullName).build());
        Map<String, FileDescriptorProto> files = new HashMap<>();
        FileDescriptorProto first = null;
        for (ByteString b : r.getFileDescriptorResponse().getFileDescriptorProtoList()) {
            FileDescriptorProto f = FileDescriptorProto.parseFrom(b);
            files.put(f.getName(), f);
            first = first == null ? f : first;
        }
        if (first == null) {
            throw new AssertionError("no descriptor for " + fullName);
        }
        FileDescriptor fd = build(first.getName(), files, new HashMap<>());
        ServiceDescriptor s = fd.findServiceByName(fullName.substring(fullName.lastIndexOf('.') + 1));
        if (s == null) {
            throw new AssertionError(fd.getName() + " has no service " + fullName);
        }
        return s;
    }

    private static FileDescriptor build(String name, Map<String, FileDescriptorProto> files,
                                        Map<String, FileDescriptor> built) throws DescriptorValidationException {
        FileDescriptor done = built.get(name);
        if (done != null) {
            return done;
        }
        FileDescriptorProto p = files.get(name);
        if (p == null) {
            throw new AssertionError("reflection did not send dependency " + name);
        }
        FileDescriptor[] deps = new FileDescriptor[p.getDependencyCount()];
        for (int i = 0; i < deps.length; i++) {
            deps[i] = build(p.getDependency(i), files, built);
        }
        FileDescriptor fd = FileDescriptor.buildFrom(p, deps);
        built.put(name, fd);
        return fd;
    }

    /** grpcurl -d JSON ADDRESS SERVICE/METHOD: every response message, as JSON. */
    List<String> call(String serviceSlashMethod, String json) throws Exception {
        int slash = serviceSlashMethod.indexOf('/');
        ServiceDescriptor s = service(serviceSlashMethod.substring(0, slash));
        MethodDescriptor m = s.findMethodByName(serviceSlashMethod.substring(slash + 1));
        if (m == null) {
            throw new AssertionError(s.getFullName() + " has no method " + serviceSlashMethod);
        }
        DynamicMessage.Builder request = DynamicMessage.newBuilder(m.getInputType());
        JsonFormat.parser().merge(json, request);
        io.grpc.MethodDescriptor<DynamicMessage, DynamicMessage> grpcMethod =
                io.grpc.MethodDescriptor.<DynamicMessage, DynamicMessage>newBuilder()
                        .setType(m.isServerStreaming() ? io.grpc.MethodDescriptor.MethodType.SERVER_STREAMING
                                : io.grpc.MethodDescriptor.MethodType.UNARY)
                        .setFullMethodName(io.grpc.MethodDescriptor.generateFullMethodName(s.getFullName(), m.getName()))
                        .setRequestMarshaller(ProtoUtils.marshaller(DynamicMessage.getDefaultInstance(m.getInputType())))
                        .setResponseMarshaller(ProtoUtils.marshaller(DynamicMessage.getDefaultInstance(m.getOutputType())))
                        .build();
        CallOptions options = CallOptions.DEFAULT.withDeadlineAfter(TIMEOUT_S, TimeUnit.SECONDS);
        List<String> out = new ArrayList<>();
        if (m.isServerStreaming()) {
            ClientCalls.blockingServerStreamingCall(channel, grpcMethod, options, request.build())
                    .forEachRemaining(r -> out.add(print(r)));
        } else {
            out.add(print(ClientCalls.blockingUnaryCall(channel, grpcMethod, options, request.build())));
        }
        return out;
    }

    private static String print(DynamicMessage m) {
        try {
            return JsonFormat.printer().preservingProtoFieldNames().print(m);
        } catch (InvalidProtocolBufferException e) {
            throw new IllegalStateException(e);
        }
    }
}
