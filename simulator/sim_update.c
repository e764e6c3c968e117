/* sim_update.c - the simulator's TUF repository, its attacks and the install
 * record (sim_update.h). */
#define _XOPEN_SOURCE 700
#include "sim_update.h"

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/crypto.h"
#include "common/release.h"
#include "common/version.h"
#include "mc_repo.h"
#include "sim_os.h"
#include "sim_rng.h"

#define SIM_RNG_REPO_STREAM UINT64_C(9000000)
#define ENDLESS_PAD (2u * 1024 * 1024)

typedef struct served {
  uint8_t *b;
  size_t len;
} served;

struct sim_update {
  char dir[64], repo[128], md[160];
  sim_rng rng;
  mc_memkeys *online, *rootk, *attacker;
  mc_signer on_s, root_s, att_s;
  mc_pub release_pub, attacker_pub;
  char release_pem[1024];
  served root;
  served gens[SIM_UPD_MAX_GENERATIONS]; /* timestamp.json after each change */
  int n_gens;
  served ts_override; /* frozen or replayed timestamp.json */
  int frozen, endless;
  char tamper[24];
  char stolen[24]; /* steal_release_key: this version is served as the attacker's build */
  char mix_role[16]; /* mix_and_match: N.<mix_role>.json answered with mix_version's body */
  int64_t mix_version;
  /* rings' versions, as published (ring_order check) */
  char ring_has[MC_REPO_N_RINGS][32][24];
  int ring_n[MC_REPO_N_RINGS];
  int64_t attack_at;  /* first attack event (sim ms), -1 none */
  int64_t n_agents, installs, late_installs;
  char (*version)[24]; /* per agent: installed version, "" = packaged */
  char why[200];
};

static int upd_rng(void *ctx, unsigned char *buf, size_t len) {
  sim_rng *r = ctx;
  for (size_t i = 0; i < len; i += 8) {
    uint64_t v = sim_rng_u64(r);
    size_t n = len - i < 8 ? len - i : 8;
    memcpy(buf + i, &v, n);
  }
  return 0;
}

static int efail(char *err, size_t cap, const char *what, const char *msg) {
  snprintf(err, cap, "update repository: %s: %s", what, msg);
  return SIM_UPD_EFAIL;
}

static int slurp(const char *path, served *out, size_t max) {
  out->b = NULL;
  out->len = 0;
  FILE *f = fopen(path, "rb");
  if (!f) return -1;
  struct stat st;
  if (fstat(fileno(f), &st) != 0 || st.st_size < 0 || (size_t)st.st_size > max) {
    fclose(f);
    return -1;
  }
  out->b = malloc((size_t)st.st_size + 1);
  if (out->b) out->len = fread(out->b, 1, (size_t)st.st_size, f);
  fclose(f);
  if (!out->b || out->len != (size_t)st.st_size) {
    free(out->b);
    out->b = NULL;
    return -1;
  }
  return 0;
}

static void snap_generation(sim_update *u) {
  if (u->n_gens >= SIM_UPD_MAX_GENERATIONS) return;
  char p[200];
  snprintf(p, sizeof p, "%s/timestamp.json", u->md);
  if (slurp(p, &u->gens[u->n_gens], 65536) == 0) u->n_gens++;
}

static mc_repo_ctx ctx_at(sim_update *u, const mc_signer *online, int64_t wall_ms) {
  return (mc_repo_ctx){.dir = u->repo, .online = online, .root = &u->root_s, .now_ms = wall_ms};
}

/* The attacker's signer: every online TUF key is real; asked for the
 * release key it signs with its own key instead (it does not have it). */
static int att_generate(void *ctx, const char *label, mc_pub *pub, char *err, size_t cap) {
  sim_update *u = ctx;
  return u->on_s.generate(u->on_s.ctx, label, pub, err, cap);
}
static int att_sign(void *ctx, const mc_pub *pub, const void *msg, size_t len, uint8_t *sig,
                    size_t cap, size_t *sig_len, char *err, size_t err_cap) {
  sim_update *u = ctx;
  if (pub->len == u->release_pub.len && memcmp(pub->der, u->release_pub.der, pub->len) == 0)
    return u->att_s.sign(u->att_s.ctx, &u->attacker_pub, msg, len, sig, cap, sig_len, err,
                         err_cap);
  return u->on_s.sign(u->on_s.ctx, pub, msg, len, sig, cap, sig_len, err, err_cap);
}

int sim_update_create(uint64_t seed, int64_t wall_ms, int64_t n_agents, sim_update **out,
                      char *err, size_t cap) {
  *out = NULL;
  sim_update *u = calloc(1, sizeof *u);
  if (!u) return efail(err, cap, "setup", "out of memory");
  u->attack_at = -1;
  u->n_agents = n_agents;
  u->version = calloc((size_t)n_agents, sizeof *u->version);
  snprintf(u->dir, sizeof u->dir, "/tmp/outpost-sim-repo.XXXXXX");
  if (!u->version || !mkdtemp(u->dir)) {
    u->dir[0] = 0;
    sim_update_free(u);
    return efail(err, cap, "setup", "cannot create a temporary directory");
  }
  snprintf(u->repo, sizeof u->repo, "%s/repo", u->dir);
  snprintf(u->md, sizeof u->md, "%s/metadata", u->repo);
  sim_rng_seed(&u->rng, seed, SIM_RNG_REPO_STREAM);
  char e2[256] = "";
  mc_pub roots[MC_REPO_ROOT_KEYS];
  char rk[96];
  snprintf(rk, sizeof rk, "%s/rootkeys", u->dir);
  if (mc_memkeys_new(upd_rng, &u->rng, &u->online) != MC_REPO_OK ||
      mc_memkeys_new(upd_rng, &u->rng, &u->rootk) != MC_REPO_OK ||
      mc_memkeys_new(upd_rng, &u->rng, &u->attacker) != MC_REPO_OK) {
    sim_update_free(u);
    return efail(err, cap, "setup", "out of memory");
  }
  mc_memkeys_signer(u->online, &u->on_s);
  mc_memkeys_signer(u->rootk, &u->root_s);
  mc_memkeys_signer(u->attacker, &u->att_s);
  mc_repo_ctx c = ctx_at(u, &u->on_s, wall_ms);
  if (mkdir(u->repo, 0700) != 0 ||
      mc_repo_rootkeys_create(rk, u->rootk, upd_rng, &u->rng, MC_REPO_ROOT_KEYS, roots, e2,
                              sizeof e2) != MC_REPO_OK ||
      mc_repo_init(&c, roots, e2, sizeof e2) != MC_REPO_OK ||
      mc_repo_release_pub(u->repo, &u->release_pub, e2, sizeof e2) != MC_REPO_OK ||
      mc_repo_pub_pem(&u->release_pub, u->release_pem, sizeof u->release_pem) != 0 ||
      u->att_s.generate(u->att_s.ctx, "attacker", &u->attacker_pub, e2, sizeof e2) != 0) {
    sim_update_free(u);
    return efail(err, cap, "init", e2[0] ? e2 : "failed");
  }
  char p[200];
  snprintf(p, sizeof p, "%s/1.root.json", u->md);
  if (slurp(p, &u->root, 65536) != 0) {
    sim_update_free(u);
    return efail(err, cap, "init", "1.root.json unreadable");
  }
  snap_generation(u);
  *out = u;
  return SIM_UPD_OK;
}

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw) {
  (void)sb;
  (void)flag;
  (void)ftw;
  return remove(path);
}

void sim_update_free(sim_update *u) {
  if (!u) return;
  if (u->dir[0]) nftw(u->dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
  mc_memkeys_free(u->online);
  mc_memkeys_free(u->rootk);
  mc_memkeys_free(u->attacker);
  free(u->root.b);
  for (int i = 0; i < u->n_gens; i++) free(u->gens[i].b);
  free(u->ts_override.b);
  free(u->version);
  free(u);
}

const uint8_t *sim_update_root(const sim_update *u, size_t *len) {
  *len = u->root.len;
  return u->root.b;
}

const char *sim_update_release_pem(const sim_update *u) { return u->release_pem; }

/* ---- serving ------------------------------------------------------------ */

static int all_of(const char *s, size_t n, const char *set) {
  if (n == 0) return 0;
  for (size_t i = 0; i < n; i++)
    if (!s[i] || !strchr(set, s[i])) return 0;
  return 1;
}

/* timestamp.json or N.<role>.json, nothing else. */
static int md_name_ok(const char *n) {
  if (strcmp(n, "timestamp.json") == 0) return 1;
  const char *dot = strchr(n, '.');
  if (!dot || dot == n || dot - n > 10 || n[0] == '0' || !all_of(n, (size_t)(dot - n), "0123456789"))
    return 0;
  static const char *const roles[] = {"root.json",   "snapshot.json",     "targets.json",
                                      "canary.json", "early-access.json", "stable.json"};
  for (size_t i = 0; i < sizeof roles / sizeof roles[0]; i++)
    if (strcmp(dot + 1, roles[i]) == 0) return 1;
  return 0;
}

/* <ring>/outpost-agent/<version>/<64 hex>.outpost-agent-linux-<arch>[.sig] */
static int target_ok(const char *t, int *is_sig, char *version, size_t vcap) {
  char buf[256];
  if (strlen(t) >= sizeof buf) return 0;
  strcpy(buf, t);
  char *parts[5];
  int n = 0;
  for (char *s = buf, *tok; n < 5 && (tok = strsep(&s, "/")) != NULL;) parts[n++] = tok;
  if (n != 4 || mc_repo_ring_index(parts[0]) < 0 || strcmp(parts[1], "outpost-agent") != 0)
    return 0;
  uint32_t v[3];
  if (mc_repo_version_parse(parts[2], v) != 0) return 0;
  const char *f = parts[3];
  static const char pre[] = ".outpost-agent-linux-";
  if (strlen(f) < 64 + sizeof pre || !all_of(f, 64, "0123456789abcdef") ||
      strncmp(f + 64, pre, sizeof pre - 1) != 0)
    return 0;
  const char *arch = f + 64 + sizeof pre - 1;
  size_t al = strlen(arch);
  *is_sig = al > 4 && strcmp(arch + al - 4, ".sig") == 0;
  if (*is_sig) al -= 4;
  if (!all_of(arch, al, "abcdefghijklmnopqrstuvwxyz0123456789_")) return 0;
  snprintf(version, vcap, "%s", parts[2]);
  return 1;
}

static void reply(mc_response *r, int status, uint8_t *body, size_t len) {
  memset(r, 0, sizeof *r);
  r->status = status;
  snprintf(r->content_type, sizeof r->content_type, "%s",
           status == 200 ? "application/octet-stream" : "text/plain");
  r->body = body;
  r->body_len = len;
}

static uint8_t *dup_bytes(const uint8_t *b, size_t len, size_t extra) {
  uint8_t *c = malloc(len + extra + 1);
  if (!c) return NULL;
  memcpy(c, b, len);
  memset(c + len, ' ', extra);
  return c;
}

static uint8_t *fake_binary(const char *version, const char *who, size_t size);

/* steal_release_key (issue #16): the attacker's own build of a released
 * version, as long as the real one (the TUF length check passes; only the
 * hashes differ), and its .sig: a release statement over the attacker's
 * bytes, signed with the real release key, which the attacker stole (the
 * TUF online keys it did not: the metadata still names the real bytes).
 * Replaces s (the real file's bytes) with the forgery; 0, or -1 (s kept). */
static int steal_forge(sim_update *u, const char *version, const char *path, int is_sig,
                       served *s) {
  const char *arch = strstr(path, ".outpost-agent-linux-");
  if (!arch) return -1;
  arch += sizeof ".outpost-agent-linux-" - 1;
  char real_bin[512];
  size_t plen = strlen(path);
  if (is_sig && plen > 4) plen -= 4;
  if (plen >= sizeof real_bin) return -1;
  memcpy(real_bin, path, plen);
  real_bin[plen] = 0;
  served real = {0};
  if (slurp(real_bin, &real, SIM_UPD_MAX_SERVED) != 0) return -1;
  size_t len = real.len;
  free(real.b);
  uint8_t *bin = len ? fake_binary(version, "attacker", len) : NULL;
  if (!bin) return -1;
  if (!is_sig) {
    free(s->b);
    s->b = bin;
    s->len = len;
    return 0;
  }
  release_statement st;
  memset(&st, 0, sizeof st);
  size_t al = strcspn(arch, ".");
  if (al >= sizeof st.arch) al = sizeof st.arch - 1;
  memcpy(st.arch, arch, al);
  st.length = (int64_t)len;
  uint8_t h[CRYPTO_SHA256_LEN];
  crypto_sha256(bin, len, h);
  free(bin);
  crypto_hex(h, sizeof h, st.sha256);
  snprintf(st.version, sizeof st.version, "%s", version);
  char *stc = NULL, e2[200];
  size_t stl = 0, sl = 0;
  uint8_t sig[CRYPTO_SIG_MAX];
  char hex[2 * CRYPTO_SIG_MAX + 1], kid[2 * CRYPTO_SHA256_LEN + 1];
  if (release_statement_encode(&st, &stc, &stl, e2, sizeof e2) != RELEASE_OK) return -1;
  if (u->on_s.sign(u->on_s.ctx, &u->release_pub, stc, stl, sig, sizeof sig, &sl, e2,
                   sizeof e2) != 0) {
    free(stc);
    return -1;
  }
  crypto_hex(sig, sl, hex);
  release_keyid(u->release_pub.der, u->release_pub.len, kid);
  size_t cap = stl + sizeof hex + sizeof kid + 64;
  char *doc = malloc(cap);
  int n = doc ? snprintf(doc, cap, "{\"keyid\":\"%s\",\"sig\":\"%s\",\"signed\":%.*s}", kid, hex,
                         (int)stl, stc)
              : -1;
  free(stc);
  if (n < 0 || (size_t)n >= cap) {
    free(doc);
    return -1;
  }
  free(s->b);
  s->b = (uint8_t *)doc;
  s->len = (size_t)n;
  return 0;
}

int sim_update_serve(void *user, const mc_request *req, mc_response *resp) {
  sim_update *u = user;
  const char *p = req->path;
  int tuf = strncmp(p, "/v1/tuf/", 8) == 0, tgt = strncmp(p, "/v1/targets/", 12) == 0;
  if (!tuf && !tgt) return 0;
  if (strcmp(req->method, "GET") != 0) {
    reply(resp, 405, NULL, 0);
    return 1;
  }
  char file[512], version[24] = "";
  int is_sig = 0;
  if (tuf) {
    const char *name = p + 8;
    if (!md_name_ok(name)) {
      reply(resp, 404, NULL, 0);
      return 1;
    }
    if (strcmp(name, "timestamp.json") == 0 && (u->ts_override.b || u->endless)) {
      served cur = u->ts_override;
      served fresh = {0};
      if (!cur.b) {
        snprintf(file, sizeof file, "%s/timestamp.json", u->md);
        if (slurp(file, &fresh, 65536) != 0) {
          reply(resp, 404, NULL, 0);
          return 1;
        }
        cur = fresh;
      }
      size_t extra = u->endless ? ENDLESS_PAD : 0;
      uint8_t *b = dup_bytes(cur.b, cur.len, extra);
      free(fresh.b);
      reply(resp, b ? 200 : 500, b, b ? cur.len + extra : 0);
      return 1;
    }
    const char *dot = strchr(name, '.');
    if (u->mix_role[0] && dot && strncmp(dot + 1, u->mix_role, strlen(u->mix_role)) == 0 &&
        strcmp(dot + 1 + strlen(u->mix_role), ".json") == 0)
      snprintf(file, sizeof file, "%s/%lld.%s.json", u->md, (long long)u->mix_version, u->mix_role);
    else
      snprintf(file, sizeof file, "%s/%s", u->md, name);
  } else {
    if (!target_ok(p + 12, &is_sig, version, sizeof version)) {
      reply(resp, 404, NULL, 0);
      return 1;
    }
    snprintf(file, sizeof file, "%s/targets/%s", u->repo, p + 12);
  }
  served s;
  if (slurp(file, &s, SIM_UPD_MAX_SERVED) != 0) {
    reply(resp, 404, NULL, 0);
    return 1;
  }
  if (tgt && !is_sig && u->tamper[0] && strcmp(version, u->tamper) == 0 && s.len > 0)
    s.b[s.len - 1] ^= 0x5a; /* same length, other bytes: the hash must catch it */
  if (tgt && u->stolen[0] && strcmp(version, u->stolen) == 0 && steal_forge(u, version, file, is_sig, &s) != 0) {
    free(s.b);
    reply(resp, 500, NULL, 0);
    return 1;
  }
  reply(resp, 200, s.b, s.len);
  return 1;
}

/* ---- the repository's life ----------------------------------------------- */

void sim_update_tick(sim_update *u, int64_t wall_ms) {
  if (u->frozen) return;
  mc_repo_ctx c = ctx_at(u, &u->on_s, wall_ms);
  unsigned re = 0;
  char e2[200];
  if (mc_repo_refresh(&c, 0, &re, e2, sizeof e2) == MC_REPO_OK && re) snap_generation(u);
}

/* A distinct binary per version (the simulated agent never executes it),
 * size bytes long (malloc'd; NULL when out of memory). */
static uint8_t *fake_binary(const char *version, const char *who, size_t size) {
  uint8_t *b = malloc(size);
  if (!b) return NULL;
  int n = snprintf((char *)b, size, "\177ELF outpost-agent %s (%s build, simulated)\n", version, who);
  size_t len = n > 0 && (size_t)n < size ? (size_t)n : 0;
  for (size_t i = len; i < size; i++) b[i] = (uint8_t)(i * 31 + (unsigned)len);
  return b;
}

static void ring_add(sim_update *u, int ring, const char *v) {
  if (ring < 0 || ring >= MC_REPO_N_RINGS || u->ring_n[ring] >= 32) return;
  snprintf(u->ring_has[ring][u->ring_n[ring]++], 24, "%s", v);
}

int sim_update_event(sim_update *u, const sim_scn_event *e, int64_t now_ms, int64_t wall_ms,
                     char *desc, size_t dcap, char *err, size_t cap) {
  char e2[256] = "";
  size_t len = e->binary_kb > 0 ? (size_t)e->binary_kb * 1024 : 4096;
  uint8_t *bin = NULL;
  const char *ring = e->ring >= 0 && e->ring < MC_REPO_N_RINGS ? mc_repo_rings[e->ring] : "?";
  int attack = 0, rc = MC_REPO_OK;
  mc_repo_ctx c = ctx_at(u, &u->on_s, wall_ms);
  switch (e->type) {
    case SIM_SCN_UPD_RELEASE: {
      bin = fake_binary(e->version, "release", len);
      if (!bin) return efail(err, cap, "release", "out of memory");
      rc = mc_repo_release(&c, bin, len, e->version, ring, release_host_arch(), e2, sizeof e2);
      free(bin);
      if (rc == MC_REPO_OK) ring_add(u, e->ring, e->version);
      snprintf(desc, dcap, "\"version\":\"%s\",\"ring\":\"%s\"", e->version, ring);
      break;
    }
    case SIM_SCN_UPD_PROMOTE:
      rc = mc_repo_promote(&c, e->version, ring, mc_repo_rings[e->ring_to], e2, sizeof e2);
      if (rc == MC_REPO_OK) ring_add(u, e->ring_to, e->version);
      snprintf(desc, dcap, "\"version\":\"%s\",\"from\":\"%s\",\"to\":\"%s\"", e->version, ring,
               mc_repo_rings[e->ring_to]);
      break;
    case SIM_SCN_UPD_FREEZE: {
      attack = 1;
      u->frozen = 1;
      free(u->ts_override.b);
      char p[200];
      snprintf(p, sizeof p, "%s/timestamp.json", u->md);
      if (slurp(p, &u->ts_override, 65536) != 0) return efail(err, cap, "freeze", "no timestamp");
      snprintf(desc, dcap, "\"generation\":%d", u->n_gens - 1);
      break;
    }
    case SIM_SCN_UPD_REPLAY: {
      attack = 1;
      if (e->generation >= u->n_gens)
        return efail(err, cap, "replay_metadata", "generation not reached yet");
      free(u->ts_override.b);
      const served *g = &u->gens[e->generation];
      u->ts_override.b = dup_bytes(g->b, g->len, 0);
      u->ts_override.len = u->ts_override.b ? g->len : 0;
      snprintf(desc, dcap, "\"generation\":%lld,\"of\":%d", (long long)e->generation, u->n_gens);
      break;
    }
    case SIM_SCN_UPD_COMPROMISE: {
      attack = 1;
      mc_signer thief = {.ctx = u, .generate = att_generate, .sign = att_sign};
      mc_repo_ctx tc = ctx_at(u, &thief, wall_ms);
      bin = fake_binary(e->version, "attacker", len);
      if (!bin) return efail(err, cap, "compromise_online_keys", "out of memory");
      rc = mc_repo_release(&tc, bin, len, e->version, ring, release_host_arch(), e2, sizeof e2);
      free(bin);
      snprintf(desc, dcap, "\"version\":\"%s\",\"ring\":\"%s\"", e->version, ring);
      break;
    }
    case SIM_SCN_UPD_TAMPER:
      attack = 1;
      snprintf(u->tamper, sizeof u->tamper, "%s", e->version);
      snprintf(desc, dcap, "\"version\":\"%s\"", e->version);
      break;
    case SIM_SCN_UPD_STEAL:
      attack = 1;
      snprintf(u->stolen, sizeof u->stolen, "%s", e->version);
      snprintf(desc, dcap, "\"version\":\"%s\"", e->version);
      break;
    case SIM_SCN_UPD_ENDLESS:
      attack = 1;
      u->endless = 1;
      snprintf(desc, dcap, "\"pad_bytes\":%u", ENDLESS_PAD);
      break;
    case SIM_SCN_UPD_MIX: {
      /* The body must exist when the attack starts: it is a real, validly
       * signed document of that role, only not the one its name promises. */
      attack = 1;
      char p[256];
      struct stat st;
      snprintf(p, sizeof p, "%s/%lld.%s.json", u->md, (long long)e->body_version, e->role);
      if (stat(p, &st) != 0) return efail(err, cap, "mix_and_match", "no such role version yet");
      snprintf(u->mix_role, sizeof u->mix_role, "%s", e->role);
      u->mix_version = e->body_version;
      snprintf(desc, dcap, "\"role\":\"%s\",\"body_version\":%lld", e->role,
               (long long)e->body_version);
      break;
    }
    default:
      return efail(err, cap, "event", "not an update event");
  }
  if (rc != MC_REPO_OK) return efail(err, cap, sim_scenario_event_name(e->type), e2);
  if (!attack || e->type == SIM_SCN_UPD_COMPROMISE) snap_generation(u);
  if (attack && u->attack_at < 0) u->attack_at = now_ms;
  return SIM_UPD_OK;
}

/* ---- the supervisor's record ---------------------------------------------- */

const char *sim_update_installed(sim_update *u, const sim_scenario *scn, int32_t idx,
                                 const char *version, const char *ring, int64_t now_ms) {
  if (idx < 0 || idx >= u->n_agents) return "install by an unknown agent";
  u->installs++;
  const char *was = u->version[idx][0] ? u->version[idx] : outpost_version;
  int cmp = 0;
  snprintf(u->why, sizeof u->why, "agent %d installed %s over %s", (int)idx, version, was);
  size_t wl = strlen(u->why);
  const char *bad = NULL;
  if (release_version_cmp_str(version, was, &cmp) != 0 || cmp <= 0)
    bad = ": a downgrade (or the same version)";
  else if (scn->upd_never[0] && strcmp(version, scn->upd_never) == 0)
    bad = ": expect.update_never_installed";
  else if (scn->upd_no_install_after_attack && u->attack_at >= 0 && now_ms >= u->attack_at)
    bad = ": after the repository was attacked";
  else {
    int r = mc_repo_ring_index(ring), found = 0;
    for (int i = 0; r >= 0 && i < u->ring_n[r]; i++) found |= strcmp(u->ring_has[r][i], version) == 0;
    if (!found) bad = ": a version its ring was never given";
  }
  snprintf(u->version[idx], sizeof u->version[idx], "%s", version);
  if (!bad) return NULL;
  snprintf(u->why + wl, sizeof u->why - wl, "%s", bad);
  return u->why;
}

void sim_update_rolled_back(sim_update *u, int32_t idx, const char *version) {
  if (idx >= 0 && idx < u->n_agents)
    snprintf(u->version[idx], sizeof u->version[idx], "%s", version ? version : "");
}

const char *sim_update_version_of(const sim_update *u, int32_t idx) {
  return idx >= 0 && idx < u->n_agents ? u->version[idx] : "";
}

int64_t sim_update_installs(const sim_update *u) { return u->installs; }

/* ---- end checks ------------------------------------------------------------ */

typedef struct rep_scan {
  const char *match;
  int64_t deadline_wall; /* INT64_MAX: any time */
  const char *const *ids;
  int64_t n;
  uint8_t *seen;
  int64_t matched;
} rep_scan;

static int rep_cb(void *user, const mc_event *e) {
  rep_scan *s = user;
  /* Trouble reports: trust refusals, and the "error" kind (an update that
   * waits for disk space, issue #17). */
  if ((strcmp(e->kind, "update_refused") != 0 && strcmp(e->kind, "update_error") != 0) || !e->detail ||
      !strstr(e->detail, s->match))
    return 0;
  s->matched++;
  if (e->created_ms > s->deadline_wall) return 0;
  for (int64_t i = 0; i < s->n; i++)
    if (s->ids[i] && strcmp(s->ids[i], e->agent_id) == 0) s->seen[i] = 1;
  return 0;
}

void sim_update_check_end(sim_update *u, const sim_scenario *scn, mc_cloud *cloud,
                          const char *const *ids, int64_t n, sim_update_result_fn fn, void *user) {
  char d[400];
  if (scn->upd_final_version[0]) {
    int64_t bad = 0, first = -1;
    for (int64_t i = 0; i < n && i < u->n_agents; i++)
      if (strcmp(u->version[i], scn->upd_final_version) != 0) {
        bad++;
        if (first < 0) first = i;
      }
    snprintf(d, sizeof d, "%lld of %lld agents do not run %s (first: agent %lld on \"%s\")",
             (long long)bad, (long long)n, scn->upd_final_version, (long long)first,
             first >= 0 ? u->version[first] : "");
    fn(user, "update_final_version", bad == 0, bad ? d : "");
  }
  if (scn->upd_reported[0]) {
    rep_scan s = {.match = scn->upd_reported, .deadline_wall = INT64_MAX, .ids = ids, .n = n};
    s.seen = calloc((size_t)(n > 0 ? n : 1), 1);
    if (scn->upd_reported_within_s >= 0 && u->attack_at >= 0)
      s.deadline_wall = SIM_WALL_EPOCH_MS + u->attack_at + scn->upd_reported_within_s * 1000;
    int rc = s.seen ? mc_events_foreach(cloud, "update_", rep_cb, &s) : MC_ENOMEM;
    int64_t missing = 0, first = -1;
    for (int64_t i = 0; s.seen && i < n; i++)
      if (!s.seen[i]) {
        missing++;
        if (first < 0) first = i;
      }
    if (rc != MC_OK) missing = n;
    snprintf(d, sizeof d,
             "%lld of %lld agents have no update_refused/update_error report naming \"%s\"%s in the cloud "
             "(first: agent %lld; %lld matching reports in all)",
             (long long)missing, (long long)n, scn->upd_reported,
             scn->upd_reported_within_s >= 0 ? " within the time limit" : "", (long long)first,
             (long long)s.matched);
    fn(user, "update_reported", missing == 0 && rc == MC_OK, missing ? d : "");
    free(s.seen);
  }
}
