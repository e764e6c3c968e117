/* dpkg.c - streaming /var/lib/dpkg/status parser (see dpkg.h). */
#include "core/dpkg.h"

#include <string.h>

void dpkg_init(dpkg_parser *p, dpkg_fn fn, void *user) {
  memset(p, 0, sizeof *p);
  p->fn = fn;
  p->user = user;
}

static void end_paragraph(dpkg_parser *p) {
  if (!p->stopped && p->installed && p->cur.name[0]) {
    p->packages++;
    if (p->fn && p->fn(p->user, &p->cur) != 0) p->stopped = 1;
  }
  memset(&p->cur, 0, sizeof p->cur);
  p->installed = 0;
}

static void set_field(char *dst, const char *v, size_t n) {
  while (n > 0 && (*v == ' ' || *v == '\t')) {
    v++;
    n--;
  }
  while (n > 0 && (v[n - 1] == ' ' || v[n - 1] == '\t' || v[n - 1] == '\r')) n--;
  if (n >= DPKG_FIELD_MAX) n = DPKG_FIELD_MAX - 1;
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)v[i];
    dst[i] = (c < 0x20 || c == 0x7f) ? '?' : (char)c; /* records are text */
  }
  dst[n] = 0;
}

static int field_is(const char *line, size_t len, const char *name, size_t *vstart) {
  size_t n = strlen(name);
  if (len <= n || memcmp(line, name, n) != 0 || line[n] != ':') return 0;
  *vstart = n + 1;
  return 1;
}

static void do_line(dpkg_parser *p, const char *line, size_t len) {
  if (len > 0 && line[len - 1] == '\r') len--;
  if (len == 0) {
    end_paragraph(p);
    return;
  }
  if (line[0] == ' ' || line[0] == '\t') return; /* continuation */
  size_t v;
  if (field_is(line, len, "Package", &v)) {
    set_field(p->cur.name, line + v, len - v);
  } else if (field_is(line, len, "Version", &v)) {
    set_field(p->cur.version, line + v, len - v);
  } else if (field_is(line, len, "Architecture", &v)) {
    set_field(p->cur.arch, line + v, len - v);
  } else if (field_is(line, len, "Status", &v)) {
    /* "want flag status": installed only when the last word is "installed". */
    size_t n = len - v;
    const char *s = line + v;
    while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t')) n--;
    p->installed = n >= 10 && memcmp(s + n - 10, " installed", 10) == 0;
  }
}

int dpkg_feed(dpkg_parser *p, const char *data, size_t len) {
  for (size_t i = 0; i < len && !p->stopped; i++) {
    char c = data[i];
    if (c == '\n') {
      if (!p->overlong) do_line(p, p->line, p->line_len);
      p->line_len = 0;
      p->overlong = 0;
      continue;
    }
    if (p->overlong) continue;
    if (p->line_len >= sizeof p->line) {
      p->overlong = 1; /* not a field we keep whole anyway */
      continue;
    }
    p->line[p->line_len++] = c;
  }
  return p->stopped;
}

int dpkg_finish(dpkg_parser *p) {
  if (!p->stopped && p->line_len > 0 && !p->overlong) do_line(p, p->line, p->line_len);
  p->line_len = 0;
  p->overlong = 0;
  end_paragraph(p);
  return p->stopped;
}
