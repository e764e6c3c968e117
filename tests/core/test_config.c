/* Config parsing: good configs load with defaults; every bad one is refused
 * with a message that names the key. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "core/config.h"

static const char *const good =
    "{\"cloud_url\":\"https://127.0.0.1:8443/\",\"ca_file\":\"/etc/outpost/ca.pem\","
    "\"enrollment_token\":\"otk_abc\",\"state_dir\":\"/var/lib/outpost\","
    "\"sources\":[{\"path\":\"/var/log/a.log\"},{\"path\":\"/var/log/b.log\",\"start\":\"beginning\"}],"
    "\"batch_max_records\":50,\"log_level\":\"debug\",\"allow_cloud_port\":8443}";

static void parses_good_config(void **state) {
  agent_config c;
  char err[256];
  assert_int_equal(config_parse(good, strlen(good), &c, err, sizeof err), CONFIG_OK);
  assert_string_equal(c.cloud_url, "https://127.0.0.1:8443"); /* trailing slash dropped */
  assert_int_equal(c.n_sources, 2);
  assert_int_equal(c.sources[0].start, CONFIG_START_END);
  assert_int_equal(c.sources[1].start, CONFIG_START_BEGINNING);
  assert_int_equal(c.batch_max_records, 50);
  assert_int_equal(c.batch_max_age_ms, 5000); /* default */
  assert_int_equal(c.log_level, 0);
  char text[2048];
  assert_true(config_explain(&c, text, sizeof text) > 0);
  assert_non_null(strstr(text, "/var/log/b.log (new files read from the beginning)"));
  assert_null(strstr(text, "otk_abc")); /* never echo the token */
  assert_int_equal(c.checkin_interval_ms, 300000);
  assert_string_equal(c.machine_id_file, "");
  const char *with_ident =
      "{\"cloud_url\":\"https://x\",\"ca_file\":\"/ca\",\"state_dir\":\"/s\","
      "\"checkin_interval_ms\":2000,"
      "\"identity\":{\"machine_id_file\":\"/t/mid\",\"product_uuid_file\":\"/t/uuid\"}}";
  assert_int_equal(config_parse(with_ident, strlen(with_ident), &c, err, sizeof err), CONFIG_OK);
  assert_string_equal(c.machine_id_file, "/t/mid");
  assert_string_equal(c.product_uuid_file, "/t/uuid");
  assert_int_equal(c.checkin_interval_ms, 2000);
  assert_int_equal(c.update_probation_ms, 600000); /* default */
  const char *with_update =
      "{\"cloud_url\":\"https://x\",\"ca_file\":\"/ca\",\"state_dir\":\"/s\","
      "\"update\":{\"probation_s\":30,\"crash_loop_max\":5,\"crash_window_s\":60}}";
  assert_int_equal(config_parse(with_update, strlen(with_update), &c, err, sizeof err), CONFIG_OK);
  assert_int_equal(c.update_probation_ms, 30000);
  assert_int_equal(c.update_crash_loop_max, 5);
  assert_int_equal(c.update_crash_window_ms, 60000);
  assert_false(c.update_enabled);
  assert_int_equal(c.update_check_interval_ms, 3600000);
  const char *upd =
      "{\"cloud_url\":\"https://x\",\"ca_file\":\"/ca\",\"state_dir\":\"/s\","
      "\"update\":{\"enabled\":true,\"trusted_root\":\"/etc/outpost/root.json\",\"check_interval_s\":600}}";
  assert_int_equal(config_parse(upd, strlen(upd), &c, err, sizeof err), CONFIG_OK);
  assert_true(c.update_enabled);
  assert_string_equal(c.update_trusted_root, "/etc/outpost/root.json");
  assert_int_equal(c.update_check_interval_ms, 600000);
  assert_int_equal(c.update_first_check_ms, 300000); /* default */
  const char *first =
      "{\"cloud_url\":\"https://x\",\"ca_file\":\"/ca\",\"state_dir\":\"/s\","
      "\"update\":{\"first_check_s\":0}}";
  assert_int_equal(config_parse(first, strlen(first), &c, err, sizeof err), CONFIG_OK);
  assert_int_equal(c.update_first_check_ms, 0);
  const char *first_bad =
      "{\"cloud_url\":\"https://x\",\"ca_file\":\"/ca\",\"state_dir\":\"/s\","
      "\"update\":{\"first_check_s\":3601}}";
  assert_int_not_equal(config_parse(first_bad, strlen(first_bad), &c, err, sizeof err), CONFIG_OK);
  assert_non_null(strstr(err, "update.first_check_s"));
}

typedef struct bad_case {
  const char *json;
  const char *expect; /* substring of the error */
} bad_case;

static void rejects_bad_configs(void **state) {
  static const bad_case cases[] = {
      {"", "not valid JSON"},
      {"{\"cloud_url\":\"https://x\",\"ca_file\":\"/ca\",\"state_dir\":\"/s\",\"identity\":{\"machine_id_file\":\"rel\"}}",
       "identity.machine_id_file: must be an absolute path"},
      {"{\"cloud_url\":\"https://x\",\"ca_file\":\"/ca\",\"state_dir\":\"/s\",\"identity\":{\"mac\":\"/x\"}}",
       "identity.mac: unknown key"},
      {"{\"cloud_url\":\"https://x\",\"ca_file\":\"/ca\",\"state_dir\":\"/s\",\"identity\":[]}",
       "identity: must be an object"},
      {"{\"cloud_url\":\"https://x\",\"ca_file\":\"/ca\",\"state_dir\":\"/s\",\"checkin_interval_ms\":5}",
       "checkin_interval_ms: must be an integer"},
      {"[1]", "top level must be an object"},
      {"{\"cloud_url\":\"https://x\",\"ca_file\":\"/ca\",\"state_dir\":\"/s\",\"colour\":1}",
       "colour: unknown key"},
      {"{\"cloud_url\":\"http://x\",\"ca_file\":\"/ca\",\"state_dir\":\"/s\"}",
       "cloud_url: must start with https://"},
      {"{\"cloud_url\":\"https://x/path\",\"ca_file\":\"/ca\",\"state_dir\":\"/s\"}",
       "cloud_url: must be https://host[:port]"},
      {"{\"cloud_url\":\"https://x\",\"state_dir\":\"/s\"}", "ca_file: required"},
      {"{\"cloud_url\":\"https://x\",\"ca_file\":\"/ca\"}", "state_dir: required"},
      {"{\"cloud_url\":\"https://x\",\"ca_file\":\"ca.pem\",\"state_dir\":\"/s\"}",
       "ca_file: must be an absolute path"},
      {"{\"cloud_url\":\"https://x\",\"ca_file\":\"/ca\",\"state_dir\":\"/s\",\"batch_max_records\":0}",
       "batch_max_records: must be an integer from 1 to 10000"},
      {"{\"cloud_url\":\"https://x\",\"ca_file\":\"/ca\",\"state_dir\":\"/s\",\"batch_max_records\":1.5}",
       "batch_max_records: must be an integer"},
      {"{\"cloud_url\":\"https://x\",\"ca_file\":\"/ca\",\"state_dir\":\"/s\",\"poll_interval_ms\":\"1s\"}",
       "poll_interval_ms: must be a number"},
      {"{\"cloud_url\":\"https://x\",\"ca_file\":\"/ca\",\"state_dir\":\"/s\",\"sources\":{}}",
       "sources: must be an array"},
      {"{\"cloud_url\":\"https://x\",\"ca_file\":\"/ca\",\"state_dir\":\"/s\",\"sources\":[{\"start\":\"end\"}]}",
       "sources[0].path: required"},
      {"{\"cloud_url\":\"https://x\",\"ca_file\":\"/ca\",\"state_dir\":\"/s\",\"sources\":[{\"path\":\"/a\",\"start\":\"middle\"}]}",
       "sources[0].start: must be \"end\" or \"beginning\""},
      {"{\"cloud_url\":\"https://x\",\"ca_file\":\"/ca\",\"state_dir\":\"/s\",\"sources\":[{\"path\":\"/a\"},{\"path\":\"/a\"}]}",
       "sources[1].path: duplicate of sources[0].path"},
      {"{\"cloud_url\":\"https://x\",\"ca_file\":\"/ca\",\"state_dir\":\"/s\",\"sources\":[{\"path\":\"/a\",\"glob\":1}]}",
       "sources[0].glob: unknown key"},
      {"{\"cloud_url\":\"https://x\",\"ca_file\":\"/ca\",\"state_dir\":\"/s\",\"log_level\":\"loud\"}",
       "log_level: must be one of"},
      {"{\"cloud_url\":\"https://x\",\"ca_file\":\"/ca\",\"state_dir\":\"/s\",\"retry_base_ms\":5000,\"retry_max_ms\":1000}",
       "retry_max_ms: must be at least retry_base_ms"},
      {"{\"cloud_url\":\"https://x\",\"ca_file\":\"/ca\",\"state_dir\":\"/s\",\"read_chunk_bytes\":4096,\"max_line_bytes\":8192}",
       "read_chunk_bytes: must be larger than max_line_bytes"},
      {"{\"cloud_url\":\"https://x\",\"ca_file\":\"/ca\",\"state_dir\":\"/s\",\"update\":{\"probation_s\":1}}",
       "update.probation_s: must be an integer from 5 to 86400"},
      {"{\"cloud_url\":\"https://x\",\"ca_file\":\"/ca\",\"state_dir\":\"/s\",\"update\":{\"enabled\":1}}",
       "update.enabled: must be true or false"},
      {"{\"cloud_url\":\"https://x\",\"ca_file\":\"/ca\",\"state_dir\":\"/s\",\"update\":{\"trusted_root\":\"r.json\"}}",
       "update.trusted_root: must be an absolute path"},
      {"{\"cloud_url\":\"https://x\",\"ca_file\":\"/ca\",\"state_dir\":\"/s\",\"update\":{\"check_interval_s\":5}}",
       "update.check_interval_s: must be an integer from 60 to 604800"},
      {"{\"cloud_url\":\"https://x\",\"ca_file\":\"/ca\",\"state_dir\":\"/s\",\"update\":{\"crash_loop_max\":0}}",
       "update.crash_loop_max: must be an integer from 1 to 100"},
      {"{\"cloud_url\":\"https://x\",\"ca_file\":\"/ca\",\"state_dir\":\"/s\",\"update\":{\"ring\":\"x\"}}",
       "update.ring: unknown key"},
      {"{\"cloud_url\":\"https://x\",\"ca_file\":\"/ca\",\"state_dir\":\"/s\",\"update\":[]}",
       "update: must be an object"},
      /* NET-1: 443 only, unless the config allows exactly that other port */
      {"{\"cloud_url\":\"https://x:8443\",\"ca_file\":\"/ca\",\"state_dir\":\"/s\"}",
       "cloud_url: port 8443 is not 443"},
      {"{\"cloud_url\":\"https://x:8443\",\"ca_file\":\"/ca\",\"state_dir\":\"/s\",\"allow_cloud_port\":9443}",
       "\"allow_cloud_port\": 8443"},
      {"{\"cloud_url\":\"https://x:\",\"ca_file\":\"/ca\",\"state_dir\":\"/s\"}",
       "cloud_url: empty port"},
      {"{\"cloud_url\":\"https://x:44x\",\"ca_file\":\"/ca\",\"state_dir\":\"/s\"}",
       "cloud_url: port must be a number in 1..65535"},
      {"{\"cloud_url\":\"https://x:99999999999999999999\",\"ca_file\":\"/ca\",\"state_dir\":\"/s\"}",
       "cloud_url: port must be a number in 1..65535"},
      {"{\"cloud_url\":\"https://[::1]:8443\",\"ca_file\":\"/ca\",\"state_dir\":\"/s\"}",
       "cloud_url: port 8443 is not 443"},
      {"{\"cloud_url\":\"https://x\",\"ca_file\":\"/ca\",\"state_dir\":\"/s\",\"allow_cloud_port\":0}",
       "allow_cloud_port: must be an integer from 1 to 65535"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    agent_config c;
    char err[256] = "";
    int rc = config_parse(cases[i].json, strlen(cases[i].json), &c, err, sizeof err);
    if (rc != CONFIG_EINVALID || !strstr(err, cases[i].expect))
      fail_msg("case %zu: rc=%d err='%s', expected '%s'", i, rc, err, cases[i].expect);
  }
}

/* NET-1: the default port and an explicit :443 need no allowance. */
static void port_443_needs_no_allowance(void **state) {
  (void)state;
  static const char *const ok[] = {
      "{\"cloud_url\":\"https://cloud.example\",\"ca_file\":\"/ca\",\"state_dir\":\"/s\"}",
      "{\"cloud_url\":\"https://cloud.example:443/\",\"ca_file\":\"/ca\",\"state_dir\":\"/s\"}",
      "{\"cloud_url\":\"https://[::1]\",\"ca_file\":\"/ca\",\"state_dir\":\"/s\"}",
      "{\"cloud_url\":\"https://[::1]:8443\",\"allow_cloud_port\":8443,\"ca_file\":\"/ca\",\"state_dir\":\"/s\"}",
  };
  for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
    agent_config c;
    char err[256] = "";
    if (config_parse(ok[i], strlen(ok[i]), &c, err, sizeof err) != CONFIG_OK)
      fail_msg("case %zu: %s", i, err);
  }
}

/* issue #14: the agent's own CPU policy and I/O class. Every value systemd
 * would accept that is not one of ours (fifo, rr, realtime) is refused, and
 * the message names the key and the bad value. */
static void priority_keys(void **state) {
  (void)state;
  agent_config c;
  char err[256] = "";
  const char *base = "{\"cloud_url\":\"https://x\",\"ca_file\":\"/ca\",\"state_dir\":\"/s\"}";
  assert_int_equal(config_parse(base, strlen(base), &c, err, sizeof err), CONFIG_OK);
  assert_int_equal(c.cpu_sched, CONFIG_CPU_SCHED_IDLE); /* issue #14: the measured default */
  assert_int_equal(c.io_sched, CONFIG_IO_SCHED_IDLE);
  char text[2048];
  assert_true(config_explain(&c, text, sizeof text) > 0);
  assert_non_null(strstr(text, "priority           CPU SCHED_IDLE, nice 19; I/O idle"));
  static const struct {
    const char *cpu, *io;
    config_cpu_sched want_cpu;
    config_io_sched want_io;
  } ok[] = {
      {"idle", "idle", CONFIG_CPU_SCHED_IDLE, CONFIG_IO_SCHED_IDLE},
      {"idle", "best-effort", CONFIG_CPU_SCHED_IDLE, CONFIG_IO_SCHED_BEST_EFFORT},
      {"batch", "idle", CONFIG_CPU_SCHED_BATCH, CONFIG_IO_SCHED_IDLE},
      {"batch", "best-effort", CONFIG_CPU_SCHED_BATCH, CONFIG_IO_SCHED_BEST_EFFORT},
      {"other", "idle", CONFIG_CPU_SCHED_OTHER, CONFIG_IO_SCHED_IDLE},
  };
  for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
    char json[256];
    snprintf(json, sizeof json,
             "{\"cloud_url\":\"https://x\",\"ca_file\":\"/ca\",\"state_dir\":\"/s\","
             "\"cpu_scheduling_policy\":\"%s\",\"io_scheduling_class\":\"%s\"}",
             ok[i].cpu, ok[i].io);
    if (config_parse(json, strlen(json), &c, err, sizeof err) != CONFIG_OK) fail_msg("case %zu: %s", i, err);
    assert_int_equal(c.cpu_sched, ok[i].want_cpu);
    assert_int_equal(c.io_sched, ok[i].want_io);
  }
  static const bad_case bad[] = {
      {"{\"cloud_url\":\"https://x\",\"ca_file\":\"/ca\",\"state_dir\":\"/s\",\"cpu_scheduling_policy\":\"fifo\"}",
       "cpu_scheduling_policy: \"fifo\" is not one of idle, batch, other"},
      {"{\"cloud_url\":\"https://x\",\"ca_file\":\"/ca\",\"state_dir\":\"/s\",\"cpu_scheduling_policy\":\"rr\"}",
       "cpu_scheduling_policy: \"rr\" is not one of"},
      {"{\"cloud_url\":\"https://x\",\"ca_file\":\"/ca\",\"state_dir\":\"/s\",\"cpu_scheduling_policy\":\"IDLE\"}",
       "cpu_scheduling_policy: \"IDLE\" is not one of"},
      {"{\"cloud_url\":\"https://x\",\"ca_file\":\"/ca\",\"state_dir\":\"/s\",\"cpu_scheduling_policy\":3}",
       "cpu_scheduling_policy: must be a string, one of idle, batch, other"},
      {"{\"cloud_url\":\"https://x\",\"ca_file\":\"/ca\",\"state_dir\":\"/s\",\"io_scheduling_class\":\"realtime\"}",
       "io_scheduling_class: \"realtime\" is not one of idle, best-effort"},
      {"{\"cloud_url\":\"https://x\",\"ca_file\":\"/ca\",\"state_dir\":\"/s\",\"io_scheduling_class\":\"\"}",
       "io_scheduling_class: \"\" is not one of"},
      {"{\"cloud_url\":\"https://x\",\"ca_file\":\"/ca\",\"state_dir\":\"/s\",\"io_scheduling_class\":null}",
       "io_scheduling_class: must be a string"},
      /* a long value is cut in the message, not copied whole */
      {"{\"cloud_url\":\"https://x\",\"ca_file\":\"/ca\",\"state_dir\":\"/s\",\"io_scheduling_class\":"
       "\"best-effort-best-effort-best-effort-best-effort\"}",
       "io_scheduling_class: \"best-effort-best-effort-best-eff\" is not one of"},
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    int rc = config_parse(bad[i].json, strlen(bad[i].json), &c, err, sizeof err);
    if (rc != CONFIG_EINVALID || !strstr(err, bad[i].expect))
      fail_msg("bad case %zu: rc=%d err='%s', expected '%s'", i, rc, err, bad[i].expect);
  }
}

static void json_need_not_be_terminated(void **state) {
  char buf[1024];
  size_t n = strlen(good);
  memcpy(buf, good, n);
  memset(buf + n, 'x', sizeof buf - n); /* garbage after the document */
  agent_config c;
  char err[256];
  assert_int_equal(config_parse(buf, n, &c, err, sizeof err), CONFIG_OK);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(parses_good_config),
      cmocka_unit_test(rejects_bad_configs),
      cmocka_unit_test(port_443_needs_no_allowance),
      cmocka_unit_test(priority_keys),
      cmocka_unit_test(json_need_not_be_terminated),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
