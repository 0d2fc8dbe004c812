/**
 * The data plane: {@code PageTransfer} holds one record per message of
 * {@code page_transfer.proto}, {@code PageChannel} has one method per RPC (shaped like a
 * grpc-java async stub, with {@code MessageSink} for stream observers), and
 * {@code InMemoryPageChannel} connects two engines in one JVM through queues and threads, and
 * {@code FaultInjectingPageChannel} wraps any of them to drop, delay, reorder, duplicate or
 * corrupt chosen messages, or to break the connection.
 */
package dev.livemig.migration.transport;
