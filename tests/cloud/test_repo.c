/* The release repository (mc_repo over mc_p11 on a SoftHSM2 token), checked
 * with the agent's own TUF client (agent/core/tuf.c) and crypto_ec_verify. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <cmocka.h>

#include "common/canon.h"
#include "common/crypto.h"
#include "core/tuf.h"
#include "mc_p11.h"
#include "mc_repo.h"

#define SOFTHSM_MODULE "/usr/lib/softhsm/libsofthsm2.so"

static char tmp[256], repo_dir[512], root_dir[512], pin_file[512];
static mc_p11 *tok;
static mc_signer online, rootsig;
static mc_memkeys *rootkeys;
static mc_repo_ctx ctx;
static const uint8_t bin1[] = "outpost-agent build 1.0.0 \x7f ELF-ish bytes";
static const uint8_t bin2[] = "outpost-agent build 1.1.0, different bytes";

static int rng(void *c, unsigned char *buf, size_t len) {
  (void)c;
  return getrandom(buf, len, 0) == (ssize_t)len ? 0 : -1;
}

static int64_t now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static uint8_t *slurp(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  uint8_t *b = malloc(16 << 20);
  *len = b ? fread(b, 1, 16 << 20, f) : 0;
  fclose(f);
  return b;
}

static int setup(void **state) {
  (void)state;
  if (access(SOFTHSM_MODULE, R_OK) != 0) {
    fprintf(stderr, "FAIL: SoftHSM2 is not installed (%s missing): run ci/setup-deps "
                    "(Debian package softhsm2, pinned in ci/deps.txt)\n", SOFTHSM_MODULE);
    return -1;
  }
  snprintf(tmp, sizeof tmp, "/tmp/outpost-test-repo-XXXXXX");
  if (!mkdtemp(tmp)) return -1;
  char conf[512], cmd[1024];
  snprintf(conf, sizeof conf, "%s/softhsm2.conf", tmp);
  FILE *f = fopen(conf, "w");
  if (!f) return -1;
  fprintf(f, "directories.tokendir = %s/tokens\nobjectstore.backend = file\nlog.level = ERROR\n", tmp);
  fclose(f);
  snprintf(cmd, sizeof cmd, "%s/tokens", tmp);
  mkdir(cmd, 0700);
  setenv("SOFTHSM2_CONF", conf, 1);
  snprintf(cmd, sizeof cmd,
           "softhsm2-util --init-token --free --label outpost-test --pin 4321 --so-pin 8765 >/dev/null");
  if (system(cmd) != 0) {
    fprintf(stderr, "FAIL: softhsm2-util --init-token failed\n");
    return -1;
  }
  snprintf(pin_file, sizeof pin_file, "%s/pin", tmp);
  f = fopen(pin_file, "w");
  if (!f) return -1;
  fputs("4321\n", f);
  fclose(f);
  char err[256];
  if (mc_p11_open(SOFTHSM_MODULE, "outpost-test", pin_file, &tok, err, sizeof err) != 0) {
    fprintf(stderr, "FAIL: %s\n", err);
    return -1;
  }
  mc_repo_p11_signer(tok, &online);
  if (mc_memkeys_new(rng, NULL, &rootkeys) != 0) return -1;
  mc_memkeys_signer(rootkeys, &rootsig);
  snprintf(repo_dir, sizeof repo_dir, "%s/repo", tmp);
  snprintf(root_dir, sizeof root_dir, "%s/rootkeys", tmp);
  ctx.dir = repo_dir;
  ctx.online = &online;
  ctx.root = &rootsig;
  ctx.now_ms = now_ms();
  return 0;
}

static int teardown(void **state) {
  (void)state;
  mc_p11_close(tok);
  mc_memkeys_free(rootkeys);
  char cmd[400];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp);
  return system(cmd) == 0 ? 0 : -1;
}

static uint8_t *meta(const char *name, size_t *len) {
  char p[1200];
  snprintf(p, sizeof p, "%s/metadata/%s", repo_dir, name);
  return slurp(p, len);
}

/* The client workflow over the files; returns the set or NULL. */
static tuf_set *client(void) {
  size_t len;
  uint8_t *b = meta("1.root.json", &len);
  tuf_set *s = NULL;
  char err[256];
  assert_non_null(b);
  int rc = tuf_open(b, len, now_ms(), NULL, &s, err, sizeof err);
  free(b);
  if (rc != TUF_OK) fail_msg("tuf_open: %s", err);
  for (int v = 2; v < 100; v++) {
    char name[64];
    snprintf(name, sizeof name, "%d.root.json", v);
    if (!(b = meta(name, &len))) break;
    rc = tuf_update_root(s, b, len);
    free(b);
    if (rc != TUF_OK) fail_msg("root %d: %s", v, tuf_error(s));
  }
  b = meta("timestamp.json", &len);
  rc = tuf_update_timestamp(s, b, len);
  free(b);
  if (rc != TUF_OK) fail_msg("timestamp: %s", tuf_error(s));
  int64_t ver;
  size_t max;
  char name[128];
  assert_int_equal(tuf_meta_for(s, "snapshot", &ver, &max), TUF_OK);
  snprintf(name, sizeof name, "%lld.snapshot.json", (long long)ver);
  b = meta(name, &len);
  rc = tuf_update_snapshot(s, b, len, 0);
  free(b);
  if (rc != TUF_OK) fail_msg("snapshot: %s", tuf_error(s));
  assert_int_equal(tuf_meta_for(s, "targets", &ver, &max), TUF_OK);
  snprintf(name, sizeof name, "%lld.targets.json", (long long)ver);
  b = meta(name, &len);
  rc = tuf_update_targets(s, b, len);
  free(b);
  if (rc != TUF_OK) fail_msg("targets: %s", tuf_error(s));
  return s;
}

/* Finds path (loading ring roles as asked); TUF_OK / TUF_ENOTFOUND. */
static int find(tuf_set *s, const char *path, tuf_target *t) {
  char need[TUF_MAX_ROLE_NAME + 1], del[TUF_MAX_ROLE_NAME + 1];
  for (int i = 0; i < 10; i++) {
    int rc = tuf_find_target(s, path, t, need, del);
    if (rc != TUF_ENEED) return rc;
    int64_t ver;
    size_t max, len;
    char name[300];
    assert_int_equal(tuf_meta_for(s, need, &ver, &max), TUF_OK);
    snprintf(name, sizeof name, "%lld.%s.json", (long long)ver, need);
    uint8_t *b = meta(name, &len);
    assert_non_null(b);
    rc = tuf_update_delegated_targets(s, b, len, need, del);
    free(b);
    if (rc != TUF_OK) fail_msg("%s: %s", need, tuf_error(s));
  }
  fail_msg("search did not end");
  return -1;
}

static uint8_t *target_bytes(const tuf_target *t, size_t *len) {
  char p[3000];
  const char *slash = strrchr(t->path, '/');
  snprintf(p, sizeof p, "%s/targets/%.*s/%s.%s", repo_dir, (int)(slash - t->path), t->path,
           t->hashes[0].hex, slash + 1);
  return slurp(p, len);
}

/* Both chains for one binary in one ring. */
static void check_release(const char *ring, const char *version, const uint8_t *bin, size_t blen) {
  tuf_set *s = client();
  char path[256], spath[300];
  snprintf(path, sizeof path, "%s/outpost-agent/%s/outpost-agent-linux-x86_64", ring, version);
  snprintf(spath, sizeof spath, "%s.sig", path);
  tuf_target t, ts;
  assert_int_equal(find(s, path, &t), TUF_OK);
  assert_string_equal(t.role, ring);
  size_t len;
  uint8_t *got = target_bytes(&t, &len);
  assert_non_null(got);
  assert_int_equal(len, blen);
  assert_memory_equal(got, bin, blen);
  assert_int_equal(tuf_verify_target(s, got, len, &t), TUF_OK);
  got[0] ^= 1; /* a tampered binary fails */
  assert_int_equal(tuf_verify_target(s, got, len, &t), TUF_EHASH);
  free(got);
  /* The release signature over the canonical statement. */
  assert_int_equal(find(s, spath, &ts), TUF_OK);
  uint8_t *sig = target_bytes(&ts, &len);
  assert_non_null(sig);
  assert_int_equal(tuf_verify_target(s, sig, len, &ts), TUF_OK);
  cJSON *doc = cJSON_ParseWithLength((const char *)sig, len);
  free(sig);
  assert_non_null(doc);
  const cJSON *sg = cJSON_GetObjectItemCaseSensitive(doc, "signed");
  assert_string_equal(cJSON_GetObjectItemCaseSensitive(sg, "version")->valuestring, version);
  assert_string_equal(cJSON_GetObjectItemCaseSensitive(sg, "name")->valuestring, "outpost-agent");
  assert_string_equal(cJSON_GetObjectItemCaseSensitive(sg, "arch")->valuestring, "x86_64");
  assert_int_equal((size_t)cJSON_GetObjectItemCaseSensitive(sg, "length")->valuedouble, blen);
  assert_string_equal(cJSON_GetObjectItemCaseSensitive(sg, "sha256")->valuestring, t.hashes[0].hex);
  char *c;
  size_t cl;
  assert_int_equal(canon_encode(sg, 4096, &c, &cl), CANON_OK);
  mc_pub rel;
  assert_int_equal(mc_repo_release_pub(repo_dir, &rel, NULL, 0), MC_REPO_OK);
  uint8_t der[CRYPTO_SIG_MAX], kh[32];
  size_t dl = 0;
  const char *hex = cJSON_GetObjectItemCaseSensitive(doc, "sig")->valuestring;
  for (size_t i = 0; hex[2 * i] && i < sizeof der; i++) {
    unsigned v;
    sscanf(hex + 2 * i, "%2x", &v);
    der[dl++] = (uint8_t)v;
  }
  assert_int_equal(crypto_ec_verify(rel.der, rel.len, c, cl, der, dl), CRYPTO_OK);
  c[5] ^= 1;
  assert_int_equal(crypto_ec_verify(rel.der, rel.len, c, cl, der, dl), CRYPTO_EVERIFY);
  char kid[65];
  crypto_sha256(rel.der, rel.len, kh);
  crypto_hex(kh, 32, kid);
  assert_string_equal(cJSON_GetObjectItemCaseSensitive(doc, "keyid")->valuestring, kid);
  free(c);
  cJSON_Delete(doc);
  /* custom.version on the binary entry is in the ring's metadata */
  tuf_close(s);
}

static void test_chain(void **state) {
  (void)state;
  char err[256];
  mc_pub roots[3];
  assert_int_equal(mc_repo_release(&ctx, bin1, sizeof bin1, "1.0.0", "canary", NULL, err, sizeof err),
                   MC_REPO_ENOTFOUND);
  assert_int_equal(mc_repo_rootkeys_create(root_dir, rootkeys, rng, NULL, 3, roots, err, sizeof err), 0);
  int rc = mc_repo_init(&ctx, roots, err, sizeof err);
  if (rc) fail_msg("init: %s", err);
  assert_int_equal(mc_repo_init(&ctx, roots, err, sizeof err), MC_REPO_EEXIST);

  rc = mc_repo_release(&ctx, bin1, sizeof bin1, "1.0.0", "canary", NULL, err, sizeof err);
  if (rc) fail_msg("release: %s", err);
  check_release("canary", "1.0.0", bin1, sizeof bin1);

  /* refusals */
  assert_int_equal(mc_repo_release(&ctx, bin2, sizeof bin2, "1.02.0", "canary", NULL, err, sizeof err), MC_REPO_EINVAL);
  assert_int_equal(mc_repo_release(&ctx, bin2, sizeof bin2, "1.0", "canary", NULL, err, sizeof err), MC_REPO_EINVAL);
  assert_int_equal(mc_repo_release(&ctx, bin2, sizeof bin2, "1.1.0", "beta", NULL, err, sizeof err), MC_REPO_EINVAL);
  assert_non_null(strstr(err, "unknown ring"));
  assert_int_equal(mc_repo_release(&ctx, bin2, sizeof bin2, "1.0.0", "stable", NULL, err, sizeof err), MC_REPO_EEXIST);
  assert_int_equal(mc_repo_release(&ctx, bin1, sizeof bin1, "1.0.0", "canary", NULL, err, sizeof err), MC_REPO_EEXIST);
  assert_int_equal(mc_repo_promote(&ctx, "1.1.0", "canary", "stable", err, sizeof err), MC_REPO_ENOTFOUND);
  assert_int_equal(mc_repo_promote(&ctx, "1.0.0", "stable", "canary", err, sizeof err), MC_REPO_EINVAL);
  assert_int_equal(mc_repo_promote(&ctx, "1.0.0", "canary", "beta", err, sizeof err), MC_REPO_EINVAL);

  /* promote: same bytes, one stored file */
  rc = mc_repo_promote(&ctx, "1.0.0", "canary", "early-access", err, sizeof err);
  if (rc) fail_msg("promote: %s", err);
  check_release("early-access", "1.0.0", bin1, sizeof bin1);
  assert_int_equal(mc_repo_promote(&ctx, "1.0.0", "canary", "early-access", err, sizeof err), MC_REPO_EEXIST);
  {
    tuf_set *s = client();
    tuf_target t;
    assert_int_equal(find(s, "stable/outpost-agent/1.0.0/outpost-agent-linux-x86_64", &t), TUF_ENOTFOUND);
    tuf_close(s);
  }
  rc = mc_repo_release(&ctx, bin2, sizeof bin2, "1.1.0", "canary", NULL, err, sizeof err);
  if (rc) fail_msg("release 2: %s", err);
  check_release("canary", "1.1.0", bin2, sizeof bin2);
  check_release("canary", "1.0.0", bin1, sizeof bin1);
}

/* An old-key timestamp with a higher version, as a thief of the rotated-out
 * key would make it. */
static uint8_t *forge_timestamp(const mc_pub *old, size_t *len) {
  size_t l;
  uint8_t *b = meta("timestamp.json", &l);
  cJSON *doc = cJSON_ParseWithLength((const char *)b, l);
  free(b);
  cJSON *sg = cJSON_GetObjectItemCaseSensitive(doc, "signed");
  cJSON_ReplaceItemInObjectCaseSensitive(
      sg, "version", cJSON_CreateNumber(cJSON_GetObjectItemCaseSensitive(sg, "version")->valuedouble + 5));
  char *c, *out;
  size_t cl, ol;
  assert_int_equal(canon_encode(sg, 1 << 20, &c, &cl), CANON_OK);
  uint8_t sig[CRYPTO_SIG_MAX];
  size_t sl;
  assert_int_equal(mc_p11_sign(tok, old->der, old->len, c, cl, sig, sizeof sig, &sl, NULL, 0), 0);
  free(c);
  char hex[2 * CRYPTO_SIG_MAX + 1];
  crypto_hex(sig, sl, hex);
  cJSON *sigs = cJSON_GetObjectItemCaseSensitive(doc, "signatures");
  cJSON *s0 = cJSON_GetArrayItem(sigs, 0);
  /* keyid of the old key: taken from 1.root.json's timestamp role */
  uint8_t *r1 = meta("1.root.json", &l);
  cJSON *root = cJSON_ParseWithLength((const char *)r1, l);
  free(r1);
  const char *oldid = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(
      cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(root, "signed"), "roles"), "timestamp"), "keyids"), 0)->valuestring;
  cJSON_ReplaceItemInObjectCaseSensitive(s0, "keyid", cJSON_CreateString(oldid));
  cJSON_ReplaceItemInObjectCaseSensitive(s0, "sig", cJSON_CreateString(hex));
  cJSON_Delete(root);
  assert_int_equal(canon_encode(doc, 1 << 20, &out, &ol), CANON_OK);
  cJSON_Delete(doc);
  *len = ol;
  return (uint8_t *)out;
}

static void role_pub(const char *file, const char *role, mc_pub *pub) {
  size_t l;
  uint8_t *b = meta(file, &l);
  cJSON *doc = cJSON_ParseWithLength((const char *)b, l);
  free(b);
  const cJSON *sg = cJSON_GetObjectItemCaseSensitive(doc, "signed");
  const char *id = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(
      cJSON_GetObjectItemCaseSensitive(sg, "roles"), role), "keyids"), 0)->valuestring;
  const cJSON *k = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(sg, "keys"), id);
  assert_int_equal(mc_repo_pub_from_pem(cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(k, "keyval"), "public")->valuestring, pub), 0);
  cJSON_Delete(doc);
}

static void test_rotate(void **state) {
  (void)state;
  char err[256];
  mc_pub old_ts;
  role_pub("1.root.json", "timestamp", &old_ts);
  /* Before rotation the forged timestamp is accepted: the forgery is real. */
  {
    size_t l, rl;
    uint8_t *r = meta("1.root.json", &rl);
    tuf_set *s;
    assert_int_equal(tuf_open(r, rl, now_ms(), NULL, &s, NULL, 0), TUF_OK);
    free(r);
    uint8_t *f = forge_timestamp(&old_ts, &l);
    assert_int_equal(tuf_update_timestamp(s, f, l), TUF_OK);
    free(f);
    tuf_close(s);
  }
  mc_repo_ctx noroot = ctx;
  noroot.root = NULL;
  assert_int_equal(mc_repo_rotate(&noroot, "timestamp", NULL, err, sizeof err), MC_REPO_EINVAL);
  assert_int_equal(mc_repo_rotate(&ctx, "release", NULL, err, sizeof err), MC_REPO_EINVAL);
  int rc = mc_repo_rotate(&ctx, "timestamp", NULL, err, sizeof err);
  if (rc) fail_msg("rotate timestamp: %s", err);
  mc_pub new_ts;
  role_pub("2.root.json", "timestamp", &new_ts);
  assert_false(new_ts.len == old_ts.len && memcmp(new_ts.der, old_ts.der, old_ts.len) == 0);
  check_release("canary", "1.1.0", bin2, sizeof bin2);
  {
    tuf_set *s;
    size_t l, rl;
    uint8_t *r = meta("1.root.json", &rl);
    assert_int_equal(tuf_open(r, rl, now_ms(), NULL, &s, NULL, 0), TUF_OK);
    free(r);
    r = meta("2.root.json", &rl);
    assert_int_equal(tuf_update_root(s, r, rl), TUF_OK);
    free(r);
    uint8_t *f = forge_timestamp(&old_ts, &l);
    assert_int_equal(tuf_update_timestamp(s, f, l), TUF_ESIG);
    free(f);
    tuf_close(s);
  }
  /* ring key (no root keys needed), snapshot, targets */
  rc = mc_repo_rotate(&noroot, "canary", NULL, err, sizeof err);
  if (rc) fail_msg("rotate canary: %s", err);
  check_release("canary", "1.0.0", bin1, sizeof bin1);
  rc = mc_repo_rotate(&ctx, "snapshot", NULL, err, sizeof err);
  if (rc) fail_msg("rotate snapshot: %s", err);
  rc = mc_repo_rotate(&ctx, "targets", NULL, err, sizeof err);
  if (rc) fail_msg("rotate targets: %s", err);
  check_release("early-access", "1.0.0", bin1, sizeof bin1);

  /* root: new keys, signed by 2 of the old and 2 of the new */
  mc_pub newroots[3];
  assert_int_equal(mc_repo_rootkeys_create(root_dir, rootkeys, rng, NULL, 3, newroots, err, sizeof err), 0);
  rc = mc_repo_rotate(&ctx, "root", newroots, err, sizeof err);
  if (rc) fail_msg("rotate root: %s", err);
  assert_int_equal(mc_repo_rootkeys_retire(root_dir, newroots, 3, err, sizeof err), 0);
  check_release("canary", "1.1.0", bin2, sizeof bin2);
  /* The retired keys are no longer loaded: a reloaded signer signs with the new ones. */
  mc_memkeys *k2;
  assert_int_equal(mc_memkeys_new(rng, NULL, &k2), 0);
  assert_int_equal(mc_repo_rootkeys_load(root_dir, k2, err, sizeof err), 0);
  mc_signer s2;
  mc_memkeys_signer(k2, &s2);
  mc_repo_ctx c2 = ctx;
  c2.root = &s2;
  rc = mc_repo_rotate(&c2, "timestamp", NULL, err, sizeof err);
  if (rc) fail_msg("rotate after root rotation: %s", err);
  mc_memkeys_free(k2);
  check_release("canary", "1.1.0", bin2, sizeof bin2);
  /* Old root keys alone cannot make a new root. */
  mc_memkeys *k3;
  assert_int_equal(mc_memkeys_new(rng, NULL, &k3), 0);
  char rd[1024];
  snprintf(rd, sizeof rd, "%s/retired", root_dir);
  assert_int_equal(mc_repo_rootkeys_load(rd, k3, err, sizeof err), 0);
  mc_memkeys_signer(k3, &s2);
  assert_int_equal(mc_repo_rotate(&c2, "snapshot", NULL, err, sizeof err), MC_REPO_ESIGN);
  mc_memkeys_free(k3);
  check_release("canary", "1.1.0", bin2, sizeof bin2);
}

static int64_t ts_version(const uint8_t *b, size_t l) {
  cJSON *d = cJSON_ParseWithLength((const char *)b, l);
  int64_t v = (int64_t)cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(d, "signed"), "version")->valuedouble;
  cJSON_Delete(d);
  return v;
}

static void test_refresh(void **state) {
  (void)state;
  char err[256];
  size_t l;
  unsigned what = 9;
  size_t lb;
  uint8_t *before = meta("timestamp.json", &lb);
  assert_int_equal(mc_repo_refresh(&ctx, 0, &what, err, sizeof err), 0);
  assert_int_equal(what, 0); /* nothing due */
  /* 13 hours later the timestamp (1 day) is past half its life. */
  mc_repo_ctx later = ctx;
  later.now_ms += 13 * 3600 * 1000LL;
  int rc = mc_repo_refresh(&later, 0, &what, err, sizeof err);
  if (rc) fail_msg("refresh: %s", err);
  assert_int_equal(what, 1);
  uint8_t *after = meta("timestamp.json", &l);
  assert_true(ts_version(after, l) > ts_version(before, lb));
  free(before);
  free(after);
  later.now_ms = ctx.now_ms + 4 * 24 * 3600 * 1000LL; /* snapshot (7 days) due too */
  assert_int_equal(mc_repo_refresh(&later, 0, &what, err, sizeof err), 0);
  assert_int_equal(what, 3);
  check_release("canary", "1.1.0", bin2, sizeof bin2);
}

static void test_p11_errors(void **state) {
  (void)state;
  char err[256];
  mc_p11 *p = NULL;
  /* One module instance per process: close the shared one first. */
  mc_p11_close(tok);
  tok = NULL;
  assert_int_equal(mc_p11_open("/nonexistent/p11.so", "outpost-test", pin_file, &p, err, sizeof err), MC_P11_EMODULE);
  assert_int_equal(mc_p11_open(SOFTHSM_MODULE, "no-such-token", pin_file, &p, err, sizeof err), MC_P11_ETOKEN);
  assert_non_null(strstr(err, "no-such-token"));
  char bad[1024];
  snprintf(bad, sizeof bad, "%s/badpin", tmp);
  FILE *f = fopen(bad, "w");
  fputs("0000\n", f);
  fclose(f);
  assert_int_equal(mc_p11_open(SOFTHSM_MODULE, "outpost-test", bad, &p, err, sizeof err), MC_P11_EPIN);
  assert_null(strstr(err, "0000")); /* never print the PIN */
  assert_int_equal(mc_p11_open(SOFTHSM_MODULE, "outpost-test", "/nonexistent/pin", &p, err, sizeof err), MC_P11_EINVAL);
  assert_null(p);
  assert_int_equal(mc_p11_open(SOFTHSM_MODULE, "outpost-test", pin_file, &tok, err, sizeof err), 0);
  mc_pub unknown;
  mc_pub pubs[1];
  /* a key the token does not hold */
  mc_memkeys *mk;
  mc_signer ms;
  assert_int_equal(mc_memkeys_new(rng, NULL, &mk), 0);
  mc_memkeys_signer(mk, &ms);
  assert_int_equal(ms.generate(ms.ctx, "x", &unknown, err, sizeof err), 0);
  pubs[0] = unknown;
  uint8_t sig[CRYPTO_SIG_MAX];
  size_t sl;
  assert_int_equal(mc_p11_has_key(tok, pubs[0].der, pubs[0].len, err, sizeof err), 0);
  assert_int_equal(mc_p11_sign(tok, pubs[0].der, pubs[0].len, "m", 1, sig, sizeof sig, &sl, err, sizeof err), MC_P11_ENOKEY);
  mc_memkeys_free(mk);
  /* raw r||s with high bits and leading zeros -> valid DER lengths */
  uint8_t rs[64], der[80];
  size_t dl;
  memset(rs, 0, 32);
  rs[31] = 0x80;
  memset(rs + 32, 0xff, 32);
  assert_int_equal(mc_p11_raw_to_der(rs, der, sizeof der, &dl), 0);
  assert_int_equal(dl, 2 + 4 + 35);
  assert_int_equal(der[2], 0x02);
  assert_int_equal(der[3], 2);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_chain),
      cmocka_unit_test(test_rotate),
      cmocka_unit_test(test_refresh),
      cmocka_unit_test(test_p11_errors),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
