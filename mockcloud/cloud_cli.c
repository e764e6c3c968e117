/* cloud_cli.c - outpost-cloud's command table and the parser it drives
 * (cloud_cli.h). Adding a command or an option is one line in a table
 * below: the usage text, `help` and the checks follow from it. */
#include "cloud_cli.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "cloud_cmd.h"

typedef struct opt_spec {
  const char *name;    /* as typed: "--data" */
  const char *metavar; /* its value in the usage; NULL: a flag, no value */
  int nonempty;        /* "" is refused: the value names something that must exist */
} opt_spec;

static const opt_spec opt_specs[CLI_OPT_COUNT] = {
    [CLI_DATA] = {"--data", "DIR", 1},
    [CLI_WORKSPACE] = {"--workspace", "NAME", 1},
    [CLI_GROUP] = {"--group", "G", 0},
    [CLI_AGENT] = {"--agent", "ID", 0},
    [CLI_LISTEN] = {"--listen", "127.0.0.1:PORT", 0},
    [CLI_PROBATION_S] = {"--probation-s", "N", 0},
    [CLI_CAPTURE_DIR] = {"--capture-dir", "CDIR", 1},
    [CLI_REFUSE_INGEST_S] = {"--refuse-ingest-s", "S", 0},
    [CLI_ROOT_KEYS] = {"--root-keys", "RDIR", 0},
    [CLI_PKCS11_MODULE] = {"--pkcs11-module", "M", 0},
    [CLI_TOKEN_LABEL] = {"--token-label", "L", 0},
    [CLI_PIN_FILE] = {"--pin-file", "P", 0},
    [CLI_BINARY] = {"--binary", "FILE", 0},
    [CLI_VERSION] = {"--version", "V", 0},
    [CLI_RING] = {"--ring", "R", 0},
    [CLI_ARCH] = {"--arch", "A", 0},
    [CLI_FROM] = {"--from", "R1", 0},
    [CLI_TO] = {"--to", "R2", 0},
    [CLI_ROLE] = {"--role", "ROLE", 0},
    [CLI_FORCE] = {"--force", NULL, 0},
};

#define O(x) (1u << CLI_##x)

typedef struct cli_cmd {
  const char *name;                 /* one or two words */
  const char *pos[CLI_MAX_POS + 1]; /* positional arguments' names, NULL-terminated */
  unsigned required, optional;      /* O(...) bits: every other option is refused */
  int (*run)(const cli_args *a);
  const char *help; /* one line */
} cli_cmd;

static int cmd_help(const cli_args *a);

/* The order here is the order of the usage text. */
static const cli_cmd commands[] = {
    {"init", {NULL}, O(DATA), O(FORCE), cmd_init,
     "make the store, a test CA (ca.pem) and a server certificate in DIR; --force replaces them"},
    {"workspace add", {"NAME", NULL}, O(DATA), 0, cmd_workspace_add,
     "add a workspace and print its enrollment token (stdout, one line)"},
    {"serve", {NULL}, O(DATA) | O(LISTEN), O(PROBATION_S) | O(CAPTURE_DIR) | O(REFUSE_INGEST_S),
     cmd_serve,
     "serve HTTPS on loopback until SIGINT/SIGTERM; --probation-s: strict clone attribution; "
     "--capture-dir: keep each session's last signed request there (a test tap for replays); "
     "--refuse-ingest-s: answer every ingest 503 or 429 (in turn) for the first S seconds "
     "(a load test's outage)"},
    {"count", {NULL}, O(DATA), O(AGENT), cmd_count,
     "print the number of records held (one agent's with --agent)"},
    {"agent revoke", {"ID", NULL}, O(DATA), 0, cmd_agent_revoke,
     "refuse every later request of the agent (403 revoked)"},
    {"agent group", {"AGENT_ID", "GROUP|-"}, O(DATA), 0, cmd_agent_group,
     "put the agent in a group, \"-\" in none; prints the policy version it is served"},
    {"policy set", {"FILE", NULL}, O(DATA) | O(WORKSPACE), O(GROUP), cmd_policy_set,
     "set the workspace's collection policy (its group's with --group) from a JSON file"},
    {"alerts", {NULL}, O(DATA), 0, cmd_alerts,
     "print the clone alerts, one line each, oldest first"},
    {"metrics", {NULL}, O(DATA), O(AGENT), cmd_metrics,
     "print every agent's latest self-metrics (one agent's with --agent)"},
    {"update-reports", {NULL}, O(DATA), 0, cmd_update_reports,
     "print what agents reported about updates (refused, staged, rolled back), oldest first"},
    {"repo init", {NULL},
     O(DATA) | O(ROOT_KEYS) | O(PKCS11_MODULE) | O(TOKEN_LABEL) | O(PIN_FILE), 0, cmd_repo_init,
     "create the release repository: root keys made in RDIR, online keys on the token"},
    {"release", {NULL}, O(DATA) | O(BINARY) | O(VERSION) | O(RING), O(ARCH), cmd_release,
     "sign and publish an agent binary in a ring (canary, early-access, stable)"},
    {"promote", {NULL}, O(DATA) | O(VERSION) | O(FROM) | O(TO), O(FORCE), cmd_promote,
     "copy a released version to another ring; refused after reported rollbacks unless --force"},
    {"rotate-keys", {NULL}, O(DATA) | O(ROLE), O(ROOT_KEYS), cmd_rotate_keys,
     "replace a role's keys; root, timestamp, snapshot and targets need --root-keys"},
    {"help", {NULL}, 0, 0, cmd_help, "print this text"},
};

#define N_COMMANDS (sizeof commands / sizeof commands[0])

static void print_synopsis(FILE *f, const cli_cmd *c) {
  fprintf(f, "outpost-cloud %s", c->name);
  for (int i = 0; i < CLI_OPT_COUNT; i++) {
    unsigned bit = 1u << i;
    if (!((c->required | c->optional) & bit)) continue;
    const opt_spec *o = &opt_specs[i];
    int req = (c->required & bit) != 0;
    fprintf(f, " %s%s%s%s%s", req ? "" : "[", o->name, o->metavar ? " " : "",
            o->metavar ? o->metavar : "", req ? "" : "]");
  }
  for (int i = 0; i < CLI_MAX_POS && c->pos[i]; i++) fprintf(f, " %s", c->pos[i]);
}

static void print_usage(FILE *f) {
  fputs("usage:\n", f);
  for (size_t i = 0; i < N_COMMANDS; i++) {
    fputs("  ", f);
    print_synopsis(f, &commands[i]);
    fprintf(f, "\n      %s\n", commands[i].help);
  }
  fputs("Options may come anywhere after outpost-cloud; \"-\" alone is a value.\n"
        "Exit codes: 0 ok, 1 runtime failure, 2 usage error.\n",
        f);
}

static int cmd_help(const cli_args *a) {
  (void)a;
  print_usage(stdout);
  return fflush(stdout) == 0 ? CLI_OK : CLI_EFAIL;
}

/* Says what is wrong, then how the command is used (every command when it
 * is not known), on stderr. Always CLI_EUSAGE. */
static int usage_error(const cli_cmd *c, const char *fmt, ...) {
  va_list ap;
  fputs("outpost-cloud: ", stderr);
  va_start(ap, fmt);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  fputc('\n', stderr);
  if (c) {
    fputs("usage: ", stderr);
    print_synopsis(stderr, c);
    fputs("\n(outpost-cloud help lists every command)\n", stderr);
  } else {
    print_usage(stderr);
  }
  return CLI_EUSAGE;
}

static size_t word_count(const char *name) {
  size_t n = 1;
  for (; *name; name++) n += *name == ' ';
  return n;
}

/* Whether the first words of the command line spell name. */
static int name_matches(const char *name, const char *const *words, size_t nwords) {
  size_t nw = word_count(name);
  if (nwords < nw) return 0;
  const char *p = name;
  for (size_t i = 0; i < nw; i++) {
    size_t len = strcspn(p, " ");
    if (strlen(words[i]) != len || strncmp(p, words[i], len) != 0) return 0;
    p += len + (p[len] == ' ');
  }
  return 1;
}

/* No command matched: names what was typed, and for the first word of a
 * two-word command ("agent") the words that may follow it. */
static int unknown_command(const char *const *words, size_t nwords) {
  char subs[256] = "";
  size_t used = 0, l0 = strlen(words[0]);
  for (size_t i = 0; i < N_COMMANDS; i++) {
    const char *n = commands[i].name, *sp = strchr(n, ' ');
    if (!sp || (size_t)(sp - n) != l0 || strncmp(n, words[0], l0) != 0) continue;
    int k = snprintf(subs + used, sizeof subs - used, "%s%s", used ? ", " : "", sp + 1);
    if (k < 0 || (size_t)k >= sizeof subs - used) break;
    used += (size_t)k;
  }
  if (!used) return usage_error(NULL, "unknown command \"%s\"", words[0]);
  if (nwords < 2) return usage_error(NULL, "\"%s\" needs one of: %s", words[0], subs);
  return usage_error(NULL, "unknown command \"%s %s\" (\"%s\" takes: %s)", words[0], words[1],
                     words[0], subs);
}

static int find_opt(const char *s) {
  for (int i = 0; i < CLI_OPT_COUNT; i++)
    if (strcmp(opt_specs[i].name, s) == 0) return i;
  return -1;
}

int cli_main(int argc, char **argv) {
  /* Words: the arguments that are not options or their values. Only the
   * first few are kept: a command's words plus its positionals, and one
   * more to name as unexpected. */
  const char *words[2 + CLI_MAX_POS + 1];
  size_t nwords = 0, kept = 0;
  const char *val[CLI_OPT_COUNT] = {NULL};
  int at[CLI_OPT_COUNT]; /* argv index of an option's last occurrence, 0: not given */
  const char *unknown = NULL, *novalue = NULL;
  int help = 0;
  memset(at, 0, sizeof at);
  for (int i = 1; i < argc; i++) {
    const char *s = argv[i];
    if (s[0] != '-' || s[1] == '\0') { /* "-" alone is a value */
      if (kept < sizeof words / sizeof words[0]) words[kept++] = s;
      nwords++;
      continue;
    }
    if (strcmp(s, "--help") == 0 || strcmp(s, "-h") == 0) {
      help = 1;
      continue;
    }
    int o = find_opt(s);
    if (o < 0) {
      if (!unknown) unknown = s;
      continue;
    }
    at[o] = i;
    if (!opt_specs[o].metavar) val[o] = opt_specs[o].name;
    else if (i + 1 < argc) val[o] = argv[++i]; /* whatever it is, like "-" or "--x" */
    else novalue = s;
  }

  const cli_cmd *c = NULL;
  for (size_t i = 0; i < N_COMMANDS && !c; i++)
    if (name_matches(commands[i].name, words, kept)) c = &commands[i];
  if (!c) {
    /* An unknown option comes first: its value, if it has one, was taken
     * for a word and would be reported as the command. */
    if (unknown) return usage_error(NULL, "unknown option %s", unknown);
    if (nwords > 0) return unknown_command(words, kept);
    if (help) return cmd_help(NULL);
    return usage_error(NULL, "no command given");
  }
  if (help) {
    print_synopsis(stdout, c);
    printf("\n    %s\n", c->help);
    return fflush(stdout) == 0 ? CLI_OK : CLI_EFAIL;
  }
  if (unknown) return usage_error(c, "unknown option %s for \"%s\"", unknown, c->name);
  unsigned accepted = c->required | c->optional;
  int refused = -1;
  for (int o = 0; o < CLI_OPT_COUNT; o++)
    if (at[o] && !(accepted & (1u << o)) && (refused < 0 || at[o] < at[refused])) refused = o;
  if (refused >= 0)
    return usage_error(c, "option %s is not accepted by \"%s\"", opt_specs[refused].name,
                       c->name);
  if (novalue) return usage_error(c, "option %s needs a value", novalue);

  size_t cw = word_count(c->name), npos = 0;
  while (npos < CLI_MAX_POS && c->pos[npos]) npos++;
  if (nwords - cw < npos) return usage_error(c, "\"%s\" needs %s", c->name, c->pos[nwords - cw]);
  if (nwords - cw > npos)
    return usage_error(c, "unexpected argument \"%s\" for \"%s\"", words[cw + npos], c->name);
  for (int o = 0; o < CLI_OPT_COUNT; o++) {
    if ((c->required & (1u << o)) && !val[o])
      return usage_error(c, "\"%s\" needs %s %s", c->name, opt_specs[o].name,
                         opt_specs[o].metavar ? opt_specs[o].metavar : "");
    if (val[o] && opt_specs[o].nonempty && !val[o][0])
      return usage_error(c, "option %s must not be empty", opt_specs[o].name);
  }

  cli_args a;
  memset(&a, 0, sizeof a);
  for (int o = 0; o < CLI_OPT_COUNT; o++) a.opt[o] = val[o];
  for (size_t i = 0; i < npos; i++) a.pos[i] = words[cw + i];
  return c->run(&a);
}
