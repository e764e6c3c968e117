/* dpkg.h - streaming parser for /var/lib/dpkg/status (installed packages).
 *
 * Fed in chunks of any size (a 5,000-package status file is ~3 MB; it is
 * never held in memory): memory is one paragraph's kept fields, bounded.
 * For every paragraph whose Status ends in " installed", calls
 * fn(user, pkg) with Package, Version, Architecture. Continuation lines
 * (leading space or tab) and other fields are skipped. Field values longer
 * than DPKG_FIELD_MAX-1 are cut. A line longer than DPKG_LINE_MAX is skipped
 * to its newline. Any byte sequence is accepted; nothing is ever executed.
 *
 * Value type: init, feed, finish; no allocation, nothing to free.
 * fn returning non-zero stops the parse: dpkg_feed returns 1 from then on.
 */
#ifndef OUTPOST_CORE_DPKG_H
#define OUTPOST_CORE_DPKG_H

#include <stddef.h>

#define DPKG_FIELD_MAX 128
#define DPKG_LINE_MAX 512

typedef struct dpkg_pkg {
  char name[DPKG_FIELD_MAX];
  char version[DPKG_FIELD_MAX];
  char arch[DPKG_FIELD_MAX];
} dpkg_pkg;

typedef int (*dpkg_fn)(void *user, const dpkg_pkg *pkg);

typedef struct dpkg_parser {
  dpkg_fn fn;
  void *user;
  dpkg_pkg cur;
  int installed;
  char line[DPKG_LINE_MAX];
  size_t line_len;
  int overlong; /* skipping the rest of an over-long line */
  int stopped;
  long packages; /* installed packages reported */
} dpkg_parser;

void dpkg_init(dpkg_parser *p, dpkg_fn fn, void *user);
/* Returns 0, or 1 once fn asked to stop. */
int dpkg_feed(dpkg_parser *p, const char *data, size_t len);
/* Ends the input (a last paragraph without a trailing blank line counts). */
int dpkg_finish(dpkg_parser *p);

#endif
