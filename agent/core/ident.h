/* ident.h - the agent's identity on disk: its ECDSA P-256 key (made on first
 * start, never leaves the endpoint) and the agent id the cloud assigned at
 * enrollment. Both live in the state dir: agent.key (DER, 0600) and
 * identity.json (0600), each written atomically.
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
#define IDENT_FILE "identity.json"
#define IDENT_WORKSPACE_MAX 128

typedef struct ident {
  uint8_t key[CRYPTO_KEY_DER_MAX];
  size_t key_len;
  uint8_t pub[CRYPTO_PUB_DER_MAX];
  size_t pub_len;
  int enrolled;
  char agent_id[33];
  char workspace[IDENT_WORKSPACE_MAX];
  int64_t enrolled_ms;
} ident;

/* Loads agent.key, creating it (0600) when absent; then identity.json if
 * present (sets enrolled). */
int ident_load(ident *id, const os_shim *os, const char *state_dir, char *err, size_t err_cap);
/* Records a successful enrollment in identity.json. */
int ident_save(ident *id, const os_shim *os, const char *state_dir, char *err, size_t err_cap);

/* mbedTLS-shaped rng over the os shim: ctx is the const os_shim*. */
int ident_rng(void *os_shim_ptr, unsigned char *buf, size_t len);

#endif
