/* cloud_cmd.c - the handlers of outpost-cloud's commands (cloud_cmd.h).
 * The release repository's layout and rules are docs/updates.md; the
 * store's tables docs/cloud-store.md. */
#include "cloud_cmd.h"

#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cloud_io.h"
#include "cloud_pki.h"
#include "cloud_serve.h"
#include "mc.h"
#include "mc_metrics.h"
#include "mc_p11.h"
#include "mc_repo.h"
#include "mc_rings.h"

#define PATH_CAP CIO_PATH_CAP

static int open_store(const char *dir, mc_cloud **c) { return cio_open_store(dir, 1, 0, c); }

int cmd_init(const cli_args *a) {
  const char *dir = a->opt[CLI_DATA];
  int force = a->opt[CLI_FORCE] != NULL;
  char path[PATH_CAP];
  if (cio_join(path, dir, "cloud.db") != 0) return 2;
  if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
    fprintf(stderr, "outpost-cloud: cannot create %s: %s\n", dir, strerror(errno));
    return 1;
  }
  if (chmod(dir, 0700) != 0) {
    fprintf(stderr, "outpost-cloud: cannot chmod %s: %s\n", dir, strerror(errno));
    return 1;
  }
  if (cio_exists(path)) {
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
      if (cio_join(p, dir, old[i]) == 0 && unlink(p) != 0 && errno != ENOENT) {
        fprintf(stderr, "outpost-cloud: cannot remove %s: %s\n", p, strerror(errno));
        return 1;
      }
    }
  }
  mc_cloud *c;
  if (cio_open_store(dir, 0, 0, &c) != 0) return 1;
  mc_close(c);
  if (chmod(path, 0600) != 0 || pki_make(dir) != 0) {
    fprintf(stderr, "outpost-cloud: could not write certificates in %s\n", dir);
    return 1;
  }
  fprintf(stderr, "outpost-cloud: initialised %s (store, test CA ca.pem, server.pem)\n", dir);
  return 0;
}

int cmd_workspace_add(const cli_args *a) {
  const char *dir = a->opt[CLI_DATA], *name = a->pos[0];
  mc_cloud *c;
  char token[MC_TOKEN_MAX];
  if (open_store(dir, &c) != 0) return 1;
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

int cmd_count(const cli_args *a) {
  const char *dir = a->opt[CLI_DATA], *agent = a->opt[CLI_AGENT];
  mc_cloud *c;
  if (open_store(dir, &c) != 0) return 1;
  int64_t n = 0;
  int rc = agent ? mc_agent_seq_summary(c, agent, &n, NULL, NULL) : MC_OK;
  if (!agent) n = mc_total_records(c);
  mc_close(c);
  if (rc == MC_EINVAL) {
    fprintf(stderr, "outpost-cloud: unknown agent %s\n", agent);
    return 1;
  }
  if (rc != MC_OK || n < 0) {
    fprintf(stderr, "outpost-cloud: cannot count: store error\n");
    return 1;
  }
  printf("%" PRId64 "\n", n);
  return 0;
}

int cmd_agent_revoke(const cli_args *a) {
  const char *dir = a->opt[CLI_DATA], *agent = a->pos[0];
  mc_cloud *c;
  if (open_store(dir, &c) != 0) return 1;
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
int cmd_update_reports(const cli_args *a) {
  const char *dir = a->opt[CLI_DATA];
  mc_cloud *c;
  if (open_store(dir, &c) != 0) return 1;
  int rc = mc_events_foreach(c, "update_", print_event, NULL);
  mc_close(c);
  if (rc != MC_OK) {
    fprintf(stderr, "outpost-cloud: cannot read the update reports\n");
    return 1;
  }
  return 0;
}

int cmd_alerts(const cli_args *a) {
  const char *dir = a->opt[CLI_DATA];
  mc_cloud *c;
  if (open_store(dir, &c) != 0) return 1;
  int rc = mc_alerts_foreach(c, print_alert, NULL);
  mc_close(c);
  if (rc != MC_OK) {
    fprintf(stderr, "outpost-cloud: cannot read the alerts\n");
    return 1;
  }
  return 0;
}

/* ---- release repository (issue #6, docs/updates.md) ---- */

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

int cmd_repo_init(const cli_args *a) {
  const char *data = a->opt[CLI_DATA], *rdir = a->opt[CLI_ROOT_KEYS];
  const char *module = a->opt[CLI_PKCS11_MODULE], *label = a->opt[CLI_TOKEN_LABEL];
  const char *pin_file = a->opt[CLI_PIN_FILE];
  cio_token_conf t;
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
  if (cio_repo_dir(data, rp) != 0 || cio_join(ts, rp, "metadata/timestamp.json") != 0) return 2;
  if (cio_exists(ts)) {
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
  if (cio_token_open(&t, &p) != 0) return 1;
  mc_memkeys *mk = NULL;
  mc_signer on, ro;
  mc_pub roots[MC_REPO_ROOT_KEYS];
  int rc = mc_memkeys_new(cio_random, NULL, &mk);
  if (rc == 0) rc = mc_repo_rootkeys_create(rdir, mk, cio_random, NULL, MC_REPO_ROOT_KEYS, roots, err,
                                            sizeof err);
  if (rc == 0) {
    mc_repo_p11_signer(p, &on);
    mc_memkeys_signer(mk, &ro);
    mc_repo_ctx c = {rp, &on, &ro, cio_wall_ms(NULL)};
    rc = mc_repo_init(&c, roots, err, sizeof err);
  }
  mc_memkeys_free(mk);
  mc_p11_close(p);
  if (rc != 0) return repo_fail("repo init", rc, err);
  if (cio_token_save(data, &t) != 0) {
    fprintf(stderr, "outpost-cloud: cannot write %s/pkcs11.json\n", data);
    return 1;
  }
  printf("repository in %s (root keys: %s, keep them offline)\n"
         "release public key: %s/release-key.pem (build agents with "
         "-DOUTPOST_RELEASE_PUBKEY=that file)\n",
         rp, rdir, rp);
  return 0;
}

int cmd_release(const cli_args *a) {
  const char *data = a->opt[CLI_DATA], *binary = a->opt[CLI_BINARY];
  const char *version = a->opt[CLI_VERSION], *ring = a->opt[CLI_RING], *arch = a->opt[CLI_ARCH];
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
  if (cio_repo_begin(data, rp, &p, &on) != 0) {
    free(buf);
    return 1;
  }
  mc_repo_ctx c = {rp, &on, NULL, cio_wall_ms(NULL)};
  int rc = mc_repo_release(&c, buf, n, version, ring, arch, err, sizeof err);
  free(buf);
  mc_p11_close(p);
  if (rc != 0) return repo_fail("release", rc, err);
  printf("released %s (%s) in %s\n", version, arch ? arch : "x86_64", ring);
  return 0;
}

int cmd_promote(const cli_args *a) {
  const char *data = a->opt[CLI_DATA], *version = a->opt[CLI_VERSION];
  const char *from = a->opt[CLI_FROM], *to = a->opt[CLI_TO];
  int force = a->opt[CLI_FORCE] != NULL;
  char err[512] = "", rp[PATH_CAP];
  /* The gate (docs/updates.md "Promotion gate"): agents whose supervisor
   * rolled this version back have said it is unhealthy. */
  mc_cloud *store;
  if (open_store(data, &store) != 0) return 1;
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
  if (cio_repo_begin(data, rp, &p, &on) != 0) return 1;
  mc_repo_ctx c = {rp, &on, NULL, cio_wall_ms(NULL)};
  int rc = mc_repo_promote(&c, version, from, to, err, sizeof err);
  mc_p11_close(p);
  if (rc != 0) return repo_fail("promote", rc, err);
  printf("promoted %s from %s to %s\n", version, from, to);
  return 0;
}

/* Root rotation: new keys are made in RDIR/new, and only after the new root
 * is written do the old key files move to RDIR/retired and the new ones in. */
int cmd_rotate_keys(const cli_args *a) {
  const char *data = a->opt[CLI_DATA], *rdir = a->opt[CLI_ROOT_KEYS], *role = a->opt[CLI_ROLE];
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
  if (cio_repo_begin(data, rp, &p, &on) != 0) return 1;
  int rc = mc_memkeys_new(cio_random, NULL, &mk);
  if (rc == 0 && rdir) rc = mc_repo_rootkeys_load(rdir, mk, err, sizeof err);
  int is_root = strcmp(role, "root") == 0;
  if (rc == 0 && is_root) {
    if (cio_join(nd, rdir, "new") != 0) rc = MC_REPO_EINVAL;
    else rc = mc_repo_rootkeys_create(nd, mk, cio_random, NULL, MC_REPO_ROOT_KEYS, newroot, err,
                                      sizeof err);
  }
  if (rc == 0) {
    mc_memkeys_signer(mk, &ro);
    mc_repo_ctx c = {rp, &on, rdir ? &ro : NULL, cio_wall_ms(NULL)};
    rc = mc_repo_rotate(&c, role, is_root ? newroot : NULL, err, sizeof err);
  }
  if (is_root && rc == 0) rc = mc_repo_rootkeys_retire(rdir, newroot, MC_REPO_ROOT_KEYS, err,
                                                       sizeof err);
  if (is_root) {
    DIR *d = opendir(nd);
    struct dirent *e;
    for (int i = 0; d && (e = readdir(d)) != NULL && i < 100; i++) {
      char from[PATH_CAP], to[PATH_CAP];
      if (e->d_name[0] == '.' || cio_join(from, nd, e->d_name) != 0 ||
          cio_join(to, rdir, e->d_name) != 0)
        continue;
      /* success: the new keys join RDIR; failure: they are dropped */
      if (rc == 0 ? rename(from, to) != 0 : unlink(from) != 0) rc = rc ? rc : MC_REPO_EIO;
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

int cmd_metrics(const cli_args *a) {
  const char *dir = a->opt[CLI_DATA], *agent = a->opt[CLI_AGENT];
  mc_cloud *c;
  if (open_store(dir, &c) != 0) return 1;
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

/* outpost-cloud policy set --data DIR --workspace NAME [--group G] FILE
 * (issue #5; --group: issue #6, mc_rings.h). */
int cmd_policy_set(const cli_args *a) {
  const char *dir = a->opt[CLI_DATA], *ws = a->opt[CLI_WORKSPACE], *group = a->opt[CLI_GROUP];
  const char *file = a->pos[0];
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
  if (open_store(dir, &c) != 0) {
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
int cmd_agent_group(const cli_args *a) {
  const char *dir = a->opt[CLI_DATA], *agent = a->pos[0], *group = a->pos[1];
  mc_cloud *c;
  if (open_store(dir, &c) != 0) return 1;
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

/* A whole number of seconds, 0..86400, into *out (left alone when absent). */
static int seconds_opt(const char *name, const char *text, int64_t *out) {
  if (!text) return 0;
  char *end = NULL;
  errno = 0;
  long long v = strtoll(text, &end, 10);
  if (errno || end == text || *end || v < 0 || v > 86400) {
    fprintf(stderr, "outpost-cloud: %s must be a whole number of seconds, 0..86400 (got \"%s\")\n",
            name, text);
    return -1;
  }
  *out = v;
  return 0;
}

/* The values the table cannot judge are checked here, probation first as
 * before the table: all are usage errors. */
int cmd_serve(const cli_args *a) {
  const char *dir = a->opt[CLI_DATA], *listen = a->opt[CLI_LISTEN];
  int64_t probation_s = 0, refuse_s = 0;
  uint16_t port;
  if (seconds_opt("--probation-s", a->opt[CLI_PROBATION_S], &probation_s) != 0 ||
      seconds_opt("--refuse-ingest-s", a->opt[CLI_REFUSE_INGEST_S], &refuse_s) != 0)
    return CLI_EUSAGE;
  if (srv_parse_listen(listen, &port) != 0) {
    fprintf(stderr, "outpost-cloud: --listen must be 127.0.0.1:PORT or localhost:PORT "
                    "(loopback only)\n");
    return CLI_EUSAGE;
  }
  return srv_run(dir, listen, probation_s, a->opt[CLI_CAPTURE_DIR], refuse_s);
}
