/* Collectors: content checked against what /proc, /sys and dpkg say on this
 * machine; 2,000 fake processes and 5,000 fake packages stream with a flat
 * heap; every line is valid JSON; the dpkg parser on edge cases. */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <malloc.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>
#include <cjson/cJSON.h>

#include "core/collect.h"
#include "core/dpkg.h"
#include "posix/os_posix.h"

typedef struct sink {
  int n;
  int bad_json;
  int summaries;
  char last[COLLECT_LINE_MAX];
  size_t heap_base, heap_max;
  int (*match)(struct sink *, cJSON *);
  int matched;
  long want_pid;
  int want_port;
} sink;

static size_t heap_now(void) { return mallinfo2().uordblks; }

static int on_line(void *user, const char *line, size_t len) {
  sink *s = user;
  s->n++;
  assert_int_equal(strlen(line), len);
  snprintf(s->last, sizeof s->last, "%s", line);
  size_t h = heap_now();
  if (h > s->heap_max) s->heap_max = h;
  cJSON *o = cJSON_Parse(line);
  if (!o) {
    s->bad_json++;
    return 0;
  }
  if (cJSON_GetObjectItem(o, "summary")) s->summaries++;
  if (s->match && s->match(s, o)) s->matched++;
  cJSON_Delete(o);
  return 0;
}

static os_posix px;
static os_shim os;

static int setup(void **state) { return os_posix_init(&os, &px, NULL) == OS_OK ? 0 : -1; }

static int is_self(sink *s, cJSON *o) {
  cJSON *pid = cJSON_GetObjectItem(o, "pid"), *name = cJSON_GetObjectItem(o, "name");
  if (!cJSON_IsNumber(pid) || (long)pid->valuedouble != s->want_pid) return 0;
  char comm[64] = "";
  FILE *f = fopen("/proc/self/comm", "r");
  assert_non_null(f);
  assert_non_null(fgets(comm, sizeof comm, f));
  fclose(f);
  comm[strcspn(comm, "\n")] = 0;
  assert_string_equal(name->valuestring, comm);
  assert_int_equal((int)cJSON_GetObjectItem(o, "uid")->valuedouble, (int)getuid());
  assert_true(cJSON_GetObjectItem(o, "rss_kb")->valuedouble > 0);
  assert_non_null(strstr(cJSON_GetObjectItem(o, "cmdline")->valuestring, "test_core_collect"));
  return 1;
}

static void processes_match_proc(void **state) {
  sink s = {.match = is_self, .want_pid = getpid()};
  int64_t items = 0;
  assert_int_equal(collect_snapshot(POLICY_SNAP_PROCESSES, &os, NULL, 100000, on_line, &s, &items),
                   COLLECT_OK);
  assert_int_equal(s.bad_json, 0);
  assert_int_equal(s.matched, 1); /* our own process, with the right name, uid, cmdline */
  assert_int_equal(s.summaries, 1);
  assert_true(items >= 1);
  assert_non_null(strstr(s.last, "\"summary\":true"));
  assert_non_null(strstr(s.last, "\"truncated\":false"));
}

static int port_is(sink *s, cJSON *o) {
  cJSON *p = cJSON_GetObjectItem(o, "port"), *a = cJSON_GetObjectItem(o, "addr");
  return cJSON_IsNumber(p) && (int)p->valuedouble == s->want_port && cJSON_IsString(a) &&
         strcmp(a->valuestring, "127.0.0.1") == 0 &&
         strcmp(cJSON_GetObjectItem(o, "proto")->valuestring, "tcp") == 0;
}

static void ports_see_a_listener(void **state) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
  assert_int_equal(listen(fd, 1), 0);
  socklen_t len = sizeof a;
  getsockname(fd, (struct sockaddr *)&a, &len);
  sink s = {.match = port_is, .want_port = ntohs(a.sin_port)};
  assert_int_equal(collect_snapshot(POLICY_SNAP_PORTS, &os, NULL, 100000, on_line, &s, NULL),
                   COLLECT_OK);
  close(fd);
  assert_int_equal(s.bad_json, 0);
  assert_int_equal(s.matched, 1);
}

static int is_lo(sink *s, cJSON *o) {
  cJSON *n = cJSON_GetObjectItem(o, "name"), *mac = cJSON_GetObjectItem(o, "mac");
  return cJSON_IsString(n) && strcmp(n->valuestring, "lo") == 0 && cJSON_IsString(mac) &&
         strcmp(mac->valuestring, "00:00:00:00:00:00") == 0;
}

static void interfaces_have_lo(void **state) {
  sink s = {.match = is_lo};
  assert_int_equal(collect_snapshot(POLICY_SNAP_INTERFACES, &os, NULL, 1000, on_line, &s, NULL),
                   COLLECT_OK);
  assert_int_equal(s.bad_json, 0);
  assert_int_equal(s.matched, 1);
}

static int lo_v4, lo_v6;
static int lo_addr(sink *s, cJSON *o) {
  cJSON *n = cJSON_GetObjectItem(o, "name"), *a4 = cJSON_GetObjectItem(o, "ipv4"),
        *a6 = cJSON_GetObjectItem(o, "ipv6");
  if (!cJSON_IsString(n) || strcmp(n->valuestring, "lo") != 0) return 0;
  if (cJSON_IsString(a4) && strcmp(a4->valuestring, "127.0.0.1") == 0 &&
      cJSON_GetObjectItem(o, "prefix")->valuedouble == 8)
    lo_v4++;
  if (cJSON_IsString(a6) && strcmp(a6->valuestring, "::1") == 0) lo_v6++;
  return 0;
}

/* ::1 is on lo when the kernel's own table lists it (IPv6 may be off). */
static int kernel_has_lo_v6(void) {
  FILE *f = fopen("/proc/net/if_inet6", "r");
  char line[256];
  int have = 0;
  if (!f) return 0;
  while (fgets(line, sizeof line, f))
    if (strncmp(line, "00000000000000000000000000000001", 32) == 0 && strstr(line, " lo"))
      have = 1;
  fclose(f);
  return have;
}

static void interfaces_have_lo_addresses(void **state) {
  sink s = {.match = lo_addr};
  lo_v4 = lo_v6 = 0;
  assert_non_null(os.list_addrs);
  assert_int_equal(collect_snapshot(POLICY_SNAP_INTERFACES, &os, NULL, 1000, on_line, &s, NULL),
                   COLLECT_OK);
  assert_int_equal(s.bad_json, 0);
  assert_int_equal(lo_v4, 1);
  assert_int_equal(lo_v6, kernel_has_lo_v6());
}

static void packages_match_dpkg(void **state) {
  FILE *f = fopen("/var/lib/dpkg/status", "r");
  if (!f) skip();
  char line[4096];
  int want = 0;
  while (fgets(line, sizeof line, f))
    if (strncmp(line, "Status: ", 8) == 0 && strstr(line, " installed\n")) want++;
  fclose(f);
  sink s = {0};
  int64_t items = 0;
  assert_int_equal(collect_snapshot(POLICY_SNAP_PACKAGES, &os, NULL, 100000, on_line, &s, &items),
                   COLLECT_OK);
  assert_int_equal(s.bad_json, 0);
  assert_int_equal(items, want);
  assert_true(want > 10);
}

/* ---- large fake trees: streaming with a flat heap ---- */

static char tmp[64];

static void rm_tmp(void) {
  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp);
  assert_int_equal(system(cmd), 0);
}

static void write_file(const char *path, const char *text) {
  FILE *f = fopen(path, "w");
  assert_non_null(f);
  fputs(text, f);
  fclose(f);
}

static void two_thousand_processes_stream(void **state) {
  snprintf(tmp, sizeof tmp, "/tmp/outpost-proc-XXXXXX");
  assert_non_null(mkdtemp(tmp));
  char p[256], text[512];
  snprintf(p, sizeof p, "%s/stat", tmp);
  write_file(p, "cpu 1 2 3\nbtime 1700000000\n");
  for (int pid = 1; pid <= 2000; pid++) {
    snprintf(p, sizeof p, "%s/%d", tmp, pid);
    assert_int_equal(mkdir(p, 0755), 0);
    snprintf(p, sizeof p, "%s/%d/stat", tmp, pid);
    snprintf(text, sizeof text,
             "%d (w) (x\") S 1 %d %d 0 -1 4194560 0 0 0 0 0 0 0 0 20 0 1 0 %d 1000 50 0\n", pid,
             pid, pid, pid * 100);
    write_file(p, text);
    snprintf(p, sizeof p, "%s/%d/status", tmp, pid);
    write_file(p, "Name:\tw\nUid:\t1000\t1000\t1000\t1000\nVmRSS:\t  1234 kB\n");
    snprintf(p, sizeof p, "%s/%d/cmdline", tmp, pid);
    FILE *f = fopen(p, "w");
    fwrite("/bin/w\0--flag\0\"quoted\"\0", 1, 24, f);
    fclose(f);
  }
  collect_roots roots = {.proc = tmp};
  sink s = {.heap_base = heap_now()};
  s.heap_max = s.heap_base;
  int64_t items = 0;
  assert_int_equal(collect_snapshot(POLICY_SNAP_PROCESSES, &os, &roots, 5000, on_line, &s, &items),
                   COLLECT_OK);
  assert_int_equal(items, 2000);
  assert_int_equal(s.bad_json, 0);
  /* The collector holds nothing per process: the heap during the snapshot
   * (opendir's buffer, cJSON's parse of one line in the sink) stays small. */
  assert_true(s.heap_max - s.heap_base < 256 * 1024);
  /* The cap truncates and says so. */
  sink t = {0};
  assert_int_equal(collect_snapshot(POLICY_SNAP_PROCESSES, &os, &roots, 500, on_line, &t, &items),
                   COLLECT_OK);
  assert_int_equal(items, 500);
  assert_non_null(strstr(t.last, "\"truncated\":true"));
  rm_tmp();
}

static void five_thousand_packages_stream(void **state) {
  snprintf(tmp, sizeof tmp, "/tmp/outpost-dpkg-XXXXXX");
  assert_non_null(mkdtemp(tmp));
  char p[256];
  snprintf(p, sizeof p, "%s/status", tmp);
  FILE *f = fopen(p, "w");
  for (int i = 0; i < 5200; i++)
    fprintf(f,
            "Package: pkg%d\nStatus: %s\nPriority: optional\nVersion: 1.%d-2\n"
            "Architecture: amd64\nDescription: test\n more text\n .\n\n",
            i, i < 5000 ? "install ok installed" : "deinstall ok config-files", i);
  fclose(f);
  collect_roots roots = {.dpkg_status = p};
  sink s = {.heap_base = heap_now()};
  s.heap_max = s.heap_base;
  int64_t items = 0;
  assert_int_equal(collect_snapshot(POLICY_SNAP_PACKAGES, &os, &roots, 20000, on_line, &s, &items),
                   COLLECT_OK);
  assert_int_equal(items, 5000);
  assert_int_equal(s.bad_json, 0);
  assert_true(s.heap_max - s.heap_base < 256 * 1024);
  rm_tmp();
}

static void diagnostics_are_json(void **state) {
  for (int d = 0; d < POLICY_DIAG_COUNT; d++) {
    sink s = {0};
    assert_int_equal(collect_diag((policy_diag)d, &os, NULL, "/tmp", on_line, &s), COLLECT_OK);
    assert_int_equal(s.n, 1);
    if (s.bad_json) fail_msg("diag %s: not JSON: %s", policy_diag_name((policy_diag)d), s.last);
    char want[64];
    snprintf(want, sizeof want, "{\"diag\":\"%s\"", policy_diag_name((policy_diag)d));
    assert_memory_equal(s.last, want, strlen(want));
  }
  sink s = {0};
  collect_diag(POLICY_DIAG_MEMORY, &os, NULL, "/tmp", on_line, &s);
  assert_non_null(strstr(s.last, "\"MemTotal_kb\":"));
  collect_diag(POLICY_DIAG_UPTIME, &os, NULL, "/tmp", on_line, &s);
  assert_non_null(strstr(s.last, "\"uptime_s\":"));
  assert_int_equal(collect_diag((policy_diag)99, &os, NULL, "/tmp", on_line, &s), COLLECT_EINVAL);
}

typedef struct pk {
  int n;
  dpkg_pkg last;
} pk;

static int on_pkg(void *user, const dpkg_pkg *p) {
  pk *k = user;
  k->n++;
  k->last = *p;
  return 0;
}

static void dpkg_edge_cases(void **state) {
  const char *text =
      "Package: a\nStatus: install ok installed\nVersion: 1\nArchitecture: all\n\n"
      "Package: b\nStatus: deinstall ok config-files\n\n"
      "Package: c\r\nStatus: install ok installed \r\n Continuation: Package: evil\n"
      "Architecture: amd64\nVersion:   2:1.0-1  ";
  for (size_t chunk = 1; chunk <= strlen(text); chunk += 7) {
    dpkg_parser p;
    pk k = {0};
    dpkg_init(&p, on_pkg, &k);
    for (size_t i = 0; i < strlen(text); i += chunk) {
      size_t n = strlen(text) - i < chunk ? strlen(text) - i : chunk;
      dpkg_feed(&p, text + i, n);
    }
    dpkg_finish(&p);
    assert_int_equal(k.n, 2);
    assert_string_equal(k.last.name, "c");
    assert_string_equal(k.last.version, "2:1.0-1");
    assert_string_equal(k.last.arch, "amd64");
  }
  /* An over-long value is cut, a control byte neutralised. */
  char big[2000];
  int n = snprintf(big, sizeof big, "Package: ");
  memset(big + n, 'x', 300);
  n += 300;
  n += snprintf(big + n, sizeof big - (size_t)n, "\nVersion: 1\x01\nStatus: hold ok installed\n\n");
  dpkg_parser p;
  pk k = {0};
  dpkg_init(&p, on_pkg, &k);
  dpkg_feed(&p, big, (size_t)n);
  dpkg_finish(&p);
  assert_int_equal(k.n, 1);
  assert_int_equal(strlen(k.last.name), DPKG_FIELD_MAX - 1);
  assert_string_equal(k.last.version, "1?");
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(processes_match_proc),
      cmocka_unit_test(ports_see_a_listener),
      cmocka_unit_test(interfaces_have_lo),
      cmocka_unit_test(interfaces_have_lo_addresses),
      cmocka_unit_test(packages_match_dpkg),
      cmocka_unit_test(two_thousand_processes_stream),
      cmocka_unit_test(five_thousand_packages_stream),
      cmocka_unit_test(diagnostics_are_json),
      cmocka_unit_test(dpkg_edge_cases),
  };
  return cmocka_run_group_tests(tests, setup, NULL);
}
