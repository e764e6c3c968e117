/* mc_repo.h - the cloud's TUF repository writer for agent releases
 * (docs/updates.md "The repository", docs/tuf.md).
 *
 * Layout under dir (DATA/repo): metadata/ (N.root.json, timestamp.json,
 * N.snapshot.json, N.targets.json, N.<ring>.json), targets/<ring>/outpost-agent/
 * <version>/<sha256>.<basename> (hard links to blobs/<sha256>, so the same bytes
 * in several rings are one stored file), blobs/, and release-key.pem (the
 * release key's public half, to build agents with). Only metadata/ and
 * targets/ are served. Every file is written to a temporary name, synced and
 * renamed; timestamp.json is always written last, so a reader sees either the
 * old or the new repository.
 *
 * Keys are used through signers (mc_signer): the online roles (timestamp,
 * snapshot, targets, canary, early-access, stable) and the release key live in
 * one signer (a PKCS#11 token via mc_repo_p11_signer, or mc_memkeys for the
 * simulator), the offline root keys in another (mc_memkeys loaded from the
 * --root-keys directory). A key is named by its public key's DER
 * SubjectPublicKeyInfo, which the metadata holds, so no other state exists.
 * This module keeps no process globals: several repositories may live in one
 * process.
 *
 * TUF form: keytype "ecdsa", scheme "ecdsa-sha2-nistp256", keyval.public a PEM
 * SubjectPublicKeyInfo; keyid = hex SHA-256 of the canonical JSON of the key
 * object; signatures are hex DER ECDSA over SHA-256 of the canonical "signed".
 * consistent_snapshot true. Ring roles are delegated by targets with path
 * pattern "<ring>/" followed by three "*" components (tuf_path_match matches
 * component by component, and a target path has four).
 *
 * Ownership: every function works on the files under ctx->dir and frees all it
 * allocates; mc_memkeys_new allocates, mc_memkeys_free frees (NULL fine).
 *
 * Return codes: MC_REPO_OK (0) or negative, with a message in err:
 *   MC_REPO_EINVAL    bad argument: version string, ring, arch, role name
 *   MC_REPO_EEXIST    already there (repository initialised, version already
 *                     in the ring, version bound to other bytes)
 *   MC_REPO_ENOTFOUND no repository, or the version is not in the source ring
 *   MC_REPO_EIO       a file could not be read or written
 *   MC_REPO_ECORRUPT  the repository's own metadata does not parse
 *   MC_REPO_ESIGN     a signer failed (message from the signer), or the root
 *                     signer holds fewer keys than a threshold
 *   MC_REPO_ENOMEM    allocation failed
 */
#ifndef OUTPOST_MOCKCLOUD_MC_REPO_H
#define OUTPOST_MOCKCLOUD_MC_REPO_H

#include <stddef.h>
#include <stdint.h>

#include "common/crypto.h"
#include "mc_p11.h"

#define MC_REPO_OK          0
#define MC_REPO_EINVAL    (-1)
#define MC_REPO_EEXIST    (-2)
#define MC_REPO_ENOTFOUND (-3)
#define MC_REPO_EIO       (-4)
#define MC_REPO_ECORRUPT  (-5)
#define MC_REPO_ESIGN     (-6)
#define MC_REPO_ENOMEM    (-7)

#define MC_REPO_N_RINGS 3
#define MC_REPO_ROOT_KEYS 3
#define MC_REPO_ROOT_THRESHOLD 2
#define MC_REPO_MAX_BINARY (256u * 1024 * 1024)

/* Lifetimes, seconds (docs/updates.md). */
#define MC_REPO_TIMESTAMP_TTL (24 * 3600)
#define MC_REPO_SNAPSHOT_TTL (7 * 24 * 3600)
#define MC_REPO_TARGETS_TTL (30 * 24 * 3600)
#define MC_REPO_ROOT_TTL (365 * 24 * 3600)

/* Rings in promotion order: canary, early-access, stable. */
extern const char *const mc_repo_rings[MC_REPO_N_RINGS];

typedef struct mc_pub {
  uint8_t der[CRYPTO_PUB_DER_MAX];
  size_t len;
} mc_pub;

typedef struct mc_signer {
  void *ctx;
  /* New key pair labelled label; its public key into *pub. */
  int (*generate)(void *ctx, const char *label, mc_pub *pub, char *err, size_t err_cap);
  /* DER ECDSA signature of SHA-256(msg) by the key of pub. 0 on success;
   * MC_P11_ENOKEY when the signer does not hold that key. */
  int (*sign)(void *ctx, const mc_pub *pub, const void *msg, size_t len, uint8_t *sig,
              size_t cap, size_t *sig_len, char *err, size_t err_cap);
} mc_signer;

/* A signer over an open token (p stays the caller's). */
void mc_repo_p11_signer(mc_p11 *p, mc_signer *out);

/* In-memory P-256 keys (crypto.h), at most 64. */
typedef struct mc_memkeys mc_memkeys;
int mc_memkeys_new(crypto_rng_fn rng, void *rng_ctx, mc_memkeys **out);
void mc_memkeys_free(mc_memkeys *k);
/* Adds a private key (RFC 5915 DER); its public key into *pub (optional). */
int mc_memkeys_add(mc_memkeys *k, const uint8_t *key_der, size_t len, mc_pub *pub);
void mc_memkeys_signer(mc_memkeys *k, mc_signer *out);

/* Offline root keys as files root-<keyid prefix>.key (DER, 0600) in dir (0700,
 * created). create: n new keys, written and added to k, public halves into
 * pubs. load: every *.key file of dir (not its retired/ subdirectory) into k. */
int mc_repo_rootkeys_create(const char *dir, mc_memkeys *k, crypto_rng_fn rng, void *rng_ctx,
                            size_t n, mc_pub *pubs, char *err, size_t err_cap);
int mc_repo_rootkeys_load(const char *dir, mc_memkeys *k, char *err, size_t err_cap);
/* Moves the key files of dir whose public key is not in keep[] into
 * dir/retired/ (after a root rotation; kept for audit, never loaded). */
int mc_repo_rootkeys_retire(const char *dir, const mc_pub *keep, size_t n_keep, char *err,
                            size_t err_cap);

typedef struct mc_repo_ctx {
  const char *dir;         /* DATA/repo */
  const mc_signer *online; /* online TUF keys and the release key */
  const mc_signer *root;   /* offline root keys; NULL where none is needed */
  int64_t now_ms;          /* Unix ms: expiries are counted from it */
} mc_repo_ctx;

/* MAJOR.MINOR.PATCH, each 0..999999 without leading zeros. 0 or -1. */
int mc_repo_version_parse(const char *v, uint32_t out[3]);
/* Index into mc_repo_rings or -1. */
int mc_repo_ring_index(const char *ring);

/* Creates the repository: online keys for every online role and the release
 * key in ctx->online, version 1 of every role; root lists root_pubs (3,
 * threshold 2) and is signed by ctx->root. EEXIST when metadata exists. */
int mc_repo_init(const mc_repo_ctx *ctx, const mc_pub root_pubs[MC_REPO_ROOT_KEYS], char *err,
                 size_t err_cap);

/* Publishes a binary into ring: target <ring>/outpost-agent/<version>/
 * outpost-agent-linux-<arch> (custom.version) and its .sig (the release
 * statement signed by the release key). arch NULL = "x86_64". */
int mc_repo_release(const mc_repo_ctx *ctx, const uint8_t *bin, size_t len, const char *version,
                    const char *ring, const char *arch, char *err, size_t err_cap);

/* Lists in ring to the same targets (same bytes) that ring from lists for
 * version; to must come after from in promotion order. */
int mc_repo_promote(const mc_repo_ctx *ctx, const char *version, const char *from,
                    const char *to, char *err, size_t err_cap);

/* Rotates role's key. Online roles: a new key in ctx->online; timestamp,
 * snapshot and targets get a new root version (needs ctx->root), a ring gets
 * a new targets version (no root keys needed). role "root": new_root (3 keys,
 * which ctx->root must also hold) replaces the root keys in a new root signed
 * by a threshold of the old and of the new keys. */
int mc_repo_rotate(const mc_repo_ctx *ctx, const char *role,
                   const mc_pub new_root[MC_REPO_ROOT_KEYS], char *err, size_t err_cap);

/* What serve's timer runs: re-signs timestamp when less than half of its life
 * is left (or force), snapshot, targets and ring roles likewise, so a healthy
 * repository never expires. *resigned (optional): bit 1 timestamp, 2 snapshot,
 * 4 targets or a ring. Needs only ctx->online. */
int mc_repo_refresh(const mc_repo_ctx *ctx, int force, unsigned *resigned, char *err,
                    size_t err_cap);

/* The release key's public half (from dir/release-key.pem). */
int mc_repo_release_pub(const char *dir, mc_pub *pub, char *err, size_t err_cap);

/* PEM <-> DER for a SubjectPublicKeyInfo. */
int mc_repo_pub_pem(const mc_pub *pub, char *pem, size_t cap);
int mc_repo_pub_from_pem(const char *pem, mc_pub *pub);

#endif
