/* sim_report.h - report.html, the run's report for people (issue #16).
 *
 * One self-contained page beside report.json: no network (a
 * Content-Security-Policy of default-src 'none' forbids any fetch, and the
 * page holds no script), the fleet's timeline as inline SVG charts, every
 * expectation with its evidence and the replay command, and for a failure
 * the story of the first agent that broke it (from trace.jsonl, through
 * sim_replay). Everything that comes from a scenario file or an agent's log
 * is HTML-escaped. Same run, same bytes: nothing machine-dependent is written.
 *
 * The timeline is sampled while the run goes (sim_fleet.c): at most
 * SIM_REPORT_MAX_SAMPLES samples, evenly spaced over the run (never closer
 * than SIM_REPORT_MIN_INTERVAL_MS), each a fixed-size struct, so its memory
 * is bounded whatever the fleet size or duration.
 *
 * Ownership: the caller owns the timeline (sim_report_timeline_new /
 * sim_report_timeline_free, safe on NULL) and everything in the input.
 * Return codes: SIM_REPORT_OK (0), SIM_REPORT_EIO (-1), SIM_REPORT_ENOMEM (-2).
 */
#ifndef OUTPOST_SIM_REPORT_H
#define OUTPOST_SIM_REPORT_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "sim_scenario.h"

#define SIM_REPORT_OK 0
#define SIM_REPORT_EIO (-1)
#define SIM_REPORT_ENOMEM (-2)

#define SIM_REPORT_MAX_SAMPLES 720
#define SIM_REPORT_MIN_INTERVAL_MS 10000
#define SIM_REPORT_MAX_VERSIONS 6 /* versions charted by name; more are "other" */
#define SIM_REPORT_RINGS 3        /* canary, early-access, stable (no rings: stable) */
#define SIM_REPORT_STORY_LINES 80 /* the failing agent's last story lines shown */

typedef struct sim_report_sample {
  int64_t t_ms;
  int64_t spooled, shed, produced, acked, cloud_records;
  int64_t alerts, restarts, crashes, power_cuts;
  int64_t installs[SIM_REPORT_RINGS], rollbacks;
  /* agents running each version (index into the timeline's versions; the
   * last slot counts every other version), by ring */
  int32_t on_version[SIM_REPORT_RINGS][SIM_REPORT_MAX_VERSIONS + 1];
} sim_report_sample;

typedef struct sim_report_timeline {
  int64_t interval_ms;
  int64_t next_ms; /* the next sample is due at this time; INT64_MAX when full */
  int n;
  int updates; /* the run serves updates: the version charts are drawn */
  int rings;   /* fleet.rings given: versions are charted per ring */
  char versions[SIM_REPORT_MAX_VERSIONS][24];
  int n_versions;
  sim_report_sample s[SIM_REPORT_MAX_SAMPLES + 1]; /* + the sample at the very end */
} sim_report_timeline;

/* A timeline for a run of total_ms simulated ms; NULL when out of memory. */
sim_report_timeline *sim_report_timeline_new(int64_t total_ms);
void sim_report_timeline_free(sim_report_timeline *tl);
/* The next slot (zeroed, t_ms set, the next due time advanced), or NULL when
 * the timeline is full. final = 1 takes the reserved last slot. */
sim_report_sample *sim_report_sample_add(sim_report_timeline *tl, int64_t t_ms, int final);
/* The slot of a version name in on_version[ring][], registering new ones
 * while there is room; SIM_REPORT_MAX_VERSIONS ("other") after. */
int sim_report_version_slot(sim_report_timeline *tl, const char *version);

typedef struct sim_report_expect {
  const char *name;
  int pass;
  const char *detail;
} sim_report_expect;

typedef struct sim_report_input {
  const sim_scenario *scn;
  const char *scenario_path; /* as given on the command line */
  const char *out_dir;
  uint64_t seed;
  int64_t agents;
  int64_t sim_ms;
  int64_t lines_written, records_acked, cloud_records, requests, events;
  uint64_t trace_hash;
  const sim_report_timeline *tl;
  const int64_t *rate; /* requests arriving at the cloud per simulated minute */
  int64_t rate_len, rate_peak, rate_peak_min;
  const sim_report_expect *exp;
  int n_exp;
  const char *failure; /* "" when every expectation held */
  const char *trace_path; /* NULL: no trace file */
  int trace_full;
} sim_report_input;

/* Writes report.html to path. The trace (when in->trace_path) is read to
 * tell the failing agent's story; a trace that cannot be read is said in the
 * page, not an error. err gets why on SIM_REPORT_EIO/ENOMEM. */
int sim_report_write_html(const char *path, const sim_report_input *in, char *err, size_t err_cap);

/* HTML-escapes s (& < > " ' and control characters) into o. */
void sim_report_html_text(FILE *o, const char *s);

/* The agent a failure's detail names ("agent 12: ..." -> 12), -1 if none. */
int32_t sim_report_agent_of(const char *detail);

#endif
