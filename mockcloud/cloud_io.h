/* cloud_io.h - the plumbing outpost-cloud's commands share (prefix cio_):
 * the real clock and randomness for mc_env, paths and small files in the
 * data directory, opening the store, and the PKCS#11 token settings of the
 * release repository (DATA/pkcs11.json: module, label, PIN file path, never
 * the PIN).
 *
 * Functions returning int give 0 on success and -1 on failure unless said
 * otherwise; the ones that talk to the operator (cio_open_store,
 * cio_token_load, cio_repo_begin) have already printed why on stderr.
 */
#ifndef OUTPOST_MOCKCLOUD_CLOUD_IO_H
#define OUTPOST_MOCKCLOUD_CLOUD_IO_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "mc.h"
#include "mc_p11.h"
#include "mc_repo.h"

#define CIO_PATH_CAP 4096

/* The real world for mc_env: wall clock in Unix ms, getrandom. */
int64_t cio_wall_ms(void *ctx);
int cio_random(void *ctx, unsigned char *buf, size_t len);
extern const mc_env cio_env;

/* dir/name into out; -1 when it does not fit. */
int cio_join(char out[CIO_PATH_CAP], const char *dir, const char *name);
/* Writes a whole file with mode (re-applied: umask does not weaken it),
 * fsync'ed, never through a symlink. */
int cio_write_file(const char *path, const void *data, size_t len, mode_t mode);
/* A whole small file, NUL-terminated (MHD wants C strings), malloc'd: the
 * caller frees it. NULL when missing, empty or larger than cap. */
char *cio_read_file(const char *path, size_t cap);
int cio_exists(const char *path);

/* Opens DIR/cloud.db into *c (the caller mc_close()s it). must_exist: a
 * missing store is an error that tells the operator to run init.
 * probation_s: mc_options.probation_s, only serve sets it (mc.h). */
int cio_open_store(const char *dir, int must_exist, int64_t probation_s, mc_cloud **c);

/* DATA/repo, the release repository (docs/updates.md). */
int cio_repo_dir(const char *data, char out[CIO_PATH_CAP]);

typedef struct cio_token_conf {
  char module[CIO_PATH_CAP], label[MC_P11_LABEL_MAX + 1], pin_file[CIO_PATH_CAP];
} cio_token_conf;

int cio_token_save(const char *data, const cio_token_conf *t);
int cio_token_load(const char *data, cio_token_conf *t);
/* Logs in to the token; *p is the caller's to mc_p11_close(). */
int cio_token_open(const cio_token_conf *t, mc_p11 **p);
/* Token and repository for release / promote / rotate-keys / serve: rp is
 * DATA/repo, *p the open token (caller closes), *on its online signer. */
int cio_repo_begin(const char *data, char rp[CIO_PATH_CAP], mc_p11 **p, mc_signer *on);

#endif
