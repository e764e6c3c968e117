/* cloud_main.c - outpost-cloud: the mock cloud as a real HTTPS server for real
 * agents on loopback, plus the commands that set up its data directory.
 *
 *   outpost-cloud init --data DIR [--force]
 *   outpost-cloud workspace add NAME --data DIR
 *   outpost-cloud serve --data DIR --listen 127.0.0.1:PORT [--probation-s N]
 *   outpost-cloud count --data DIR [--agent ID]
 *   outpost-cloud agent revoke ID --data DIR
 *   outpost-cloud policy set --data DIR --workspace NAME [--group G] FILE
 *   outpost-cloud alerts --data DIR      (one line per alert, oldest first)
 *   outpost-cloud update-reports --data DIR  (agents' update refusals/stagings, oldest first)
 *   outpost-cloud repo init --data DIR --root-keys RDIR --pkcs11-module M
 *                 --token-label L --pin-file P
 *   outpost-cloud release --data DIR --binary FILE --version V --ring R [--arch A]
 *   outpost-cloud promote --data DIR --version V --from R1 --to R2 [--force]
 *                 (refused when agents reported the version rolled back,
 *                 unless --force: mc_promote_rollbacks)
 *   outpost-cloud agent group --data DIR AGENT_ID GROUP|-   (issue #6: rings)
 *   outpost-cloud rotate-keys --data DIR [--root-keys RDIR] --role ROLE
 *
 * The release repository (docs/updates.md) lives in DATA/repo; the token
 * settings (module, label, PIN file path: never the PIN) in DATA/pkcs11.json.
 * serve reads DATA/repo/metadata and DATA/repo/targets only, and re-signs
 * timestamp/snapshot through the token on a timer; it never opens RDIR.
 *
 * Exit codes: 0 ok, 1 runtime failure, 2 usage error.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <mbedtls/asn1write.h>
#include <mbedtls/ctr_drbg.h>
#include <mbedtls/entropy.h>
#include <mbedtls/oid.h>
#include <mbedtls/pk.h>
#include <mbedtls/x509_crt.h>
#include <microhttpd.h>

#include <cjson/cJSON.h>
#include <dirent.h>
#include <limits.h>

#include "common/wire.h"
#include "mc_rings.h"
#include "mc.h"
#include "mc_metrics.h"
#include "mc_p11.h"
#include "mc_repo.h"

#define PATH_CAP 4096
#define BODY_CAP (WIRE_MAX_BODY + 1024) /* beyond this: 413 without buffering */
#define MAX_HEADERS 64
#define PEM_CAP 4096
#define REFRESH_S 60 /* seconds between re-sign checks of the repository */

/* ---- env for the real world ---- */

static int64_t real_wall_ms(void *ctx) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int real_random(void *ctx, unsigned char *buf, size_t len) {
  while (len > 0) {
    ssize_t n = getrandom(buf, len, 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      return -1;
    }
    buf += n;
    len -= (size_t)n;
  }
  return 0;
}

static const mc_env real_env = {NULL, real_wall_ms, real_random};

/* ---- small helpers ---- */

static int join(char *out, const char *dir, const char *name) {
  int n = snprintf(out, PATH_CAP, "%s/%s", dir, name);
  return n > 0 && n < PATH_CAP ? 0 : -1;
}

static int write_file(const char *path, const void *data, size_t len, mode_t mode) {
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, mode);
  if (fd < 0) return -1;
  int ok = fchmod(fd, mode) == 0;
  const char *p = data;
  while (ok && len > 0) {
    ssize_t n = write(fd, p, len);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) ok = 0;
    else {
      p += n;
      len -= (size_t)n;
    }
  }
  ok = ok && fsync(fd) == 0;
  return close(fd) == 0 && ok ? 0 : -1;
}

/* Reads a whole small file, NUL-terminated (MHD wants C strings). */
static char *read_file(const char *path, size_t cap) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  char *buf = malloc(cap + 1);
  size_t n = buf ? fread(buf, 1, cap + 1, f) : 0;
  fclose(f);
  if (!buf || n == 0 || n > cap) {
    free(buf);
    return NULL;
  }
  buf[n] = '\0';
  return buf;
}

static int file_exists(const char *path) {
  struct stat st;
  return stat(path, &st) == 0;
}

/* ---- certificates (init) ---- */

static int time_str(time_t t, char out[16]) {
  struct tm tm;
  if (!gmtime_r(&t, &tm)) return -1;
  return strftime(out, 16, "%Y%m%d%H%M%S", &tm) == 14 ? 0 : -1;
}

/* subjectAltName = DNS:localhost, IP:127.0.0.1. mbedTLS 2.28 has no helper for
 * IP SANs, so the GeneralNames DER is written by hand (backwards, as asn1write
 * does). */
static int san_der(unsigned char *buf, size_t cap, unsigned char **start, size_t *len) {
  static const unsigned char ip[4] = {127, 0, 0, 1};
  unsigned char *p = buf + cap;
  int n, total = 0;
#define W(call)              \
  do {                       \
    if ((n = (call)) < 0)    \
      return -1;             \
    total += n;              \
  } while (0)
  int inner = 0;
  W(mbedtls_asn1_write_raw_buffer(&p, buf, ip, sizeof ip));
  W(mbedtls_asn1_write_len(&p, buf, sizeof ip));
  W(mbedtls_asn1_write_tag(&p, buf, MBEDTLS_ASN1_CONTEXT_SPECIFIC | 7)); /* iPAddress */
  W(mbedtls_asn1_write_raw_buffer(&p, buf, (const unsigned char *)"localhost", 9));
  W(mbedtls_asn1_write_len(&p, buf, 9));
  W(mbedtls_asn1_write_tag(&p, buf, MBEDTLS_ASN1_CONTEXT_SPECIFIC | 2)); /* dNSName */
  inner = total;
  W(mbedtls_asn1_write_len(&p, buf, (size_t)inner));
  W(mbedtls_asn1_write_tag(&p, buf, MBEDTLS_ASN1_CONSTRUCTED | MBEDTLS_ASN1_SEQUENCE));
#undef W
  *start = p;
  *len = (size_t)total;
  return 0;
}

static int gen_key(mbedtls_pk_context *pk, mbedtls_ctr_drbg_context *drbg) {
  return mbedtls_pk_setup(pk, mbedtls_pk_info_from_type(MBEDTLS_PK_ECKEY)) != 0 ||
                 mbedtls_ecp_gen_key(MBEDTLS_ECP_DP_SECP256R1, mbedtls_pk_ec(*pk),
                                     mbedtls_ctr_drbg_random, drbg) != 0
             ? -1
             : 0;
}

/* Writes a certificate for subject_key signed by issuer_key, PEM into out. */
static int make_cert(mbedtls_pk_context *subject_key, mbedtls_pk_context *issuer_key,
                     const char *subject, const char *issuer, int is_ca,
                     mbedtls_ctr_drbg_context *drbg, unsigned char *out, size_t cap) {
  mbedtls_x509write_cert crt;
  mbedtls_mpi serial;
  unsigned char sbytes[16], san[64], *san_p;
  size_t san_len;
  char nb[16], na[16];
  time_t now = time(NULL);
  int rc = -1;

  mbedtls_x509write_crt_init(&crt);
  mbedtls_mpi_init(&serial);
  if (mbedtls_ctr_drbg_random(drbg, sbytes, sizeof sbytes) != 0) goto done;
  sbytes[0] &= 0x7f; /* serial must be positive */
  sbytes[0] |= 0x01;
  if (mbedtls_mpi_read_binary(&serial, sbytes, sizeof sbytes) != 0) goto done;
  if (time_str(now - 86400, nb) != 0 || time_str(now + (time_t)3653 * 86400, na) != 0) goto done;

  mbedtls_x509write_crt_set_version(&crt, MBEDTLS_X509_CRT_VERSION_3);
  mbedtls_x509write_crt_set_md_alg(&crt, MBEDTLS_MD_SHA256);
  mbedtls_x509write_crt_set_subject_key(&crt, subject_key);
  mbedtls_x509write_crt_set_issuer_key(&crt, issuer_key);
  if (mbedtls_x509write_crt_set_subject_name(&crt, subject) != 0 ||
      mbedtls_x509write_crt_set_issuer_name(&crt, issuer) != 0 ||
      mbedtls_x509write_crt_set_serial(&crt, &serial) != 0 ||
      mbedtls_x509write_crt_set_validity(&crt, nb, na) != 0 ||
      mbedtls_x509write_crt_set_basic_constraints(&crt, is_ca, is_ca ? 0 : -1) != 0 ||
      mbedtls_x509write_crt_set_subject_key_identifier(&crt) != 0 ||
      mbedtls_x509write_crt_set_authority_key_identifier(&crt) != 0)
    goto done;
  if (is_ca) {
    if (mbedtls_x509write_crt_set_key_usage(
            &crt, MBEDTLS_X509_KU_KEY_CERT_SIGN | MBEDTLS_X509_KU_CRL_SIGN) != 0)
      goto done;
  } else {
    if (mbedtls_x509write_crt_set_key_usage(&crt, MBEDTLS_X509_KU_DIGITAL_SIGNATURE) != 0 ||
        san_der(san, sizeof san, &san_p, &san_len) != 0 ||
        mbedtls_x509write_crt_set_extension(&crt, MBEDTLS_OID_SUBJECT_ALT_NAME,
                                            MBEDTLS_OID_SIZE(MBEDTLS_OID_SUBJECT_ALT_NAME), 0,
                                            san_p, san_len) != 0)
      goto done;
  }
  if (mbedtls_x509write_crt_pem(&crt, out, cap, mbedtls_ctr_drbg_random, drbg) != 0) goto done;
  rc = 0;
done:
  mbedtls_x509write_crt_free(&crt);
  mbedtls_mpi_free(&serial);
  return rc;
}

static int write_key_pem(mbedtls_pk_context *pk, const char *path) {
  unsigned char pem[PEM_CAP];
  int rc = mbedtls_pk_write_key_pem(pk, pem, sizeof pem) == 0
               ? write_file(path, pem, strlen((char *)pem), 0600)
               : -1;
  memset(pem, 0, sizeof pem);
  return rc;
}

static int make_pki(const char *dir) {
  mbedtls_entropy_context entropy;
  mbedtls_ctr_drbg_context drbg;
  mbedtls_pk_context ca_key, srv_key;
  unsigned char pem[PEM_CAP];
  char path[PATH_CAP];
  int rc = -1;
  static const char ca_name[] = "CN=Outpost Mock Cloud Test CA,O=Outpost";

  mbedtls_entropy_init(&entropy);
  mbedtls_ctr_drbg_init(&drbg);
  mbedtls_pk_init(&ca_key);
  mbedtls_pk_init(&srv_key);
  if (mbedtls_ctr_drbg_seed(&drbg, mbedtls_entropy_func, &entropy,
                            (const unsigned char *)"outpost-cloud-init", 18) != 0 ||
      gen_key(&ca_key, &drbg) != 0 || gen_key(&srv_key, &drbg) != 0)
    goto done;
  if (make_cert(&ca_key, &ca_key, ca_name, ca_name, 1, &drbg, pem, sizeof pem) != 0 ||
      join(path, dir, "ca.pem") != 0 || write_file(path, pem, strlen((char *)pem), 0644) != 0)
    goto done;
  if (join(path, dir, "ca.key") != 0 || write_key_pem(&ca_key, path) != 0) goto done;
  if (make_cert(&srv_key, &ca_key, "CN=localhost,O=Outpost", ca_name, 0, &drbg, pem,
                sizeof pem) != 0 ||
      join(path, dir, "server.pem") != 0 ||
      write_file(path, pem, strlen((char *)pem), 0644) != 0)
    goto done;
  if (join(path, dir, "server.key") != 0 || write_key_pem(&srv_key, path) != 0) goto done;
  rc = 0;
done:
  mbedtls_pk_free(&ca_key);
  mbedtls_pk_free(&srv_key);
  mbedtls_ctr_drbg_free(&drbg);
  mbedtls_entropy_free(&entropy);
  return rc;
}

/* ---- commands ---- */

/* probation_s: mc_options.probation_s (strict clone attribution, mc.h);
 * only `serve` sets it, 0 elsewhere. */
static int open_store_opts(const char *dir, int must_exist, int64_t probation_s, mc_cloud **c) {
  char path[PATH_CAP], err[256];
  if (join(path, dir, "cloud.db") != 0) return -1;
  if (must_exist && !file_exists(path)) {
    fprintf(stderr, "outpost-cloud: no store at %s; run: outpost-cloud init --data %s\n", path,
            dir);
    return -1;
  }
  mc_options opts = {.durable = 1, .probation_s = probation_s};
  if (mc_open(path, &real_env, &opts, c, err, sizeof err) != MC_OK) {
    fprintf(stderr, "outpost-cloud: %s\n", err);
    return -1;
  }
  return 0;
}

static int open_store(const char *dir, int must_exist, mc_cloud **c) {
  return open_store_opts(dir, must_exist, 0, c);
}

static int cmd_init(const char *dir, int force) {
  char path[PATH_CAP];
  if (join(path, dir, "cloud.db") != 0) return 2;
  if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
    fprintf(stderr, "outpost-cloud: cannot create %s: %s\n", dir, strerror(errno));
    return 1;
  }
  if (chmod(dir, 0700) != 0) {
    fprintf(stderr, "outpost-cloud: cannot chmod %s: %s\n", dir, strerror(errno));
    return 1;
  }
  if (file_exists(path)) {
    if (!force) {
      fprintf(stderr,
              "outpost-cloud: a store already exists at %s; refusing to overwrite it "
              "(use --force to replace it and its certificates)\n",
              path);
      return 1;
    }
    static const char *const old[] = {"cloud.db", "cloud.db-wal", "cloud.db-shm"};
    for (size_t i = 0; i < 3; i++) {
      char p[PATH_CAP];
      if (join(p, dir, old[i]) == 0 && unlink(p) != 0 && errno != ENOENT) {
        fprintf(stderr, "outpost-cloud: cannot remove %s: %s\n", p, strerror(errno));
        return 1;
      }
    }
  }
  mc_cloud *c;
  if (open_store(dir, 0, &c) != 0) return 1;
  mc_close(c);
  if (chmod(path, 0600) != 0 || make_pki(dir) != 0) {
    fprintf(stderr, "outpost-cloud: could not write certificates in %s\n", dir);
    return 1;
  }
  fprintf(stderr, "outpost-cloud: initialised %s (store, test CA ca.pem, server.pem)\n", dir);
  return 0;
}

static int cmd_workspace_add(const char *dir, const char *name) {
  mc_cloud *c;
  char token[MC_TOKEN_MAX];
  if (open_store(dir, 1, &c) != 0) return 1;
  int rc = mc_workspace_add(c, name, token, sizeof token);
  mc_close(c);
  if (rc == MC_EEXIST) {
    fprintf(stderr, "outpost-cloud: workspace \"%s\" already exists\n", name);
    return 1;
  }
  if (rc == MC_EINVAL) {
    fprintf(stderr, "outpost-cloud: bad workspace name (1-64 of A-Z a-z 0-9 . _ -)\n");
    return 2;
  }
  if (rc != MC_OK) {
    fprintf(stderr, "outpost-cloud: could not add workspace (error %d)\n", rc);
    return 1;
  }
  /* The token is the one secret this tool prints, by design: stdout only. */
  printf("%s\n", token);
  memset(token, 0, sizeof token);
  return fflush(stdout) == 0 ? 0 : 1;
}

static int cmd_count(const char *dir, const char *agent) {
  mc_cloud *c;
  if (open_store(dir, 1, &c) != 0) return 1;
  int64_t n = agent ? mc_agent_record_count(c, agent) : mc_total_records(c);
  mc_close(c);
  if (n < 0) {
    fprintf(stderr, "outpost-cloud: unknown agent %s\n", agent ? agent : "");
    return 1;
  }
  printf("%" PRId64 "\n", n);
  return 0;
}

static int cmd_revoke(const char *dir, const char *agent) {
  mc_cloud *c;
  if (open_store(dir, 1, &c) != 0) return 1;
  int rc = mc_agent_revoke(c, agent);
  mc_close(c);
  if (rc == MC_EINVAL) {
    fprintf(stderr, "outpost-cloud: unknown agent %s\n", agent);
    return 1;
  }
  if (rc != MC_OK) {
    fprintf(stderr, "outpost-cloud: cannot revoke %s: store error\n", agent);
    return 1;
  }
  printf("revoked %s: its requests are refused from now on (403 revoked)\n", agent);
  return 0;
}

static int print_alert(void *user, const mc_alert *a) {
  (void)user;
  time_t t = (time_t)(a->created_ms / 1000);
  struct tm tm;
  char when[32] = "?";
  if (gmtime_r(&t, &tm)) strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
  printf("%" PRId64 " %s workspace=%" PRId64 " kind=%s agent=%s other_agent=%s instance=%s "
         "other_instance=%s detail=\"%s\"\n",
         a->id, when, a->workspace_id, a->kind, a->agent_id, a->other_agent_id,
         a->instance[0] ? a->instance : "-", a->other_instance[0] ? a->other_instance : "-",
         a->detail);
  return 0;
}

static int print_event(void *user, const mc_event *e) {
  (void)user;
  printf("%lld %s %s %s %s\n", (long long)e->created_ms, e->kind, e->agent_id,
         e->instance[0] ? e->instance : "-", e->detail);
  return 0;
}

/* issue #6: what agents reported about updates (refused, staged, error). */
static int cmd_update_reports(const char *dir) {
  mc_cloud *c;
  if (open_store(dir, 1, &c) != 0) return 1;
  int rc = mc_events_foreach(c, "update_", print_event, NULL);
  mc_close(c);
  if (rc != MC_OK) {
    fprintf(stderr, "outpost-cloud: cannot read the update reports\n");
    return 1;
  }
  return 0;
}

static int cmd_alerts(const char *dir) {
  mc_cloud *c;
  if (open_store(dir, 1, &c) != 0) return 1;
  int rc = mc_alerts_foreach(c, print_alert, NULL);
  mc_close(c);
  if (rc != MC_OK) {
    fprintf(stderr, "outpost-cloud: cannot read the alerts\n");
    return 1;
  }
  return 0;
}

/* ---- release repository (issue #6, docs/updates.md) ---- */

typedef struct token_conf {
  char module[PATH_CAP], label[MC_P11_LABEL_MAX + 1], pin_file[PATH_CAP];
} token_conf;

static int repo_dir(const char *data, char out[PATH_CAP]) { return join(out, data, "repo"); }

static int save_token_conf(const char *data, const token_conf *t) {
  char path[PATH_CAP];
  cJSON *o = cJSON_CreateObject();
  char *txt = NULL;
  int rc = -1;
  if (o && cJSON_AddStringToObject(o, "pkcs11_module", t->module) &&
      cJSON_AddStringToObject(o, "token_label", t->label) &&
      cJSON_AddStringToObject(o, "pin_file", t->pin_file) && (txt = cJSON_Print(o)) &&
      join(path, data, "pkcs11.json") == 0)
    rc = write_file(path, txt, strlen(txt), 0600);
  free(txt);
  cJSON_Delete(o);
  return rc;
}

static int load_token_conf(const char *data, token_conf *t) {
  char path[PATH_CAP];
  char *txt = join(path, data, "pkcs11.json") == 0 ? read_file(path, 16384) : NULL;
  if (!txt) {
    fprintf(stderr, "outpost-cloud: no token settings in %s/pkcs11.json; run: outpost-cloud repo "
                    "init first\n", data);
    return -1;
  }
  cJSON *o = cJSON_Parse(txt);
  free(txt);
  const cJSON *m = cJSON_GetObjectItemCaseSensitive(o, "pkcs11_module");
  const cJSON *l = cJSON_GetObjectItemCaseSensitive(o, "token_label");
  const cJSON *pf = cJSON_GetObjectItemCaseSensitive(o, "pin_file");
  int ok = cJSON_IsString(m) && cJSON_IsString(l) && cJSON_IsString(pf) &&
           snprintf(t->module, sizeof t->module, "%s", m->valuestring) < (int)sizeof t->module &&
           snprintf(t->label, sizeof t->label, "%s", l->valuestring) < (int)sizeof t->label &&
           snprintf(t->pin_file, sizeof t->pin_file, "%s", pf->valuestring) < (int)sizeof t->pin_file;
  cJSON_Delete(o);
  if (!ok) fprintf(stderr, "outpost-cloud: %s/pkcs11.json is malformed\n", data);
  return ok ? 0 : -1;
}

static int open_token(const token_conf *t, mc_p11 **p) {
  char err[512];
  if (mc_p11_open(t->module, t->label, t->pin_file, p, err, sizeof err) != MC_P11_OK) {
    fprintf(stderr, "outpost-cloud: %s\n", err);
    return -1;
  }
  return 0;
}

static int rng_fn(void *ctx, unsigned char *buf, size_t len) { return real_random(ctx, buf, len); }

static int has_key_files(const char *dir) {
  DIR *d = opendir(dir);
  if (!d) return 0;
  int n = 0;
  struct dirent *e;
  while (!n && (e = readdir(d)) != NULL) {
    size_t l = strlen(e->d_name);
    n = l > 4 && strcmp(e->d_name + l - 4, ".key") == 0;
  }
  closedir(d);
  return n;
}

static int repo_fail(const char *what, int rc, const char *err) {
  fprintf(stderr, "outpost-cloud: %s: %s\n", what, err[0] ? err : "failed");
  return rc == MC_REPO_EINVAL ? 2 : 1;
}

static int cmd_repo_init(const char *data, const char *rdir, const char *module,
                         const char *label, const char *pin_file) {
  if (!rdir || !module || !label || !pin_file) {
    fprintf(stderr, "outpost-cloud: repo init needs --root-keys, --pkcs11-module, --token-label "
                    "and --pin-file\n");
    return 2;
  }
  token_conf t;
  char rp[PATH_CAP], ts[PATH_CAP], err[512] = "";
  if (!realpath(pin_file, t.pin_file)) {
    fprintf(stderr, "outpost-cloud: PIN file %s: %s\n", pin_file, strerror(errno));
    return 1;
  }
  if (!realpath(module, t.module)) {
    fprintf(stderr, "outpost-cloud: PKCS#11 module %s: %s\n", module, strerror(errno));
    return 1;
  }
  if (snprintf(t.label, sizeof t.label, "%s", label) >= (int)sizeof t.label) {
    fprintf(stderr, "outpost-cloud: token label longer than 32 bytes\n");
    return 2;
  }
  if (repo_dir(data, rp) != 0 || join(ts, rp, "metadata/timestamp.json") != 0) return 2;
  if (file_exists(ts)) {
    fprintf(stderr, "outpost-cloud: a repository already exists in %s\n", rp);
    return 1;
  }
  if (has_key_files(rdir)) {
    fprintf(stderr, "outpost-cloud: %s already holds root keys; give an empty directory\n", rdir);
    return 1;
  }
  if (mkdir(data, 0700) != 0 && errno != EEXIST) {
    fprintf(stderr, "outpost-cloud: cannot create %s: %s\n", data, strerror(errno));
    return 1;
  }
  mc_p11 *p;
  if (open_token(&t, &p) != 0) return 1;
  mc_memkeys *mk = NULL;
  mc_signer on, ro;
  mc_pub roots[MC_REPO_ROOT_KEYS];
  int rc = mc_memkeys_new(rng_fn, NULL, &mk);
  if (rc == 0) rc = mc_repo_rootkeys_create(rdir, mk, rng_fn, NULL, MC_REPO_ROOT_KEYS, roots, err,
                                            sizeof err);
  if (rc == 0) {
    mc_repo_p11_signer(p, &on);
    mc_memkeys_signer(mk, &ro);
    mc_repo_ctx c = {rp, &on, &ro, real_wall_ms(NULL)};
    rc = mc_repo_init(&c, roots, err, sizeof err);
  }
  mc_memkeys_free(mk);
  mc_p11_close(p);
  if (rc != 0) return repo_fail("repo init", rc, err);
  if (save_token_conf(data, &t) != 0) {
    fprintf(stderr, "outpost-cloud: cannot write %s/pkcs11.json\n", data);
    return 1;
  }
  printf("repository in %s (root keys: %s, keep them offline)\n"
         "release public key: %s/release-key.pem (build agents with "
         "-DOUTPOST_RELEASE_PUBKEY=that file)\n",
         rp, rdir, rp);
  return 0;
}

/* Opens token and repository context for release / promote / rotate. */
static int repo_begin(const char *data, char rp[PATH_CAP], mc_p11 **p, mc_signer *on) {
  token_conf t;
  if (repo_dir(data, rp) != 0 || load_token_conf(data, &t) != 0 || open_token(&t, p) != 0)
    return -1;
  mc_repo_p11_signer(*p, on);
  return 0;
}

static int cmd_release(const char *data, const char *binary, const char *version,
                       const char *ring, const char *arch) {
  if (!binary || !version || !ring) {
    fprintf(stderr, "outpost-cloud: release needs --binary, --version and --ring\n");
    return 2;
  }
  char err[512] = "", rp[PATH_CAP];
  /* Cheap checks first, so a typo never needs the token. */
  if (mc_repo_version_parse(version, NULL) != 0) {
    fprintf(stderr, "outpost-cloud: bad version \"%s\": want MAJOR.MINOR.PATCH, each 0..999999 "
                    "without leading zeros\n", version);
    return 2;
  }
  if (mc_repo_ring_index(ring) < 0) {
    fprintf(stderr, "outpost-cloud: unknown ring \"%s\" (canary, early-access, stable)\n", ring);
    return 2;
  }
  FILE *f = fopen(binary, "rb");
  if (!f) {
    fprintf(stderr, "outpost-cloud: binary %s unreadable: %s\n", binary, strerror(errno));
    return 1;
  }
  uint8_t *buf = malloc(MC_REPO_MAX_BINARY + 1);
  size_t n = buf ? fread(buf, 1, MC_REPO_MAX_BINARY + 1, f) : 0;
  int rerr = ferror(f);
  fclose(f);
  if (!buf || rerr || n == 0 || n > MC_REPO_MAX_BINARY) {
    fprintf(stderr, "outpost-cloud: binary %s: %s\n", binary,
            !buf ? "out of memory" : rerr ? "read error" : n == 0 ? "empty" : "too large");
    free(buf);
    return 1;
  }
  mc_p11 *p;
  mc_signer on;
  if (repo_begin(data, rp, &p, &on) != 0) {
    free(buf);
    return 1;
  }
  mc_repo_ctx c = {rp, &on, NULL, real_wall_ms(NULL)};
  int rc = mc_repo_release(&c, buf, n, version, ring, arch, err, sizeof err);
  free(buf);
  mc_p11_close(p);
  if (rc != 0) return repo_fail("release", rc, err);
  printf("released %s (%s) in %s\n", version, arch ? arch : "x86_64", ring);
  return 0;
}

static int cmd_promote(const char *data, const char *version, const char *from, const char *to,
                       int force) {
  if (!version || !from || !to) {
    fprintf(stderr, "outpost-cloud: promote needs --version, --from and --to\n");
    return 2;
  }
  char err[512] = "", rp[PATH_CAP];
  /* The gate (docs/updates.md "Promotion gate"): agents whose supervisor
   * rolled this version back have said it is unhealthy. */
  mc_cloud *store;
  if (open_store(data, 1, &store) != 0) return 1;
  char why[256];
  int64_t bad = mc_promote_rollbacks(store, version, why, sizeof why);
  mc_close(store);
  if (bad < 0) {
    fprintf(stderr, "outpost-cloud: promote: cannot read the update reports\n");
    return 1;
  }
  if (bad > 0 && !force) {
    fprintf(stderr, "outpost-cloud: promote refused: %s; --force promotes anyway\n", why);
    return 1;
  }
  if (bad > 0) fprintf(stderr, "outpost-cloud: promote forced past the gate: %s\n", why);
  mc_p11 *p;
  mc_signer on;
  if (repo_begin(data, rp, &p, &on) != 0) return 1;
  mc_repo_ctx c = {rp, &on, NULL, real_wall_ms(NULL)};
  int rc = mc_repo_promote(&c, version, from, to, err, sizeof err);
  mc_p11_close(p);
  if (rc != 0) return repo_fail("promote", rc, err);
  printf("promoted %s from %s to %s\n", version, from, to);
  return 0;
}

/* Root rotation: new keys are made in RDIR/new, and only after the new root
 * is written do the old key files move to RDIR/retired and the new ones in. */
static int cmd_rotate(const char *data, const char *rdir, const char *role) {
  if (!role) {
    fprintf(stderr, "outpost-cloud: rotate-keys needs --role ROLE\n");
    return 2;
  }
  char err[512] = "", rp[PATH_CAP], nd[PATH_CAP];
  int ring = mc_repo_ring_index(role) >= 0;
  if (!ring && !rdir) {
    fprintf(stderr, "outpost-cloud: rotating %s makes a new root version: --root-keys RDIR is "
                    "needed\n", role);
    return 2;
  }
  mc_p11 *p;
  mc_signer on, ro;
  mc_memkeys *mk = NULL;
  mc_pub newroot[MC_REPO_ROOT_KEYS];
  if (repo_begin(data, rp, &p, &on) != 0) return 1;
  int rc = mc_memkeys_new(rng_fn, NULL, &mk);
  if (rc == 0 && rdir) rc = mc_repo_rootkeys_load(rdir, mk, err, sizeof err);
  int is_root = strcmp(role, "root") == 0;
  if (rc == 0 && is_root) {
    if (join(nd, rdir, "new") != 0) rc = MC_REPO_EINVAL;
    else rc = mc_repo_rootkeys_create(nd, mk, rng_fn, NULL, MC_REPO_ROOT_KEYS, newroot, err,
                                      sizeof err);
  }
  if (rc == 0) {
    mc_memkeys_signer(mk, &ro);
    mc_repo_ctx c = {rp, &on, rdir ? &ro : NULL, real_wall_ms(NULL)};
    rc = mc_repo_rotate(&c, role, is_root ? newroot : NULL, err, sizeof err);
  }
  if (is_root && rc == 0) rc = mc_repo_rootkeys_retire(rdir, newroot, MC_REPO_ROOT_KEYS, err,
                                                       sizeof err);
  if (is_root) {
    DIR *d = opendir(nd);
    struct dirent *e;
    for (int i = 0; d && (e = readdir(d)) != NULL && i < 100; i++) {
      char a[PATH_CAP], b[PATH_CAP];
      if (e->d_name[0] == '.' || join(a, nd, e->d_name) != 0 || join(b, rdir, e->d_name) != 0)
        continue;
      /* success: the new keys join RDIR; failure: they are dropped */
      if (rc == 0 ? rename(a, b) != 0 : unlink(a) != 0) rc = rc ? rc : MC_REPO_EIO;
    }
    if (d) closedir(d);
    rmdir(nd);
  }
  mc_memkeys_free(mk);
  mc_p11_close(p);
  if (rc != 0) return repo_fail("rotate-keys", rc, err);
  printf("rotated the %s key%s\n", role, is_root ? "s (old root keys in RDIR/retired)" : "");
  return 0;
}

/* issue #5: the latest self-metrics each agent sent in its check-in. */
static int print_metrics(void *user, const mc_metrics_row *r) {
  (void)user;
  time_t t = (time_t)(r->received_ms / 1000);
  struct tm tm;
  char when[32] = "?";
  if (gmtime_r(&t, &tm)) strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
  printf("%s %s %s\n", r->agent_id, when, r->json);
  return 0;
}

static int cmd_metrics(const char *dir, const char *agent) {
  mc_cloud *c;
  if (open_store(dir, 1, &c) != 0) return 1;
  int rc;
  if (agent) {
    mc_metrics_row row;
    rc = mc_metrics_get(c, agent, &row);
    if (rc == MC_OK) print_metrics(NULL, &row);
  } else {
    rc = mc_metrics_foreach(c, print_metrics, NULL);
  }
  mc_close(c);
  if (rc != MC_OK) {
    fprintf(stderr, "outpost-cloud: no metrics%s%s\n", agent ? " for agent " : "",
            agent ? agent : "");
    return 1;
  }
  return 0;
}

/* ---- serve ---- */

typedef struct conn_state {
  uint8_t *body;
  size_t len, cap;
  int too_large;
} conn_state;

typedef struct header_list {
  mc_header h[MAX_HEADERS];
  size_t n;
} header_list;

static enum MHD_Result collect_header(void *cls, enum MHD_ValueKind kind, const char *key,
                                      const char *value) {
  header_list *l = cls;
  if (l->n >= MAX_HEADERS) return MHD_NO; /* stop iterating; extra headers are ignored */
  l->h[l->n].name = key;
  l->h[l->n].value = value ? value : "";
  l->n++;
  return MHD_YES;
}

static enum MHD_Result send_reply(struct MHD_Connection *conn, int status, const char *ctype,
                                  const void *body, size_t len, const char *date) {
  struct MHD_Response *r =
      MHD_create_response_from_buffer(len, (void *)body, MHD_RESPMEM_MUST_COPY);
  if (!r) return MHD_NO;
  MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, ctype);
  if (date && date[0]) MHD_add_response_header(r, MHD_HTTP_HEADER_DATE, date);
  enum MHD_Result rc = MHD_queue_response(conn, (unsigned)status, r);
  MHD_destroy_response(r);
  return rc;
}

typedef struct serve_ctx {
  mc_cloud *c;
  const char *data;
} serve_ctx;

static int is_hex64(const char *s) {
  for (int i = 0; i < 64; i++)
    if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f'))) return 0;
  return 1;
}

/* A file name of our own making: letters, digits, '.', '_', '-', not
 * starting with '.', at most 128 bytes. Nothing else is ever served. */
static int plain_name(const char *s, size_t n) {
  if (n == 0 || n > 128 || s[0] == '.') return 0;
  for (size_t i = 0; i < n; i++) {
    char ch = s[i];
    if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
          ch == '.' || ch == '_' || ch == '-'))
      return 0;
  }
  return 1;
}

/* Maps a /v1/tuf/ or /v1/targets/ URL to a file under DATA/repo. 1 and the
 * path when the URL names one of the repository's files, 0 when it is a
 * repository URL that names nothing (404), -1 when not a repository URL. */
static int repo_path(const char *data, const char *url, char out[PATH_CAP]) {
  if (strncmp(url, "/v1/tuf/", 8) == 0) {
    const char *n = url + 8;
    size_t l = strlen(n);
    if (strcmp(n, "timestamp.json") != 0) {
      size_t d = 0;
      while (d < l && d < 11 && n[d] >= '0' && n[d] <= '9') d++;
      static const char *const roles[] = {"root", "snapshot", "targets", "canary",
                                          "early-access", "stable"};
      int ok = 0;
      for (size_t i = 0; d > 0 && d <= 10 && n[0] != '0' && n[d] == '.' && i < 6; i++) {
        size_t rl = strlen(roles[i]);
        if (l == d + 1 + rl + 5 && strncmp(n + d + 1, roles[i], rl) == 0 &&
            strcmp(n + d + 1 + rl, ".json") == 0)
          ok = 1;
      }
      if (!ok) return 0;
    }
    return snprintf(out, PATH_CAP, "%s/repo/metadata/%s", data, n) < PATH_CAP ? 1 : 0;
  }
  if (strncmp(url, "/v1/targets/", 12) != 0) return -1;
  /* <ring>/outpost-agent/<version>/<sha256>.<basename>, nothing else */
  const char *p = url + 12, *c[4];
  size_t cl[4];
  for (int i = 0; i < 4; i++) {
    const char *e = strchr(p, '/');
    if ((i < 3) != (e != NULL)) return 0;
    c[i] = p;
    cl[i] = e ? (size_t)(e - p) : strlen(p);
    p = e ? e + 1 : p;
  }
  char ring[32], ver[32];
  if (cl[0] >= sizeof ring || cl[2] >= sizeof ver) return 0;
  memcpy(ring, c[0], cl[0]);
  ring[cl[0]] = 0;
  memcpy(ver, c[2], cl[2]);
  ver[cl[2]] = 0;
  if (mc_repo_ring_index(ring) < 0 || cl[1] != 13 || strncmp(c[1], "outpost-agent", 13) != 0 ||
      mc_repo_version_parse(ver, NULL) != 0 || cl[3] < 66 || !is_hex64(c[3]) ||
      c[3][64] != '.' || !plain_name(c[3] + 65, cl[3] - 65))
    return 0;
  return snprintf(out, PATH_CAP, "%s/repo/targets/%s/outpost-agent/%s/%s", data, ring, ver,
                  c[3]) < PATH_CAP
             ? 1
             : 0;
}

/* GET of a repository file: the file's bytes with its length, or 404. The
 * bytes need no protection: every one of them is verified by the agent. */
static enum MHD_Result serve_repo_file(struct MHD_Connection *conn, const char *path,
                                       int found, const char *method, int *status) {
  static const char nf[] = "{\"error\":\"not_found\",\"message\":\"no such file\"}";
  if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0) {
    static const char na[] = "{\"error\":\"method\",\"message\":\"GET only\"}";
    *status = 405;
    return send_reply(conn, 405, "application/json", na, sizeof na - 1, NULL);
  }
  int fd = found ? open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC) : -1;
  struct stat st;
  if (fd >= 0 && (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) ||
                  (uint64_t)st.st_size > MC_REPO_MAX_BINARY)) {
    close(fd);
    fd = -1;
  }
  if (fd < 0) {
    *status = 404;
    return send_reply(conn, 404, "application/json", nf, sizeof nf - 1, NULL);
  }
  /* MHD owns fd from here and sends Content-Length = size. */
  struct MHD_Response *r = MHD_create_response_from_fd((uint64_t)st.st_size, fd);
  if (!r) {
    close(fd); /* not taken over when creation fails */
    return MHD_NO;
  }
  MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE,
                          strstr(path, "/repo/metadata/") ? "application/json"
                                                          : "application/octet-stream");
  enum MHD_Result rc = MHD_queue_response(conn, 200, r);
  MHD_destroy_response(r);
  *status = 200;
  return rc;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version,
                                  const char *upload_data, size_t *upload_data_size,
                                  void **con_cls) {
  serve_ctx *sc = cls;
  mc_cloud *c = sc->c;
  conn_state *st = *con_cls;
  if (!st) {
    st = calloc(1, sizeof *st);
    if (!st) return MHD_NO;
    *con_cls = st;
    return MHD_YES;
  }
  if (*upload_data_size > 0) {
    size_t n = *upload_data_size;
    *upload_data_size = 0;
    if (st->too_large || st->len + n > BODY_CAP) {
      st->too_large = 1; /* keep reading to answer, but store nothing more */
      free(st->body);
      st->body = NULL;
      st->len = st->cap = 0;
      return MHD_YES;
    }
    if (st->len + n > st->cap) {
      size_t ncap = st->cap ? st->cap : 16384;
      while (ncap < st->len + n) ncap *= 2;
      if (ncap > BODY_CAP) ncap = BODY_CAP;
      uint8_t *nb = realloc(st->body, ncap);
      if (!nb) return MHD_NO;
      st->body = nb;
      st->cap = ncap;
    }
    memcpy(st->body + st->len, upload_data, n);
    st->len += n;
    return MHD_YES;
  }

  int status = 500;
  enum MHD_Result ret;
  char rpath[PATH_CAP];
  int rp = repo_path(sc->data, url, rpath);
  if (rp >= 0) {
    ret = serve_repo_file(conn, rpath, rp, method, &status);
  } else if (st->too_large) {
    static const char msg[] = "{\"error\":\"too_large\",\"message\":\"body too large\"}";
    status = 413;
    ret = send_reply(conn, status, "application/json", msg, sizeof msg - 1, NULL);
  } else {
    header_list hl = {.n = 0};
    MHD_get_connection_values(conn, MHD_HEADER_KIND, collect_header, &hl);
    mc_request req = {method, url, hl.h, hl.n, st->body, st->len};
    mc_response resp;
    if (mc_handle(c, &req, &resp) != MC_OK) {
      mc_response_free(&resp);
      fprintf(stderr, "%s %s 500\n", method, url);
      return MHD_NO;
    }
    status = resp.status;
    ret = send_reply(conn, status, resp.content_type, resp.body, resp.body_len, resp.date);
    mc_response_free(&resp);
  }
  fprintf(stderr, "%s %s %d\n", method, url, status);
  return ret;
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe) {
  conn_state *st = *con_cls;
  if (!st) return;
  free(st->body);
  free(st);
  *con_cls = NULL;
}

/* Accepts only 127.0.0.1:PORT or localhost:PORT (PORT 0 = any free port). */
static int parse_listen(const char *s, uint16_t *port) {
  const char *colon = strrchr(s, ':');
  if (!colon) return -1;
  size_t hl = (size_t)(colon - s);
  if (!((hl == 9 && strncmp(s, "127.0.0.1", 9) == 0) ||
        (hl == 9 && strncmp(s, "localhost", 9) == 0)))
    return -1;
  const char *p = colon + 1;
  if (!*p || strlen(p) > 5) return -1;
  long v = 0;
  for (; *p; p++) {
    if (*p < '0' || *p > '9') return -1;
    v = v * 10 + (*p - '0');
  }
  if (v > 65535) return -1;
  *port = (uint16_t)v;
  return 0;
}

static int cmd_serve(const char *dir, const char *listen, const char *probation) {
  uint16_t port;
  int64_t probation_s = 0;
  if (probation) {
    char *end = NULL;
    errno = 0;
    long long v = strtoll(probation, &end, 10);
    if (errno || end == probation || *end || v < 0 || v > 86400) {
      fprintf(stderr, "outpost-cloud: --probation-s must be a whole number of seconds, 0..86400 "
                      "(got \"%s\")\n", probation);
      return 2;
    }
    probation_s = v;
  }
  if (!listen || parse_listen(listen, &port) != 0) {
    fprintf(stderr, "outpost-cloud: --listen must be 127.0.0.1:PORT or localhost:PORT "
                    "(loopback only)\n");
    return 2;
  }
  char path[PATH_CAP];
  char *cert = NULL, *key = NULL;
  if (join(path, dir, "server.pem") == 0) cert = read_file(path, 65536);
  if (join(path, dir, "server.key") == 0) key = read_file(path, 65536);
  if (!cert || !key) {
    fprintf(stderr, "outpost-cloud: cannot read %s/server.pem and server.key\n", dir);
    free(cert);
    free(key);
    return 1;
  }
  mc_cloud *c;
  if (open_store_opts(dir, 1, probation_s, &c) != 0) {
    free(cert);
    free(key);
    return 1;
  }
  if (probation_s > 0)
    printf("strict clone attribution: a restarted instance waits %lld s on probation\n",
           (long long)probation_s);
  /* The release repository, when there is one: its online keys stay in the
   * token; the root keys' directory is never named here. */
  char rp[PATH_CAP], ts[PATH_CAP];
  mc_p11 *tok = NULL;
  mc_signer on;
  int has_repo = repo_dir(dir, rp) == 0 && join(ts, rp, "metadata/timestamp.json") == 0 &&
                 file_exists(ts);
  if (has_repo && repo_begin(dir, rp, &tok, &on) != 0) {
    fprintf(stderr, "outpost-cloud: the repository in %s needs its token to stay fresh; not "
                    "serving\n", rp);
    mc_close(c);
    free(cert);
    free(key);
    return 1;
  }
  serve_ctx sctx = {c, dir};
  /* Block the stop signals in every thread (MHD's inherits the mask) and
   * take them synchronously below with sigwait. */
  sigset_t stop;
  sigemptyset(&stop);
  sigaddset(&stop, SIGINT);
  sigaddset(&stop, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop, NULL);

  struct sockaddr_in sa;
  memset(&sa, 0, sizeof sa);
  sa.sin_family = AF_INET;
  sa.sin_port = htons(port);
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  /* One internal thread: mc_handle is never called concurrently. */
  struct MHD_Daemon *d = MHD_start_daemon(
      MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_TLS | MHD_USE_ERROR_LOG, 0, NULL, NULL,
      on_request, &sctx, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa, MHD_OPTION_HTTPS_MEM_KEY, key,
      MHD_OPTION_HTTPS_MEM_CERT, cert, MHD_OPTION_NOTIFY_COMPLETED, on_completed, NULL,
      MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)30, MHD_OPTION_CONNECTION_LIMIT, (unsigned)256,
      MHD_OPTION_END);
  int rc = 1;
  if (!d) {
    fprintf(stderr, "outpost-cloud: cannot listen on %s\n", listen);
  } else {
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
    unsigned bound = info ? info->port : port;
    printf("listening on https://127.0.0.1:%u\n", bound);
    fflush(stdout);
    int sig = 0;
    /* The re-sign timer: timestamp (and the others when due) are re-signed
     * before half their life is gone, checked every REFRESH_S seconds. */
    for (;;) {
      if (has_repo) {
        char err[512] = "";
        unsigned what = 0;
        mc_repo_ctx rc_ = {rp, &on, NULL, real_wall_ms(NULL)};
        if (mc_repo_refresh(&rc_, 0, &what, err, sizeof err) != MC_REPO_OK)
          fprintf(stderr, "outpost-cloud: repository re-sign failed: %s\n", err);
        else if (what)
          fprintf(stderr, "outpost-cloud: repository re-signed (%s%s%s)\n",
                  what & 1 ? "timestamp" : "", what & 2 ? " snapshot" : "",
                  what & 4 ? " targets/rings" : "");
      }
      struct timespec wait = {REFRESH_S, 0};
      sig = sigtimedwait(&stop, NULL, &wait);
      if (sig > 0) break;
    }
    fprintf(stderr, "outpost-cloud: signal %d, shutting down\n", sig);
    MHD_stop_daemon(d);
    rc = 0;
  }
  mc_close(c);
  mc_p11_close(tok);
  memset(key, 0, strlen(key));
  free(key);
  free(cert);
  return rc;
}

/* outpost-cloud policy set --data DIR --workspace NAME [--group G] FILE
 * (issue #5; --group: issue #6, mc_rings.h). */
static int cmd_policy_set(const char *dir, const char *ws, const char *group, const char *file) {
  if (!ws || !ws[0]) return 2;
  FILE *fp = fopen(file, "rb");
  if (!fp) {
    fprintf(stderr, "outpost-cloud: %s: cannot open\n", file);
    return 1;
  }
  char *buf = malloc(64 * 1024 + 1);
  size_t n = buf ? fread(buf, 1, 64 * 1024 + 1, fp) : 0;
  fclose(fp);
  if (!buf || n > 64 * 1024) {
    free(buf);
    fprintf(stderr, "outpost-cloud: %s: larger than 64 KiB\n", file);
    return 1;
  }
  mc_cloud *c;
  if (open_store(dir, 1, &c) != 0) {
    free(buf);
    return 1;
  }
  int64_t v = 0;
  char err[256] = "";
  int rc = group ? mc_policy_set_group(c, ws, group, buf, n, &v, err, sizeof err)
                 : mc_policy_set(c, ws, buf, n, &v, err, sizeof err);
  mc_close(c);
  free(buf);
  if (rc != MC_OK) {
    fprintf(stderr, "outpost-cloud: policy not set: %s\n", err[0] ? err : "store error");
    return 1;
  }
  if (group) printf("workspace %s group %s: policy version %lld\n", ws, group, (long long)v);
  else printf("workspace %s: policy version %lld\n", ws, (long long)v);
  return 0;
}

/* outpost-cloud agent group --data DIR AGENT_ID GROUP (issue #6): "" or
 * "-" takes the agent out of any group. */
static int cmd_agent_group(const char *dir, const char *agent, const char *group) {
  mc_cloud *c;
  if (open_store(dir, 1, &c) != 0) return 1;
  const char *g = strcmp(group, "-") == 0 ? "" : group;
  char err[256] = "";
  int rc = mc_agent_set_group(c, agent, g, err, sizeof err);
  int64_t v = rc == MC_OK ? mc_policy_version_of(c, agent) : 0;
  mc_close(c);
  if (rc == MC_OK && v < 0) {
    fprintf(stderr, "outpost-cloud: agent %s: group set, but the served policy version cannot be read\n",
            agent);
    return 1;
  }
  if (rc != MC_OK) {
    fprintf(stderr, "outpost-cloud: agent %s: %s\n", agent, err[0] ? err : "store error");
    return 1;
  }
  printf("agent %s: group %s, served policy version %lld\n", agent, g[0] ? g : "(none)",
         (long long)v);
  return 0;
}

/* ---- main ---- */

static int usage(void) {
  fprintf(stderr, "usage:\n"
                  "  outpost-cloud init --data DIR [--force]\n"
                  "  outpost-cloud workspace add NAME --data DIR\n"
                  "  outpost-cloud serve --data DIR --listen 127.0.0.1:PORT [--probation-s N]\n"
                  "  outpost-cloud count --data DIR [--agent ID]\n"
                  "  outpost-cloud agent revoke ID --data DIR\n"
                  "  outpost-cloud alerts --data DIR\n"
                  "  outpost-cloud metrics --data DIR [--agent ID]\n"
                  "  outpost-cloud update-reports --data DIR\n"
                  "  outpost-cloud policy set --data DIR --workspace NAME [--group G] FILE\n"
                  "  outpost-cloud agent group --data DIR AGENT_ID GROUP|-\n"
                  "  outpost-cloud repo init --data DIR --root-keys RDIR --pkcs11-module M "
                  "--token-label L --pin-file P\n"
                  "  outpost-cloud release --data DIR --binary FILE --version V --ring R "
                  "[--arch A]\n"
                  "  outpost-cloud promote --data DIR --version V --from R1 --to R2 [--force]\n"
                  "  outpost-cloud rotate-keys --data DIR [--root-keys RDIR] --role ROLE\n");
  return 2;
}

int main(int argc, char **argv) {
  const char *data = NULL, *listen = NULL, *agent = NULL, *workspace = NULL;
  const char *root_keys = NULL, *module = NULL, *token = NULL, *pin_file = NULL, *binary = NULL,
             *version = NULL, *ring = NULL, *arch = NULL, *from = NULL, *to = NULL, *role = NULL;
  const char *pos[4] = {NULL, NULL, NULL, NULL};
  const char *group = NULL, *probation = NULL;
  int npos = 0, force = 0;
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--data") == 0 && i + 1 < argc) data = argv[++i];
    else if (strcmp(argv[i], "--listen") == 0 && i + 1 < argc) listen = argv[++i];
    else if (strcmp(argv[i], "--agent") == 0 && i + 1 < argc) agent = argv[++i];
    else if (strcmp(argv[i], "--workspace") == 0 && i + 1 < argc) workspace = argv[++i];
    else if (strcmp(argv[i], "--force") == 0) force = 1;
    else if (strcmp(argv[i], "--root-keys") == 0 && i + 1 < argc) root_keys = argv[++i];
    else if (strcmp(argv[i], "--pkcs11-module") == 0 && i + 1 < argc) module = argv[++i];
    else if (strcmp(argv[i], "--token-label") == 0 && i + 1 < argc) token = argv[++i];
    else if (strcmp(argv[i], "--pin-file") == 0 && i + 1 < argc) pin_file = argv[++i];
    else if (strcmp(argv[i], "--binary") == 0 && i + 1 < argc) binary = argv[++i];
    else if (strcmp(argv[i], "--version") == 0 && i + 1 < argc) version = argv[++i];
    else if (strcmp(argv[i], "--ring") == 0 && i + 1 < argc) ring = argv[++i];
    else if (strcmp(argv[i], "--arch") == 0 && i + 1 < argc) arch = argv[++i];
    else if (strcmp(argv[i], "--from") == 0 && i + 1 < argc) from = argv[++i];
    else if (strcmp(argv[i], "--to") == 0 && i + 1 < argc) to = argv[++i];
    else if (strcmp(argv[i], "--role") == 0 && i + 1 < argc) role = argv[++i];
    else if (strcmp(argv[i], "--group") == 0 && i + 1 < argc) group = argv[++i];
    else if (strcmp(argv[i], "--probation-s") == 0 && i + 1 < argc) probation = argv[++i];
    else if (argv[i][0] == '-' && argv[i][1]) return usage(); /* "-" alone: a value */
    else if (npos < 4) pos[npos++] = argv[i];
    else return usage();
  }
  if (npos == 0 || !data || !data[0]) return usage();
  if (strcmp(pos[0], "init") == 0 && npos == 1) return cmd_init(data, force);
  if (strcmp(pos[0], "repo") == 0 && npos == 2 && strcmp(pos[1], "init") == 0)
    return cmd_repo_init(data, root_keys, module, token, pin_file);
  if (strcmp(pos[0], "release") == 0 && npos == 1)
    return cmd_release(data, binary, version, ring, arch);
  if (strcmp(pos[0], "promote") == 0 && npos == 1) return cmd_promote(data, version, from, to, force);
  if (strcmp(pos[0], "rotate-keys") == 0 && npos == 1) return cmd_rotate(data, root_keys, role);
  if (strcmp(pos[0], "workspace") == 0 && npos == 3 && strcmp(pos[1], "add") == 0)
    return cmd_workspace_add(data, pos[2]);
  if (strcmp(pos[0], "serve") == 0 && npos == 1) return cmd_serve(data, listen, probation);
  if (strcmp(pos[0], "count") == 0 && npos == 1) return cmd_count(data, agent);
  if (strcmp(pos[0], "agent") == 0 && npos == 3 && strcmp(pos[1], "revoke") == 0)
    return cmd_revoke(data, pos[2]);
  if (strcmp(pos[0], "alerts") == 0 && npos == 1) return cmd_alerts(data);
  if (strcmp(pos[0], "metrics") == 0 && npos == 1) return cmd_metrics(data, agent);
  if (strcmp(pos[0], "update-reports") == 0 && npos == 1) return cmd_update_reports(data);
  if (strcmp(pos[0], "policy") == 0 && npos == 3 && strcmp(pos[1], "set") == 0 && workspace)
    return cmd_policy_set(data, workspace, group, pos[2]);
  if (strcmp(pos[0], "agent") == 0 && npos == 4 && strcmp(pos[1], "group") == 0)
    return cmd_agent_group(data, pos[2], pos[3]);
  return usage();
}
