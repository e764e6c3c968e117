/* tuf.h - a TUF (spec 1.0.x) client's trusted metadata set. No I/O.
 *
 * The caller (an I/O driver: tools/tuf-client, later the agent's updater)
 * fetches bytes and feeds them in, in the order of the client workflow; this
 * module verifies and keeps what it accepts, in the style of python-tuf's
 * TrustedMetadataSet:
 *
 *   tuf_open(trusted root)                  root verified by itself only
 *   tuf_update_root(N+1.root.json) ...      at most TUF_MAX_ROOT_STEPS per set
 *   tuf_update_timestamp(local) [ignore err], tuf_update_timestamp(remote)
 *   tuf_update_snapshot(local, trusted=1) or tuf_update_snapshot(remote, 0)
 *   tuf_update_targets(local or remote)
 *   tuf_find_target(path) -> TUF_ENEED (load the named role with
 *       tuf_update_delegated_targets, then ask again) / TUF_OK / TUF_ENOTFOUND
 *   tuf_verify_target(bytes, target)
 *
 * Rules applied (spec section 5): each new root is signed by a threshold of
 * the old root's keys and of its own, with version = old + 1; expiry (freeze)
 * is checked against the wall time given to tuf_open, once, for the final root
 * (before timestamp), timestamp, snapshot and every targets role (an
 * intermediate root may be expired); timestamp and snapshot versions never go
 * back, snapshot never drops a role and never lowers a role's version;
 * snapshot must match timestamp's version (and length/hashes when listed),
 * targets roles must match snapshot's; duplicate signature keyids are
 * refused; a key's signature counts once. Local metadata re-loaded after a
 * root rotation is verified against the new root, so a timestamp or snapshot
 * signed by rotated-out keys is not trusted (fast-forward attack recovery);
 * tuf_rotated() additionally tells the driver which local files to delete.
 *
 * Rejected metadata leaves the set unchanged, with two deliberate exceptions
 * that python-tuf also makes so old metadata still guards against rollback:
 * an expired timestamp (TUF_EEXPIRED) and a snapshot that is expired or does
 * not match timestamp (TUF_EEXPIRED / TUF_EVERSION) are kept as intermediate
 * state; such a set refuses to load anything after them.
 *
 * Signature schemes: ecdsa-sha2-nistp256 (keytype "ecdsa" or
 * "ecdsa-sha2-nistp256", PEM SubjectPublicKeyInfo), rsassa-pss-sha256 (any
 * salt length), rsa-pkcs1v15-sha256 (keytype "rsa", PEM) and ed25519
 * (keytype and scheme "ed25519", public key as 64 hex chars, verified through
 * OpenSSL libcrypto: common/crypto.h). Other schemes, and a key or signature
 * of the wrong size, are accepted in metadata but their signatures never
 * count. Target hashes: sha256, sha384, sha512; any other
 * listed algorithm makes the target unverifiable.
 *
 * Ownership: tuf_open allocates the set; tuf_close frees it (NULL is fine).
 * Input bytes are copied as needed; the caller keeps its buffers. A
 * tuf_target is a self-contained copy. Single-threaded.
 *
 * Return codes: TUF_OK (0) or negative; tuf_error() gives a message naming
 * the role and field:
 *   TUF_ENOMEM      allocation failed
 *   TUF_EINVAL      bad argument
 *   TUF_EORDER      called out of workflow order (e.g. root after timestamp)
 *   TUF_ETOOBIG     over the role's length limit
 *   TUF_EFORMAT     not JSON, or a missing / mistyped / invalid field; a
 *                   number that is not a plain integer ("1.0", "1E0", "1e3",
 *                   "01") and a raw control character (byte < 0x20) inside a
 *                   string count as not JSON, though cJSON accepts both
 *   TUF_ETYPE       "_type" is not the expected role type
 *   TUF_ESIG        signature threshold not met
 *   TUF_EROLLBACK   a version lower than the trusted one
 *   TUF_EVERSION    version differs from what the referring metadata says
 *                   (root not old+1, snapshot vs timestamp, targets vs snapshot)
 *   TUF_EEQUAL      timestamp version equals the trusted one: nothing new (the
 *                   set keeps the trusted timestamp; not a failure)
 *   TUF_EEXPIRED    expired
 *   TUF_EHASH       length or hash differs from the referring metadata
 *   TUF_EMISSING    a role the workflow needs is absent (role not in snapshot,
 *                   snapshot dropped a role, delegator not loaded or not
 *                   delegating to that role)
 *   TUF_ENOTFOUND   tuf_find_target: no role in the search order lists the path
 *   TUF_ENEED       tuf_find_target: load role *need first
 *   TUF_ELIMIT      a bound was reached (root steps, delegation depth/count)
 */
#ifndef OUTPOST_CORE_TUF_H
#define OUTPOST_CORE_TUF_H

#include <stddef.h>
#include <stdint.h>

#define TUF_OK          0
#define TUF_ENOMEM    (-1)
#define TUF_EINVAL    (-2)
#define TUF_EORDER    (-3)
#define TUF_ETOOBIG   (-4)
#define TUF_EFORMAT   (-5)
#define TUF_ETYPE     (-6)
#define TUF_ESIG      (-7)
#define TUF_EROLLBACK (-8)
#define TUF_EVERSION  (-9)
#define TUF_EEQUAL    (-10)
#define TUF_EEXPIRED  (-11)
#define TUF_EHASH     (-12)
#define TUF_EMISSING  (-13)
#define TUF_ENOTFOUND (-14)
#define TUF_ENEED     (-15)
#define TUF_ELIMIT    (-16)

#define TUF_MAX_ROOT_STEPS 32    /* root versions accepted per set (python-tuf's max_root_rotations) */
#define TUF_MAX_DELEGATIONS 32   /* roles visited per target search */
#define TUF_MAX_ROLE_NAME 256    /* bytes, NUL excluded */
#define TUF_MAX_TARGET_PATH 2048 /* bytes, NUL excluded */
#define TUF_MAX_HASHES 4         /* per target / meta entry */
#define TUF_MAX_LOADED 256       /* metadata documents held at once */

/* Top-level role bits for tuf_rotated(). */
#define TUF_ROLE_TIMESTAMP 0x1
#define TUF_ROLE_SNAPSHOT  0x2

typedef struct tuf_limits {
  size_t root, timestamp, snapshot, targets; /* bytes; targets also for delegated roles */
} tuf_limits;

/* root 512 KiB, timestamp 16 KiB, snapshot 2 MiB, targets 5 MiB. */
void tuf_limits_default(tuf_limits *l);

typedef struct tuf_set tuf_set;

typedef struct tuf_hash {
  char alg[16];   /* "sha256", ... as listed */
  char hex[129];  /* lower-case hex as listed */
} tuf_hash;

/* A target entry as found (copied out of the role that lists it). */
typedef struct tuf_target {
  char path[TUF_MAX_TARGET_PATH + 1];
  int64_t length;
  size_t n_hashes;
  tuf_hash hashes[TUF_MAX_HASHES]; /* in document order; [0] names the consistent-snapshot file */
  char role[TUF_MAX_ROLE_NAME + 1]; /* the role that listed it */
} tuf_target;

/* Loads the trusted root (verified by its own keys; expiry not checked here).
 * limits NULL = defaults. now_wall_ms is Unix time in ms, read once by the
 * caller and used for every expiry check of this set. On failure *out is NULL
 * and err (optional) holds the message. */
int tuf_open(const uint8_t *root, size_t len, int64_t now_wall_ms, const tuf_limits *limits,
             tuf_set **out, char *err, size_t err_cap);
void tuf_close(tuf_set *s);

/* Message for the last failure on s ("" if none). Valid until the next call. */
const char *tuf_error(const tuf_set *s);

int tuf_update_root(tuf_set *s, const uint8_t *data, size_t len);
int tuf_update_timestamp(tuf_set *s, const uint8_t *data, size_t len);
/* trusted = 1 for a copy this client verified before (the local file): its
 * length and hashes are then not compared with timestamp's meta. */
int tuf_update_snapshot(tuf_set *s, const uint8_t *data, size_t len, int trusted);
int tuf_update_targets(tuf_set *s, const uint8_t *data, size_t len);
int tuf_update_delegated_targets(tuf_set *s, const uint8_t *data, size_t len, const char *role,
                                 const char *delegator);

/* State of the trusted set for the driver. */
int64_t tuf_root_version(const tuf_set *s);
int tuf_consistent_snapshot(const tuf_set *s);
/* TUF_ROLE_* bits of roles that lost a key between the root given to
 * tuf_open and the current root (a key was rotated out). The spec asks to delete both the local
 * timestamp and snapshot when either is set. */
unsigned tuf_rotated(const tuf_set *s);

/* What to fetch next for a role: its version (for consistent-snapshot URLs)
 * and the byte limit (the listed length, else the role's limit).
 * role: "snapshot" (from timestamp) or a targets role name (from snapshot).
 * TUF_OK, TUF_EORDER (referring metadata not loaded), TUF_EMISSING. */
int tuf_meta_for(tuf_set *s, const char *role, int64_t *version, size_t *max_len);

/* Searches the delegation graph (preorder depth-first, terminating
 * delegations, path patterns / hash prefixes) for path.
 * TUF_OK and *out; TUF_ENOTFOUND; TUF_ENEED with the role to load (and its
 * delegator) written into need / need_delegator (each TUF_MAX_ROLE_NAME+1
 * bytes) - load it and call again; TUF_EORDER before targets is loaded;
 * TUF_ELIMIT when the search bound is reached. */
int tuf_find_target(tuf_set *s, const char *path, tuf_target *out, char *need,
                    char *need_delegator);

/* Enumerates the targets a loaded targets role lists itself (document
 * order; no delegation search, so the caller must still resolve a chosen
 * path with tuf_find_target to honour the search order and path patterns).
 * index 0.. ; TUF_OK and *out (and custom.version into custom_version,
 * "" when absent or not a string, truncated to cap-1; may be NULL);
 * TUF_ENOTFOUND when index is past the end; TUF_EMISSING when role is not
 * loaded; TUF_EINVAL for NULL arguments. Does not touch the set's error. */
int tuf_role_target_at(const tuf_set *s, const char *role, size_t index, tuf_target *out,
                       char *custom_version, size_t cap);

/* TUF_OK when data has the target's length and every listed hash;
 * TUF_EHASH otherwise (also for an unknown hash algorithm). Does not touch
 * the set's error when s is NULL. */
int tuf_verify_target(tuf_set *s, const uint8_t *data, size_t len, const tuf_target *t);

/* The same check over a target that arrives in pieces (an update streamed to
 * disk, never held whole in memory): begin, feed every piece in order, finish.
 * tuf_target_hash_begin allocates *out (TUF_ENOMEM) and refuses a target with
 * no or an unknown hash algorithm (TUF_EHASH, recorded in s when s is given);
 * it copies what it needs of t. tuf_target_hash_finish checks the length and
 * every hash like tuf_verify_target and frees h; tuf_target_hash_free drops an
 * unfinished one (NULL fine). */
typedef struct tuf_target_hasher tuf_target_hasher;
int tuf_target_hash_begin(tuf_set *s, const tuf_target *t, tuf_target_hasher **out);
void tuf_target_hash_update(tuf_target_hasher *h, const uint8_t *data, size_t len);
int tuf_target_hash_finish(tuf_set *s, tuf_target_hasher *h);
void tuf_target_hash_free(tuf_target_hasher *h);

/* Pattern matching of delegated paths (spec: shell-style, '/' separates
 * components that must match one by one; '*', '?', '[...]', '[!...]').
 * Exposed for tests. 1 = match. */
int tuf_path_match(const char *pattern, const char *path);

/* Short English name for a TUF_* code. */
const char *tuf_strerror(int code);

#endif
