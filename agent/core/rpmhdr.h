/* rpmhdr.h - installed rpm packages: a bounded parser of one rpm header blob
 * and a reader of rpm >= 4.16's SQLite database (issue #5).
 *
 * Header blob, as rpm stores it in rpmdb.sqlite (table Packages(hnum, blob);
 * no magic, unlike a header inside a .rpm file), all integers big-endian:
 *   int32 il, int32 dl            index entries, data-store bytes
 *   il x {int32 tag, uint32 type, int32 offset, uint32 count}
 *   dl bytes of data store
 * The blob must be exactly 8 + 16*il + dl bytes, with 1 <= il <= RPMHDR_IL_MAX
 * and 0 < dl <= RPMHDR_DL_MAX (rpm's own limits). Every index entry is checked
 * (known type, offset inside the store and aligned for its type, count that
 * fits the store), not only the ones kept; nothing outside the blob is read.
 * Kept: NAME (1000), VERSION (1001), RELEASE (1002) - required, STRING;
 * EPOCH (1003) - optional, INT32; ARCH (1022) - optional, STRING (gpg-pubkey
 * pseudo-packages have none). A kept string must end in a NUL inside the
 * store; values longer than RPMHDR_FIELD_MAX-1 bytes are cut (so only that
 * much of a string is ever read). Control bytes become '?' (records are text).
 *
 * The blob is read through a callback, so the database reader fetches only
 * the index and the few bytes it keeps (sqlite3_blob_read): memory does not
 * grow with a header's size (a kernel's header with its file list is MBs).
 *
 * Return codes (rpmhdr_parse*):
 *   RPMHDR_OK (0)
 *   RPMHDR_ESHORT (-1)   blob shorter than 8 bytes, or not 8 + 16*il + dl
 *   RPMHDR_ERANGE (-2)   il or dl out of range (0, negative, over the caps)
 *   RPMHDR_EENTRY (-3)   an index entry with an unknown type, an offset outside
 *                        the store or misaligned, or a count that does not fit
 *   RPMHDR_ETAG (-4)     a kept tag twice, or with the wrong type or count
 *   RPMHDR_ESTRING (-5)  a kept string without its NUL inside the store
 *   RPMHDR_EMISSING (-6) NAME, VERSION or RELEASE missing
 *   RPMHDR_EREAD (-7)    the read callback failed (a torn or vanished blob)
 *   RPMHDR_EINVAL (-8)   bad arguments
 *
 * Value types only: nothing is allocated by the parser, nothing to free.
 */
#ifndef OUTPOST_CORE_RPMHDR_H
#define OUTPOST_CORE_RPMHDR_H

#include <stddef.h>
#include <stdint.h>

#include "shim/os.h"

#define RPMHDR_OK 0
#define RPMHDR_ESHORT (-1)
#define RPMHDR_ERANGE (-2)
#define RPMHDR_EENTRY (-3)
#define RPMHDR_ETAG (-4)
#define RPMHDR_ESTRING (-5)
#define RPMHDR_EMISSING (-6)
#define RPMHDR_EREAD (-7)
#define RPMHDR_EINVAL (-8)

#define RPMHDR_IL_MAX 0xffff      /* rpm: at most 64 Ki tags */
#define RPMHDR_DL_MAX 0x00ffffff  /* rpm: a data store under 16 MiB */
#define RPMHDR_FIELD_MAX 128

#define RPMHDR_TAG_NAME 1000
#define RPMHDR_TAG_VERSION 1001
#define RPMHDR_TAG_RELEASE 1002
#define RPMHDR_TAG_EPOCH 1003
#define RPMHDR_TAG_ARCH 1022

typedef struct rpmhdr_pkg {
  char name[RPMHDR_FIELD_MAX];
  char version[RPMHDR_FIELD_MAX];
  char release[RPMHDR_FIELD_MAX];
  char arch[RPMHDR_FIELD_MAX]; /* "" when the header has none */
  int has_epoch;
  int32_t epoch;
} rpmhdr_pkg;

/* Reads exactly len bytes at off into buf: 0, or non-zero on failure. */
typedef int (*rpmhdr_read_fn)(void *ctx, void *buf, size_t len, uint64_t off);

/* Parses the blob of blob_len bytes that rd reads. out is filled on
 * RPMHDR_OK and zeroed otherwise. */
int rpmhdr_parse_read(rpmhdr_read_fn rd, void *ctx, uint64_t blob_len, rpmhdr_pkg *out);
/* The same over a blob in memory (borrowed for the call). */
int rpmhdr_parse(const uint8_t *blob, size_t len, rpmhdr_pkg *out);

/* "[epoch:]version-release" into out (cut to cap; NUL-terminated). */
void rpmhdr_evr(const rpmhdr_pkg *p, char *out, size_t cap);

/* ---- the host's rpm database ------------------------------------------------
 *
 * rpmhdr_db_list looks for an rpm database in dir (NULL: /usr/lib/sysimage/rpm,
 * then /var/lib/rpm - Fedora 36+ keeps it in the first, /var/lib/rpm being a
 * symlink there) and, when it is SQLite (rpmdb.sqlite), calls fn(user, pkg)
 * for each installed package in rowid order, at most max_pkgs times (fn
 * returning non-zero stops; that is not an error). Opened read-only through
 * the agent's own VFS over os (so it also works on the simulator's fs) with
 * immutable=1: no lock is taken and rpm's -wal/-shm files are not read, so the
 * agent never blocks rpm nor writes beside its database; what is read is the
 * main file as of rpm's last checkpoint. A read torn by rpm writing meanwhile
 * shows as SQLite corruption or a header that does not parse: reported, never
 * trusted. SQLite's page cache is capped at RPMHDR_DB_CACHE_KIB.
 *
 * Result in *res (always filled):
 *   state   RPMHDR_DB_ABSENT     no rpm database in the directories looked at
 *           RPMHDR_DB_OK         listed (possibly cut short by max_pkgs or fn)
 *           RPMHDR_DB_BDB        only a BerkeleyDB "Packages": not read
 *           RPMHDR_DB_NDB        only an ndb "Packages.db": not read
 *           RPMHDR_DB_ERROR      the database could not be read completely
 *   listed  packages handed to fn
 *   bad     headers that did not parse (each makes the state ERROR: the
 *           list is incomplete)
 *   more    1 when max_pkgs stopped the listing with rows left
 *   error   a short reason for ERROR/BDB/NDB (never a path or a secret)
 * Returns the state. os is borrowed; nothing stays open after the call.
 */
typedef enum rpmhdr_db_state {
  RPMHDR_DB_ABSENT = 0,
  RPMHDR_DB_OK = 1,
  RPMHDR_DB_BDB = 2,
  RPMHDR_DB_NDB = 3,
  RPMHDR_DB_ERROR = 4,
} rpmhdr_db_state;

#define RPMHDR_DB_CACHE_KIB 256
#define RPMHDR_DB_ERROR_MAX 96

typedef struct rpmhdr_db_result {
  rpmhdr_db_state state;
  int64_t listed, bad;
  int more, stopped;
  char error[RPMHDR_DB_ERROR_MAX];
} rpmhdr_db_result;

typedef int (*rpmhdr_fn)(void *user, const rpmhdr_pkg *pkg);

rpmhdr_db_state rpmhdr_db_list(const os_shim *os, const char *dir, int64_t max_pkgs,
                               rpmhdr_fn fn, void *user, rpmhdr_db_result *res);

/* "ok", "not available", "not supported (bdb)", "not supported (ndb)", "error". */
const char *rpmhdr_db_state_name(rpmhdr_db_state s);

#endif
