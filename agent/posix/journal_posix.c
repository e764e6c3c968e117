/* journal_posix.c - sd-journal behind shim/journal.h (see journal_posix.h). */
#include "posix/journal_posix.h"

#include <dirent.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#ifdef OUTPOST_HAVE_SYSTEMD
#include <systemd/sd-journal.h>
#endif

typedef struct jp {
  char root[256];
#ifdef OUTPOST_HAVE_SYSTEMD
  sd_journal *j;
#endif
} jp;

static jp g_jp;

/* A directory holding at least one entry (a machine-id dir or a file). */
static int nonempty_dir(const char *path) {
  DIR *d = opendir(path);
  if (!d) return 0;
  struct dirent *e;
  int any = 0;
  for (int i = 0; i < 64 && (e = readdir(d)) != NULL; i++)
    if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0) {
      any = 1;
      break;
    }
  closedir(d);
  return any;
}

static int has_journal(const jp *p) {
  char path[512];
  struct stat st;
  snprintf(path, sizeof path, "%s/run/systemd/journal/socket", p->root);
  if (stat(path, &st) == 0) return 1;
  snprintf(path, sizeof path, "%s/run/log/journal", p->root);
  if (nonempty_dir(path)) return 1;
  snprintf(path, sizeof path, "%s/var/log/journal", p->root);
  return nonempty_dir(path);
}

static int jp_open(void *ctx) {
  jp *p = ctx;
  if (!has_journal(p)) return OS_ENOENT;
#ifdef OUTPOST_HAVE_SYSTEMD
  if (p->j) return OS_OK;
  /* Under another root (a test's tree, a mounted image) its own journal
   * files, found below <root>/var/log/journal and <root>/run/log/journal. */
  int r = p->root[0] ? sd_journal_open_directory(&p->j, p->root, SD_JOURNAL_OS_ROOT)
                     : sd_journal_open(&p->j, SD_JOURNAL_LOCAL_ONLY);
  if (r < 0) {
    p->j = NULL;
    return OS_EIO;
  }
  return OS_OK;
#else
  return OS_ENOSYS;
#endif
}

static int jp_seek(void *ctx, const char *cursor) {
#ifdef OUTPOST_HAVE_SYSTEMD
  jp *p = ctx;
  if (!p->j) return OS_EBADF;
  if (cursor && cursor[0]) {
    /* seek_cursor lands on the entry (or the nearest one): test_cursor
     * tells whether it is the very one, which then is skipped. */
    if (sd_journal_seek_cursor(p->j, cursor) < 0 || sd_journal_next(p->j) <= 0 ||
        sd_journal_test_cursor(p->j, cursor) <= 0)
      return OS_EINVAL;
    return OS_OK;
  }
  if (sd_journal_seek_tail(p->j) < 0) return OS_EIO;
  sd_journal_previous(p->j); /* on the last entry: next() gives only new ones */
  return OS_OK;
#else
  (void)ctx, (void)cursor;
  return OS_ENOSYS;
#endif
}

#ifdef OUTPOST_HAVE_SYSTEMD
/* Copies FIELD=value's value into out (cut to fit). */
static void jp_field(sd_journal *j, const char *field, char *out, size_t cap) {
  const void *data;
  size_t len, fl = strlen(field);
  out[0] = 0;
  if (sd_journal_get_data(j, field, &data, &len) < 0 || len <= fl) return;
  len -= fl + 1;
  if (len >= cap) len = cap - 1;
  memcpy(out, (const char *)data + fl + 1, len);
  out[len] = 0;
  for (size_t i = 0; i < len; i++)
    if (out[i] == 0) out[i] = ' '; /* binary fields: kept as text */
}
#endif

static int jp_next(void *ctx, journal_entry *out) {
#ifdef OUTPOST_HAVE_SYSTEMD
  jp *p = ctx;
  if (!p->j) return OS_EBADF;
  int r = sd_journal_next(p->j);
  if (r < 0) return OS_EIO;
  if (r == 0) return 0;
  memset(out, 0, sizeof *out);
  char *c = NULL;
  if (sd_journal_get_cursor(p->j, &c) < 0 || !c) return OS_EIO;
  snprintf(out->cursor, sizeof out->cursor, "%s", c);
  free(c);
  uint64_t us = 0;
  if (sd_journal_get_realtime_usec(p->j, &us) >= 0) out->realtime_us = (int64_t)us;
  jp_field(p->j, "MESSAGE", out->message, sizeof out->message);
  jp_field(p->j, "SYSLOG_IDENTIFIER", out->ident, sizeof out->ident);
  if (!out->ident[0]) jp_field(p->j, "_COMM", out->ident, sizeof out->ident);
  char pr[8];
  jp_field(p->j, "PRIORITY", pr, sizeof pr);
  out->priority = pr[0] >= '0' && pr[0] <= '7' ? pr[0] - '0' : -1;
  return 1;
#else
  (void)ctx, (void)out;
  return OS_ENOSYS;
#endif
}

static void jp_close(void *ctx) {
#ifdef OUTPOST_HAVE_SYSTEMD
  jp *p = ctx;
  if (p->j) sd_journal_close(p->j);
  p->j = NULL;
#else
  (void)ctx;
#endif
}

const journal_shim *journal_posix(const char *root) {
  static journal_shim shim = {&g_jp, jp_open, jp_seek, jp_next, jp_close};
  snprintf(g_jp.root, sizeof g_jp.root, "%s", root ? root : "");
  return &shim;
}
