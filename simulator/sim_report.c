#include "sim_report.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "sim_replay.h"

/* ---- the timeline ------------------------------------------------------- */

sim_report_timeline *sim_report_timeline_new(int64_t total_ms) {
  sim_report_timeline *tl = calloc(1, sizeof *tl);
  if (!tl) return NULL;
  if (total_ms < 0) total_ms = 0;
  /* Evenly spaced, rounded up to whole 10 s so the x axis reads well. */
  int64_t iv = total_ms / SIM_REPORT_MAX_SAMPLES + 1;
  iv = (iv + SIM_REPORT_MIN_INTERVAL_MS - 1) / SIM_REPORT_MIN_INTERVAL_MS * SIM_REPORT_MIN_INTERVAL_MS;
  tl->interval_ms = iv;
  tl->next_ms = 0;
  return tl;
}

void sim_report_timeline_free(sim_report_timeline *tl) { free(tl); }

sim_report_sample *sim_report_sample_add(sim_report_timeline *tl, int64_t t_ms, int final) {
  if (!tl) return NULL;
  if (!final && tl->n >= SIM_REPORT_MAX_SAMPLES) {
    tl->next_ms = INT64_MAX;
    return NULL;
  }
  if (final && tl->n > 0 && tl->s[tl->n - 1].t_ms == t_ms) tl->n--; /* the end falls on a sample */
  if (tl->n >= SIM_REPORT_MAX_SAMPLES + 1) return NULL;
  sim_report_sample *s = &tl->s[tl->n++];
  memset(s, 0, sizeof *s);
  s->t_ms = t_ms;
  tl->next_ms = final || tl->n >= SIM_REPORT_MAX_SAMPLES ? INT64_MAX : t_ms + tl->interval_ms;
  return s;
}

int sim_report_version_slot(sim_report_timeline *tl, const char *version) {
  for (int i = 0; i < tl->n_versions; i++)
    if (strcmp(tl->versions[i], version) == 0) return i;
  if (tl->n_versions >= SIM_REPORT_MAX_VERSIONS || strlen(version) >= sizeof tl->versions[0])
    return SIM_REPORT_MAX_VERSIONS;
  snprintf(tl->versions[tl->n_versions], sizeof tl->versions[0], "%s", version);
  return tl->n_versions++;
}

/* ---- small helpers ------------------------------------------------------ */

void sim_report_html_text(FILE *o, const char *s) {
  for (; s && *s; s++) {
    unsigned char c = (unsigned char)*s;
    switch (c) {
      case '&': fputs("&amp;", o); break;
      case '<': fputs("&lt;", o); break;
      case '>': fputs("&gt;", o); break;
      case '"': fputs("&quot;", o); break;
      case '\'': fputs("&#39;", o); break;
      default:
        /* Control characters (but newline and tab) have no place in text. */
        if ((c < 0x20 && c != '\n' && c != '\t') || c == 0x7f) fputc('?', o);
        else fputc(c, o);
    }
  }
}

int32_t sim_report_agent_of(const char *detail) {
  /* The fleet's failure texts name the agent as "agent N" (sim_int.h lists the files). */
  for (const char *p = detail; p && (p = strstr(p, "agent ")) != NULL; p += 6) {
    if (p > detail && isalnum((unsigned char)p[-1])) continue;
    const char *d = p + 6;
    if (!isdigit((unsigned char)*d)) continue;
    long v = 0;
    int k = 0;
    for (; isdigit((unsigned char)*d) && k < 9; d++, k++) v = v * 10 + (*d - '0');
    if (k < 9) return (int32_t)v;
  }
  return -1;
}

static void fmt_time(int64_t ms, char *out, size_t cap) {
  int64_t s = ms / 1000;
  if (s >= 86400) snprintf(out, cap, "%lldd%02lldh", (long long)(s / 86400), (long long)(s / 3600 % 24));
  else snprintf(out, cap, "%lld:%02lld:%02lld", (long long)(s / 3600), (long long)(s / 60 % 60),
                (long long)(s % 60));
}

static void fmt_num(double v, char *out, size_t cap) {
  double a = fabs(v);
  if (a >= 1e9) snprintf(out, cap, "%.3gG", v / 1e9);
  else if (a >= 1e6) snprintf(out, cap, "%.3gM", v / 1e6);
  else if (a >= 1e4) snprintf(out, cap, "%.3gk", v / 1e3);
  else if (a == floor(a)) snprintf(out, cap, "%.0f", v);
  else snprintf(out, cap, "%.2g", v);
}

/* ---- charts ------------------------------------------------------------- */

#define CH_MAX_SERIES 8
#define CH_MAX_POINTS (SIM_REPORT_MAX_SAMPLES + 1)

typedef struct chart {
  const char *id;
  char title[160];
  int w, h;
  int n;
  int64_t t[CH_MAX_POINTS];
  double y[CH_MAX_SERIES][CH_MAX_POINTS];
  char name[CH_MAX_SERIES][48];
  int ns;
  double hline;      /* a limit drawn across, < 0 none */
  char hline_label[80];
} chart;

static void chart_reset(chart *c, const char *id, const char *title, int w) {
  c->id = id;
  snprintf(c->title, sizeof c->title, "%s", title);
  c->w = w;
  c->h = 200;
  c->n = 0;
  c->ns = 0;
  c->hline = -1;
  c->hline_label[0] = 0;
}

static int chart_series(chart *c, const char *name) {
  if (c->ns >= CH_MAX_SERIES) return -1;
  snprintf(c->name[c->ns], sizeof c->name[0], "%s", name);
  return c->ns++;
}

static double nice_ceil(double v) {
  if (v <= 1) return 1;
  double p = pow(10, floor(log10(v)));
  static const double steps[] = {1, 2, 2.5, 5, 10};
  for (size_t i = 0; i < sizeof steps / sizeof steps[0]; i++)
    if (steps[i] * p >= v) return steps[i] * p;
  return 10 * p;
}

static const int64_t tick_steps[] = {10000,   30000,    60000,    120000,   300000,
                                     600000,  900000,   1800000,  3600000,  7200000,
                                     10800000, 21600000, 43200000, 86400000, 172800000,
                                     432000000};

static void chart_draw(FILE *o, const chart *c, const sim_report_input *in) {
  const double L = 56, R = 12, T = 28, B = 24;
  const double pw = c->w - L - R, ph = c->h - T - B;
  const double tmax = in->sim_ms > 0 ? (double)in->sim_ms : 1;
  double ymax = c->hline > 0 ? c->hline : 0;
  for (int k = 0; k < c->ns; k++)
    for (int i = 0; i < c->n; i++)
      if (c->y[k][i] > ymax) ymax = c->y[k][i];
  ymax = nice_ceil(ymax * 1.05);
  fprintf(o, "<figure class=\"chart\"><svg class=\"chart\" data-chart=\"%s\" viewBox=\"0 0 %d %d\" "
             "width=\"%d\" height=\"%d\" role=\"img\" aria-label=\"", c->id, c->w, c->h, c->w, c->h);
  sim_report_html_text(o, c->title);
  fprintf(o, "\"><text class=\"title\" x=\"%g\" y=\"16\">", L);
  sim_report_html_text(o, c->title);
  fprintf(o, "</text>\n");
  /* grid: 0, half, max */
  for (int g = 0; g <= 2; g++) {
    double v = ymax * g / 2.0, y = T + ph - ph * g / 2.0;
    char lab[32];
    fmt_num(v, lab, sizeof lab);
    fprintf(o, "<line class=\"grid\" x1=\"%g\" x2=\"%g\" y1=\"%.1f\" y2=\"%.1f\"/>"
               "<text class=\"ylab\" x=\"%g\" y=\"%.1f\">%s</text>\n",
            L, L + pw, y, y, L - 4, y + 4, lab);
  }
  int64_t step = tick_steps[sizeof tick_steps / sizeof tick_steps[0] - 1];
  int max_ticks = c->w >= 600 ? 8 : 4;
  for (size_t i = 0; i < sizeof tick_steps / sizeof tick_steps[0]; i++)
    if (tmax / (double)tick_steps[i] <= max_ticks) {
      step = tick_steps[i];
      break;
    }
  for (int64_t t = 0; t <= (int64_t)tmax; t += step) {
    double x = L + pw * (double)t / tmax;
    char lab[32];
    fmt_time(t, lab, sizeof lab);
    /* the last label ends at the edge rather than being cut there */
    fprintf(o, "<text class=\"xlab%s\" x=\"%.1f\" y=\"%g\">%s</text>",
            x > L + pw - 24 ? " r" : "", x, (double)c->h - 6, lab);
  }
  fprintf(o, "\n");
  /* the scenario's events, with their text on hover */
  const sim_scenario *s = in->scn;
  for (int i = 0; i < s->n_events; i++) {
    const sim_scn_event *e = &s->events[i];
    double x = L + pw * (double)(e->at_s * 1000) / tmax;
    if (x > L + pw) continue;
    char at[32];
    fmt_time(e->at_s * 1000, at, sizeof at);
    fprintf(o, "<line class=\"ev\" x1=\"%.1f\" x2=\"%.1f\" y1=\"%g\" y2=\"%g\"><title>%s %s", x, x,
            T, T + ph, at, sim_scenario_event_name(e->type));
    if (e->agents_count > 0 || e->agents_pct > 0)
      fprintf(o, " (%lld agents)", (long long)sim_scenario_event_agents(e, in->agents));
    fprintf(o, "</title></line>\n");
  }
  double xe = L + pw * (double)(s->duration_s * 1000) / tmax;
  if (xe <= L + pw)
    fprintf(o, "<line class=\"end\" x1=\"%.1f\" x2=\"%.1f\" y1=\"%g\" y2=\"%g\"><title>the scenario "
               "ends, the drain begins</title></line>\n", xe, xe, T, T + ph);
  if (c->hline > 0) {
    double y = T + ph - ph * c->hline / ymax;
    fprintf(o, "<line class=\"limit\" x1=\"%g\" x2=\"%g\" y1=\"%.1f\" y2=\"%.1f\"><title>", L,
            L + pw, y, y);
    sim_report_html_text(o, c->hline_label);
    fprintf(o, "</title></line>\n");
  }
  for (int k = 0; k < c->ns; k++) {
    fprintf(o, "<polyline class=\"s c%d\" points=\"", k);
    for (int i = 0; i < c->n; i++)
      fprintf(o, "%s%.1f,%.1f", i ? " " : "", L + pw * (double)c->t[i] / tmax,
              T + ph - ph * c->y[k][i] / ymax);
    fprintf(o, "\"><title>");
    sim_report_html_text(o, c->name[k]);
    fprintf(o, "</title></polyline>\n");
  }
  fprintf(o, "</svg><figcaption>");
  for (int k = 0; k < c->ns; k++) {
    double peak = 0, last = c->n ? c->y[k][c->n - 1] : 0;
    for (int i = 0; i < c->n; i++)
      if (c->y[k][i] > peak) peak = c->y[k][i];
    char p[32], l[32];
    fmt_num(peak, p, sizeof p);
    fmt_num(last, l, sizeof l);
    fprintf(o, "<span class=\"key\"><span class=\"sw c%d\"></span>", k);
    sim_report_html_text(o, c->name[k]);
    fprintf(o, " <small>(peak %s, end %s)</small></span> ", p, l);
  }
  if (c->hline > 0) {
    fprintf(o, "<span class=\"key\"><span class=\"sw limit\"></span>");
    sim_report_html_text(o, c->hline_label);
    fprintf(o, "</span>");
  }
  fprintf(o, "</figcaption></figure>\n");
}

/* Copies field f of every sample into series k. */
#define CHART_FROM_SAMPLES(c, tl, k, expr)                  \
  do {                                                      \
    for (int i_ = 0; i_ < (tl)->n; i_++) {                  \
      const sim_report_sample *sp = &(tl)->s[i_];           \
      (c)->t[i_] = sp->t_ms;                                \
      (c)->y[(k)][i_] = (double)(expr);                     \
    }                                                       \
    (c)->n = (tl)->n;                                       \
  } while (0)

static const char *const ring_label[SIM_REPORT_RINGS] = {"canary", "early-access", "stable"};

static void charts(FILE *o, chart *c, const sim_report_input *in) {
  const sim_report_timeline *tl = in->tl;
  if (tl && tl->n > 0) {
    chart_reset(c, "records", "Records on the agents' disks, and shed", 960);
    int a = chart_series(c, "spooled (in flight: read, not yet acked)");
    int b = chart_series(c, "shed (cumulative)");
    CHART_FROM_SAMPLES(c, tl, a, sp->spooled);
    CHART_FROM_SAMPLES(c, tl, b, sp->shed);
    chart_draw(o, c, in);

    chart_reset(c, "delivery", "Records produced, acked by the cloud, stored (cumulative)", 960);
    a = chart_series(c, "produced");
    b = chart_series(c, "acked");
    int d = chart_series(c, "in the cloud's store");
    CHART_FROM_SAMPLES(c, tl, a, sp->produced);
    CHART_FROM_SAMPLES(c, tl, b, sp->acked);
    CHART_FROM_SAMPLES(c, tl, d, sp->cloud_records);
    chart_draw(o, c, in);

    chart_reset(c, "disruptions", "Alerts in the cloud, restarts, crashes, power cuts (cumulative)", 960);
    a = chart_series(c, "alerts");
    b = chart_series(c, "restarts");
    d = chart_series(c, "crashes");
    int e = chart_series(c, "power cuts");
    CHART_FROM_SAMPLES(c, tl, a, sp->alerts);
    CHART_FROM_SAMPLES(c, tl, b, sp->restarts);
    CHART_FROM_SAMPLES(c, tl, d, sp->crashes);
    CHART_FROM_SAMPLES(c, tl, e, sp->power_cuts);
    chart_draw(o, c, in);
  }
  /* The cloud's request curve: the peak minute of each window, so a burst
   * survives the down-sampling (max_requests_per_min is about peaks). */
  if (in->rate && in->rate_len > 0) {
    int64_t per = (in->rate_len + CH_MAX_POINTS - 1) / CH_MAX_POINTS;
    char title[160];
    if (per > 1)
      snprintf(title, sizeof title, "Requests to the cloud per minute (peak of each %lld minutes)",
               (long long)per);
    else
      snprintf(title, sizeof title, "Requests to the cloud per minute");
    chart_reset(c, "requests", title, 960);
    int a = chart_series(c, "requests per minute");
    int64_t last_min = in->sim_ms / 60000;
    for (int64_t m = 0; m <= last_min && m < in->rate_len && c->n < CH_MAX_POINTS; m += per) {
      int64_t peak = 0;
      for (int64_t j = m; j < m + per && j < in->rate_len; j++)
        if (in->rate[j] > peak) peak = in->rate[j];
      c->t[c->n] = m * 60000;
      c->y[a][c->n++] = (double)peak;
    }
    if (in->scn->max_requests_per_min > 0) {
      c->hline = (double)in->scn->max_requests_per_min;
      snprintf(c->hline_label, sizeof c->hline_label, "expect.max_requests_per_min %lld (from %lld s)",
               (long long)in->scn->max_requests_per_min, (long long)in->scn->rate_from_s);
    }
    chart_draw(o, c, in);
  }
  if (tl && tl->n > 0 && tl->updates) {
    chart_reset(c, "installs", "Installs by ring, and rollbacks (cumulative)", 960);
    for (int r = tl->rings ? 0 : SIM_REPORT_RINGS - 1; r < SIM_REPORT_RINGS; r++) {
      char nm[48];
      snprintf(nm, sizeof nm, "installs%s%s", tl->rings ? ", " : "", tl->rings ? ring_label[r] : "");
      int k = chart_series(c, nm);
      CHART_FROM_SAMPLES(c, tl, k, sp->installs[r]);
    }
    int k = chart_series(c, "rollbacks");
    CHART_FROM_SAMPLES(c, tl, k, sp->rollbacks);
    chart_draw(o, c, in);
    /* versions by ring: small multiples side by side */
    fprintf(o, "<div class=\"row\">\n");
    for (int r = tl->rings ? 0 : SIM_REPORT_RINGS - 1; r < SIM_REPORT_RINGS; r++) {
      char title[96];
      snprintf(title, sizeof title, "Agents per version%s%s", tl->rings ? ": " : "",
               tl->rings ? ring_label[r] : "");
      chart_reset(c, "versions", title, tl->rings ? 316 : 960);
      for (int v = 0; v <= tl->n_versions && v <= SIM_REPORT_MAX_VERSIONS; v++) {
        int slot = v < tl->n_versions ? v : SIM_REPORT_MAX_VERSIONS;
        if (v == tl->n_versions) { /* "other" only when something fell there */
          int any = 0;
          for (int i = 0; i < tl->n; i++) any |= tl->s[i].on_version[r][slot] != 0;
          if (!any) break;
        }
        int kk = chart_series(c, slot < SIM_REPORT_MAX_VERSIONS ? tl->versions[slot] : "other");
        if (kk < 0) break;
        CHART_FROM_SAMPLES(c, tl, kk, sp->on_version[r][slot]);
      }
      chart_draw(o, c, in);
    }
    fprintf(o, "</div>\n");
  }
}

/* ---- the failing agent's story ------------------------------------------ */

typedef struct story {
  char (*line)[SIM_REPLAY_TEXT_MAX + 40];
  int64_t total; /* lines emitted; the last SIM_REPORT_STORY_LINES are kept */
} story;

static int story_emit(void *user, int64_t t, const char *text) {
  story *s = user;
  char ts[32];
  sim_replay_format_time(t, ts, sizeof ts);
  snprintf(s->line[s->total % SIM_REPORT_STORY_LINES], sizeof s->line[0], "%12s  %s", ts, text);
  s->total++;
  return 0;
}

static void run_command(FILE *o, const sim_report_input *in, int full, const char *out_dir) {
  char buf[64];
  fputs("outpost-sim run ", o);
  if (in->scenario_path) {
    sim_report_html_text(o, in->scenario_path);
  } else {
    fputs("scenarios/", o);
    sim_report_html_text(o, in->scn->name);
    fputs(".json", o);
  }
  snprintf(buf, sizeof buf, " --seed %" PRIu64 " --agents %lld", in->seed, (long long)in->agents);
  fputs(buf, o);
  if (full) {
    fputs(" --trace full --out ", o);
    sim_report_html_text(o, out_dir);
  }
}

static void story_section(FILE *o, const sim_report_input *in, int32_t who, const char *exp_name) {
  fprintf(o, "<section id=\"story\"><h2>The story of agent %d</h2>\n<p>The first agent a failed "
             "expectation names (<code>", (int)who);
  sim_report_html_text(o, exp_name);
  fprintf(o, "</code>), from the run's trace: its events, its own log lines, the faults that hit it "
             "and its installs, up to where the run stopped.</p>\n");
  const char *dir = in->out_dir ? in->out_dir : "OUT";
  FILE *tf = in->trace_path ? fopen(in->trace_path, "r") : NULL;
  story s = {.total = 0};
  s.line = tf ? calloc(SIM_REPORT_STORY_LINES, sizeof *s.line) : NULL;
  if (tf && s.line) {
    sim_replay_options ro = {.agent = who, .from_ms = 0, .to_ms = INT64_MAX};
    sim_replay_stats st;
    char err[512];
    int rc = sim_replay_stream(tf, "trace.jsonl", &ro, story_emit, &s, &st, err, sizeof err);
    if (rc != SIM_REPLAY_OK) {
      fprintf(o, "<p class=\"warn\">The trace could not be read: ");
      sim_report_html_text(o, err);
      fprintf(o, "</p>\n");
    } else {
      if (s.total > SIM_REPORT_STORY_LINES)
        fprintf(o, "<p>The last %d of %lld story lines:</p>\n", SIM_REPORT_STORY_LINES,
                (long long)s.total);
      fprintf(o, "<pre class=\"story\">");
      int64_t first = s.total > SIM_REPORT_STORY_LINES ? s.total - SIM_REPORT_STORY_LINES : 0;
      for (int64_t i = first; i < s.total; i++) {
        sim_report_html_text(o, s.line[i % SIM_REPORT_STORY_LINES]);
        fputc('\n', o);
      }
      fprintf(o, "</pre>\n");
    }
  }
  if (!in->trace_path) {
    fprintf(o, "<p class=\"warn\">This run kept no trace (no <code>--out</code>).</p>\n");
  } else if (tf && !s.line) {
    fprintf(o, "<p class=\"warn\">Out of memory reading the trace.</p>\n");
  } else if (!tf) {
    fprintf(o, "<p class=\"warn\">The trace cannot be opened.</p>\n");
  }
  if (!in->trace_full)
    fprintf(o, "<p class=\"warn\">This run kept a summary trace: faults, installs and results, "
               "but not the agent's events or log lines. For the whole story, run it again with "
               "a full trace and replay the agent:</p>\n");
  else
    fprintf(o, "<p>The whole story, or a window of it (<code>--from</code>, <code>--to</code>):</p>\n");
  fprintf(o, "<pre class=\"cmd\">");
  if (!in->trace_full) {
    run_command(o, in, 1, dir);
    fputc('\n', o);
  }
  fputs("outpost-sim replay ", o);
  sim_report_html_text(o, dir);
  fprintf(o, "/trace.jsonl --agent %d</pre>\n</section>\n", (int)who);
  free(s.line);
  if (tf) fclose(tf);
}

/* ---- the page ----------------------------------------------------------- */

static const char css[] =
    "body{font:14px/1.45 system-ui,sans-serif;margin:24px auto;max-width:1000px;color:#1d232a;"
    "padding:0 12px}"
    "h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 8px;border-bottom:1px solid #ccd}"
    ".verdict{display:inline-block;padding:2px 10px;border-radius:4px;color:#fff;font-weight:600}"
    ".pass .verdict,.verdict.pass{background:#2e7d32}.verdict.fail{background:#c62828}"
    "table{border-collapse:collapse;width:100%}td,th{border:1px solid #dde;padding:4px 8px;"
    "text-align:left;vertical-align:top}th{background:#f3f4f7}"
    "tr.exp.fail td{background:#fdecea}tr.exp.pass td.res{color:#2e7d32}tr.exp.fail td.res{color:#c62828;"
    "font-weight:600}"
    "code,pre{font:12.5px/1.4 ui-monospace,monospace}pre{background:#f6f7f9;padding:8px;"
    "overflow-x:auto;border:1px solid #e3e5ea}pre.story{max-height:640px;overflow-y:auto}"
    ".desc{white-space:pre-wrap}.meta{color:#555}.warn{color:#8a4b00}"
    "figure.chart{margin:8px 0 14px}svg.chart{max-width:100%;height:auto;background:#fbfbfd;"
    "border:1px solid #e3e5ea}"
    ".row{display:flex;gap:6px;flex-wrap:wrap}.row figure.chart{margin:8px 0}"
    "svg .title{font-size:13px;font-weight:600;fill:#1d232a}svg .ylab{font-size:11px;"
    "text-anchor:end;fill:#555}svg .xlab{font-size:11px;text-anchor:middle;fill:#555}svg .xlab.r{text-anchor:end}"
    "svg .grid{stroke:#e3e5ea}svg .ev{stroke:#f57c00;stroke-dasharray:3 3;stroke-width:1.5}"
    "svg .end{stroke:#555;stroke-dasharray:6 3}svg .limit{stroke:#c62828;stroke-dasharray:8 4}"
    "svg .s{fill:none;stroke-width:1.8}"
    ".c0{stroke:#1565c0;background:#1565c0}.c1{stroke:#c62828;background:#c62828}"
    ".c2{stroke:#2e7d32;background:#2e7d32}.c3{stroke:#6a1b9a;background:#6a1b9a}"
    ".c4{stroke:#ef6c00;background:#ef6c00}.c5{stroke:#00838f;background:#00838f}"
    ".c6{stroke:#5d4037;background:#5d4037}.c7{stroke:#9e9d24;background:#9e9d24}"
    "figcaption{font-size:12.5px;color:#333}.key{margin-right:14px;white-space:nowrap}"
    ".sw{display:inline-block;width:12px;height:4px;margin:0 5px 3px 0;vertical-align:middle}"
    ".sw.limit{background:#c62828}";

static void page(FILE *o, const sim_report_input *in, chart *c) {
  const sim_scenario *s = in->scn;
  int failed = 0;
  for (int i = 0; i < in->n_exp; i++) failed += !in->exp[i].pass;
  failed += in->failure && in->failure[0] && !failed; /* a failure outside the expectations */
  fprintf(o, "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n"
             /* No fetch of any kind: the page is whole without the network. */
             "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; "
             "style-src 'unsafe-inline'\">\n<meta name=\"viewport\" content=\"width=device-width\">\n"
             "<title>outpost-sim: ");
  sim_report_html_text(o, s->name);
  fprintf(o, ", seed %" PRIu64 "</title>\n<style>%s</style></head>\n<body class=\"%s\">\n", in->seed,
          css, failed ? "fail" : "pass");
  fprintf(o, "<h1>Scenario <code>");
  sim_report_html_text(o, s->name);
  fprintf(o, "</code> <span class=\"verdict %s\" id=\"verdict\">%s</span></h1>\n", failed ? "fail" : "pass",
          failed ? "FAILED" : "PASSED");
  fprintf(o, "<p class=\"desc\">");
  sim_report_html_text(o, s->description);
  fprintf(o, "</p>\n<p class=\"meta\">");
  if (s->n_claims) {
    fprintf(o, "Claims: ");
    for (int i = 0; i < s->n_claims; i++) {
      fprintf(o, "%s<code>", i ? ", " : "");
      sim_report_html_text(o, s->claims[i]);
      fprintf(o, "</code>");
    }
    fprintf(o, ". ");
  }
  char dur[32], simt[32];
  fmt_time(s->duration_s * 1000, dur, sizeof dur);
  fmt_time(in->sim_ms, simt, sizeof simt);
  fprintf(o, "Seed %" PRIu64 ", %lld agents, %s of scenario, %s simulated with the drain. "
             "%lld events, %lld lines written, %lld records acked, %lld in the cloud, "
             "%lld requests. Trace hash <code>%016" PRIx64 "</code>.</p>\n",
          in->seed, (long long)in->agents, dur, simt, (long long)in->events,
          (long long)in->lines_written, (long long)in->records_acked, (long long)in->cloud_records,
          (long long)in->requests, in->trace_hash);
  if (in->failure && in->failure[0]) {
    fprintf(o, "<p class=\"warn\" id=\"failure\"><b>First failure:</b> ");
    sim_report_html_text(o, in->failure);
    fprintf(o, "</p>\n");
  }

  fprintf(o, "<h2>Timeline</h2>\n<p class=\"meta\">Dashed orange lines are the scenario's events "
             "(hover for which), the grey one the end of the scenario and start of the drain.");
  if (in->tl && in->tl->n > 1)
    fprintf(o, " Sampled every %lld s.", (long long)(in->tl->interval_ms / 1000));
  fprintf(o, "</p>\n");
  charts(o, c, in);

  fprintf(o, "<h2>Expectations</h2>\n<p>%d of %d held. Replay this run (same seed, same fleet, "
             "same bytes):</p>\n<pre class=\"cmd\">",
          in->n_exp - (failed > in->n_exp ? in->n_exp : failed), in->n_exp);
  run_command(o, in, 0, NULL);
  fprintf(o, "</pre>\n<table id=\"expectations\"><tr><th>expectation</th><th>result</th>"
             "<th>evidence</th></tr>\n");
  int32_t who = -1;
  const char *who_exp = NULL;
  for (int i = 0; i < in->n_exp; i++) {
    const sim_report_expect *e = &in->exp[i];
    fprintf(o, "<tr class=\"exp %s\"><td><code>", e->pass ? "pass" : "fail");
    sim_report_html_text(o, e->name);
    fprintf(o, "</code></td><td class=\"res\">%s</td><td>", e->pass ? "held" : "FAILED");
    sim_report_html_text(o, e->detail && e->detail[0] ? e->detail : (e->pass ? "" : "(no detail)"));
    int32_t a = e->pass ? -1 : sim_report_agent_of(e->detail);
    if (a >= 0) {
      fprintf(o, "<br><small>agent %d's story: <code>outpost-sim replay ", (int)a);
      sim_report_html_text(o, in->out_dir ? in->out_dir : "OUT");
      fprintf(o, "/trace.jsonl --agent %d</code></small>", (int)a);
      if (who < 0) {
        who = a;
        who_exp = e->name;
      }
    }
    fprintf(o, "</td></tr>\n");
  }
  fprintf(o, "</table>\n");
  if (who >= 0) {
    story_section(o, in, who, who_exp);
  } else if (failed) {
    fprintf(o, "<p class=\"warn\">The failure names no single agent; the timeline above and "
               "<code>outpost-sim replay TRACE --agent ID</code> on a full trace tell the rest.</p>\n");
  }

  fprintf(o, "<h2>Scenario events</h2>\n");
  if (!s->n_events) fprintf(o, "<p>None: the fleet runs undisturbed.</p>\n");
  else fprintf(o, "<table id=\"events\"><tr><th>at</th><th>event</th><th>agents</th></tr>\n");
  for (int i = 0; i < s->n_events; i++) {
    const sim_scn_event *e = &s->events[i];
    char at[32];
    fmt_time(e->at_s * 1000, at, sizeof at);
    fprintf(o, "<tr><td>%s</td><td>%s", at, sim_scenario_event_name(e->type));
    if (e->version[0]) {
      fprintf(o, " <code>");
      sim_report_html_text(o, e->version);
      fprintf(o, "</code>");
    }
    if (e->duration_s > 0) fprintf(o, " for %lld s", (long long)e->duration_s);
    fprintf(o, "</td><td>");
    if (e->agents_count > 0 || e->agents_pct > 0)
      fprintf(o, "%lld", (long long)sim_scenario_event_agents(e, in->agents));
    fprintf(o, "</td></tr>\n");
  }
  if (s->n_events) fprintf(o, "</table>\n");
  fprintf(o, "<p class=\"meta\">Written by outpost-sim beside report.json and trace.jsonl "
             "(docs/scenarios.md, \"Reading a run\").</p>\n</body></html>\n");
}

int sim_report_write_html(const char *path, const sim_report_input *in, char *err, size_t err_cap) {
  chart *c = calloc(1, sizeof *c); /* ~50 KiB of series: not on the stack */
  if (!c) {
    snprintf(err, err_cap, "out of memory");
    return SIM_REPORT_ENOMEM;
  }
  FILE *o = fopen(path, "w");
  if (!o) {
    snprintf(err, err_cap, "%s: %s", path, strerror(errno));
    free(c);
    return SIM_REPORT_EIO;
  }
  page(o, in, c);
  int bad = ferror(o);
  if (fclose(o) != 0) bad = 1;
  free(c);
  if (bad) {
    snprintf(err, err_cap, "%s: write failed", path);
    return SIM_REPORT_EIO;
  }
  return SIM_REPORT_OK;
}
