/**
 * Measurement helpers: latency histograms (HdrHistogram, in microseconds) and page
 * checksums (CRC-32C, read through the guest process's own mapping) for verification, and
 * the downtime probe (downtime as a client pinging the guest sees it).
 */
package dev.livemig.migration.stats;
