/**
 * The mmscript replay tool ({@code shared/conformance/FORMAT.md}): parse a script, run it
 * against the simulated kernel with one thread per task, and print exactly what the real
 * kernel printed when the case was recorded.
 */
package dev.livemig.mm.script;
