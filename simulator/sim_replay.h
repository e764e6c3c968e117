/* sim_replay.h - one agent's story from a trace (trace.jsonl), issue #16.
 *
 *   outpost-sim replay TRACE --agent ID [--from T] [--to T] [--all]
 *
 * The trace is streamed one line at a time (one line buffer of at most
 * SIM_REPLAY_MAX_LINE bytes, allocated once), so memory does not grow with
 * the trace. Every line must be one JSON object with a numeric "t"; the
 * first one that is not stops the stream with an error naming its line
 * number. Lines about the agent (its events, its own log lines, faults that
 * named it, installs, rollbacks, copies of its disk) and fleet-wide faults
 * are turned into one human-readable text each; runs of routine events
 * (steps, lines written, requests delivered, replies) are folded into one
 * count line unless all is set. A summary trace (--trace summary) holds
 * faults, installs and results but no events or agent log lines: the stats
 * say so (full = 0) and the caller says how to get a full one.
 *
 * Return codes: SIM_REPLAY_OK (0) or negative:
 *   SIM_REPLAY_EIO      the trace cannot be read (err says why)
 *   SIM_REPLAY_EFORMAT  a line is not a trace line (err: "line N: why")
 *   SIM_REPLAY_ENOMEM   the line buffer could not be allocated
 */
#ifndef OUTPOST_SIM_REPLAY_H
#define OUTPOST_SIM_REPLAY_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define SIM_REPLAY_OK 0
#define SIM_REPLAY_EIO (-1)
#define SIM_REPLAY_EFORMAT (-2)
#define SIM_REPLAY_ENOMEM (-3)

/* A fault naming 100,000 agents is the longest line a run writes (~700 KB). */
#define SIM_REPLAY_MAX_LINE (2 * 1024 * 1024)
/* One story line, time excluded; longer texts are cut with "...". */
#define SIM_REPLAY_TEXT_MAX 1024

typedef struct sim_replay_options {
  int32_t agent;
  int64_t from_ms, to_ms; /* inclusive; lines after to_ms end the stream */
  int all;                /* every event line, none folded */
} sim_replay_options;

typedef struct sim_replay_stats {
  int64_t lines;    /* lines read */
  int64_t matched;  /* story lines emitted about the agent itself */
  int full;         /* the trace holds event lines (--trace full) */
  int64_t agents;   /* the run's fleet size from its start line, -1 unknown */
  uint64_t seed;
  char scenario[128];
} sim_replay_stats;

/* Called once per story line, in trace order; text is only valid during the
 * call. A non-zero return stops the stream (SIM_REPLAY_OK is returned). */
typedef int (*sim_replay_emit)(void *user, int64_t t_ms, const char *text);

/* Streams in (named name in errors) and calls emit for every story line of
 * o->agent. st may be NULL. Owns nothing after it returns. */
int sim_replay_stream(FILE *in, const char *name, const sim_replay_options *o,
                      sim_replay_emit emit, void *user, sim_replay_stats *st, char *err,
                      size_t err_cap);

/* "h:mm:ss.mmm" of a simulated time, into out (at least 32 bytes). */
void sim_replay_format_time(int64_t t_ms, char *out, size_t cap);

/* The replay command: argv[0] is "replay". Prints the story to stdout.
 * Exit status: 0 a story printed, 1 the trace holds nothing about the agent,
 * 2 bad arguments or a bad or unreadable trace (stderr says which line). */
int sim_replay_main(int argc, char **argv);

#endif
