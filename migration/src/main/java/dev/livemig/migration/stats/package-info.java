/**
 * Measurement helpers: latency histograms (HdrHistogram, in microseconds) and page
 * checksums (CRC-32C, read through the guest process's own mapping) for verification.
 */
package dev.livemig.migration.stats;
