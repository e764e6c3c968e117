/* snapdelta.h - changes between two system-state snapshots (issue #5).
 *
 * One snapdelta per snapshot kind remembers the last snapshot as one small
 * entry per item: a 64-bit hash of the item's key, a 64-bit hash of the
 * fields whose change matters, and the key's JSON text (so a removed item
 * can be named). Nothing else is kept: memory is about 40 bytes + the key
 * per item (5,000 packages: ~0.4 MiB while a pass runs, two generations),
 * bounded by max_entries, and the lines themselves stream through.
 *
 * A pass sits between collect_snapshot and the spool: every snapshot line
 * goes to snapdelta_line (a collect_emit_fn), then snapdelta_end.
 *   full pass:  lines go on unchanged to emit; the entries become the base.
 *   delta pass: only changes go to emit, then removals and a summary:
 *     {"delta":K,"change":"added",   ...the item's snapshot fields...}
 *     {"delta":K,"change":"changed", ...the item's snapshot fields...}
 *     {"delta":K,"change":"removed", ...the item's key fields...}
 *     {"delta":K,"summary":true,"added":A,"changed":C,"removed":R,
 *      "items":N,"truncated":BOOL,"available":BOOL}
 *   and the entries become the base for the next delta.
 * Keys and compared fields per kind (volatile fields such as RSS and the
 * process state are not compared: they would make every process "changed"):
 *   processes  key pid,start_s            compared ppid,uid,name,cmdline
 *   services   key unit                   compared state
 *   interfaces key name,ipv4,ipv6         compared mac,state,mtu,prefix
 *   packages   key name,arch,source       compared version
 * A key seen again in the same pass gets "dup":2, 3, ... (at most
 * SNAPDELTA_DUP_MAX) in the order the source lists them: rpm keeps several
 * versions of one package (kernels), SO_REUSEPORT shares a port.
 *   ports      key proto,addr,port        compared uid,inode
 * A pass whose snapshot was truncated, unavailable, or cut short leaves no
 * base: snapdelta_has_base is 0 and the caller sends a full snapshot next.
 *
 * Ownership: snapdelta_new allocates, snapdelta_free frees (safe on NULL).
 * emit/user are borrowed for one pass.
 * Return codes: SNAPDELTA_OK (0), SNAPDELTA_ENOMEM, SNAPDELTA_EINVAL;
 * snapdelta_line returns non-zero when emit asked to stop.
 */
#ifndef OUTPOST_CORE_SNAPDELTA_H
#define OUTPOST_CORE_SNAPDELTA_H

#include <stddef.h>
#include <stdint.h>

#include "core/collect.h"
#include "core/policy.h"

#define SNAPDELTA_OK 0
#define SNAPDELTA_ENOMEM (-1)
#define SNAPDELTA_EINVAL (-2)

#define SNAPDELTA_KEY_MAX 200 /* key JSON text per item, longer keys are hashed only */
#define SNAPDELTA_DUP_MAX 64  /* repeats of one key per pass; beyond: the pass makes no base */

typedef struct snapdelta snapdelta;

/* max_entries: the most items remembered (the policy's snapshot_max_items). */
int snapdelta_new(policy_snapshot which, int64_t max_entries, snapdelta **out);
void snapdelta_free(snapdelta *d);

int snapdelta_has_base(const snapdelta *d);

/* Starts a pass; delta 1 asks for changes (needs a base: else EINVAL). */
int snapdelta_begin(snapdelta *d, int delta, collect_emit_fn emit, void *user);
/* collect_emit_fn: user is the snapdelta. */
int snapdelta_line(void *user, const char *line, size_t len);
/* Ends the pass (complete 0: collection stopped early, the base is dropped).
 * Delta pass: emits removals and the summary. Counts are optional. */
int snapdelta_end(snapdelta *d, int complete, int64_t *added, int64_t *changed,
                  int64_t *removed);

#endif
