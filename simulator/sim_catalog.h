/* sim_catalog.h - the scenario catalog (issue #16, docs/scenarios.md
 * "The catalog"): outpost-sim list, show and check.
 *
 *   outpost-sim list [--claim ID | --claims] [--dir DIR] [--claims-file FILE]
 *   outpost-sim show NAME|FILE [--dir DIR] [--claims-file FILE]
 *   outpost-sim check [--claims-file FILE] FILE|DIR...
 *
 * The scenario directory (without --dir) and the claim-ID list
 * docs/claims.txt (without --claims-file) are found at run time, never
 * compiled in (outpost-sim is a shipped binary and must build byte-identical
 * in any directory, ci/repro-check): first the file catalog-paths.txt that
 * the build writes beside the binary ("source_dir=DIR"), then the binary's
 * parent directories (up to 4 levels) for one holding scenarios/ and
 * docs/claims.txt, then ../share/outpost/ beside the binary's directory.
 *
 * Exit codes (what sim_catalog_main returns): 0 ok; 1 a check failed (a
 * file does not parse, names an unknown claim ID, or list met such a file);
 * 2 bad arguments, an unknown scenario name or claim ID asked for, or the
 * directory / claims file cannot be found or read.
 */
#ifndef OUTPOST_SIM_CATALOG_H
#define OUTPOST_SIM_CATALOG_H

#include <stdio.h>

/* 1 when cmd is list, show or check. */
int sim_catalog_is_command(const char *cmd);

/* Runs argv[1] (list, show or check) with its options; argv[0] is the
 * program (used to find the binary when /proc/self/exe is unreadable).
 * Output goes to stdout, errors to stderr. Returns the exit code above. */
int sim_catalog_main(int argc, char **argv);

/* The usage lines of the three commands and where the defaults come from. */
void sim_catalog_usage(FILE *out);

/* Locates the value at a parser error's key path ("events[2].agents",
 * "expect.alerts.total", "claims[1]") in the JSON text and returns its
 * 1-based line: the line of the key for an object member, of the element for
 * an array index. A component that cannot be found gives the line of the
 * deepest one found (1 for none). occurrence > 1 asks for that occurrence of
 * the last key (a duplicate key). Bounded: nesting depth 64, len bytes. */
int sim_catalog_line_of(const char *text, size_t len, const char *path, int occurrence);

#endif
