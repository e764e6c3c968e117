/* ident.h - the agent's identity on disk: its ECDSA P-256 key (made on first
 * start, never leaves the endpoint), the agent id the cloud assigned at
 * enrollment, the machine fingerprint taken then, and the clone ratchet.
 * Both files live in the state dir: agent.key (DER, 0600) and identity.json
 * (0600), each written atomically.
 *
 * identity.json: {"agent_id","workspace","enrolled_ms","ratchet",
 *   "key_sha256" (hex SHA-256 of the public key DER: which key the identity
 *   belongs to), "fp": {"product_uuid","macs","machine_id","hostname"}
 *   (hex SHA-256 of each source at enrollment, "" when absent),
 *   "cloned_from" (optional)}. Files of version 1 (no ratchet, fp, key_sha256)
 *   still load; the fingerprint is then taken at the next save.
 *
 * Re-keying (re-enrollment as a new identity) is crash-safe: the new key is
 * written to agent.key.new before the enrollment request; after the cloud's
 * reply identity.json is replaced (naming the new key by key_sha256), then
 * agent.key.new is renamed over agent.key. ident_load finishes or discards a
 * half-done re-key by comparing key_sha256.
 *
 * Return codes: IDENT_OK (0) or negative:
 *   IDENT_EIO       the file could not be read or written (err says which, why)
 *   IDENT_ECORRUPT  a file exists but is malformed; the agent refuses to start
 *                   rather than silently re-enrolling as someone else
 *   IDENT_ECRYPTO   key generation or encoding failed
 */
#ifndef OUTPOST_CORE_IDENT_H
#define OUTPOST_CORE_IDENT_H

#include <stddef.h>
#include <stdint.h>

#include "common/crypto.h"
#include "shim/os.h"

#define IDENT_OK 0
#define IDENT_EIO (-1)
#define IDENT_ECORRUPT (-2)
#define IDENT_ECRYPTO (-3)

#define IDENT_KEY_FILE "agent.key"
#define IDENT_NEW_KEY_FILE "agent.key.new"
#define IDENT_FILE "identity.json"
#define IDENT_WORKSPACE_MAX 128
#define IDENT_FILE_MAX 4096

/* Fingerprint components and their weights (sum 100). A renamed host keeps
 * 90, a replaced NIC 70; a disk copied to other hardware keeps at most
 * machine_id + hostname = 35. Below IDENT_FP_SAME_MACHINE the identity is on
 * other hardware. */
enum { IDENT_FP_PRODUCT_UUID, IDENT_FP_MACS, IDENT_FP_MACHINE_ID, IDENT_FP_HOSTNAME, IDENT_FP_N };
#define IDENT_FP_SAME_MACHINE 60

typedef struct ident_fp {
  char h[IDENT_FP_N][65]; /* hex SHA-256 of the source's value, "" when absent */
} ident_fp;

typedef struct ident {
  uint8_t key[CRYPTO_KEY_DER_MAX];
  size_t key_len;
  uint8_t pub[CRYPTO_PUB_DER_MAX];
  size_t pub_len;
  int enrolled;
  char agent_id[33];
  char workspace[IDENT_WORKSPACE_MAX];
  int64_t enrolled_ms;
  char ratchet[33];     /* value to present next; "none" before the first check-in */
  ident_fp fp;          /* fingerprint stored at enrollment */
  int have_fp;          /* 0 for a version-1 identity file */
  char cloned_from[33]; /* "" unless this identity replaced a cloned one */
} ident;

/* Loads agent.key, creating it (0600) when absent; then identity.json if
 * present (sets enrolled). Completes or discards a half-done re-key. */
int ident_load(ident *id, const os_shim *os, const char *state_dir, char *err, size_t err_cap);
/* Writes identity.json from *id (atomic). Sets enrolled. */
int ident_save(ident *id, const os_shim *os, const char *state_dir, char *err, size_t err_cap);

/* Parses identity.json text into id's identity fields (not the key). For the
 * loader and the fuzz target. IDENT_OK or IDENT_ECORRUPT. */
int ident_parse(ident *id, const char *text, size_t len);

/* Makes a new key into *next (a copy of nothing else) and writes it to
 * agent.key.new (0600). The current key stays in agent.key. */
int ident_rekey_prepare(ident *next, const os_shim *os, const char *state_dir, char *err,
                        size_t err_cap);
/* After the cloud enrolled *next (agent_id, workspace set): saves identity.json
 * for it, then renames agent.key.new over agent.key. */
int ident_rekey_commit(ident *next, const os_shim *os, const char *state_dir, char *err,
                       size_t err_cap);

/* Reads the host's identity sources through os and hashes them. */
void ident_fp_read(const os_shim *os, ident_fp *out);
/* Score 0..100: weights of the components equal in both, over the weights of
 * the components present in both. 100 when nothing can be compared. */
int ident_fp_score(const ident_fp *stored, const ident_fp *now);

/* mbedTLS-shaped rng over the os shim: ctx is the const os_shim*. */
int ident_rng(void *os_shim_ptr, unsigned char *buf, size_t len);

#endif
