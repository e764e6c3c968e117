/* cloud_cli.h - outpost-cloud's command line (prefix cli_): one table of
 * commands drives parsing, the usage text and `outpost-cloud help`, so the
 * three cannot drift apart. Each command names its words ("agent group"),
 * its positional arguments, the options it accepts (required or optional,
 * with a value or a flag), its handler (cloud_cmd.h) and a one-line help.
 *
 * Parsing: options may come anywhere, before or after the command's words;
 * an option taking a value takes the next argument whatever it is; "-"
 * alone is a value, not an option; a repeated option keeps its last value.
 * Refused with exit 2 and a message naming the culprit: an unknown command,
 * an option the command does not accept (named with the command), an option
 * without its value, a missing or extra positional argument, a missing
 * required option, an empty --data or --workspace. `help`, `--help` or `-h`
 * print the usage on stdout with exit 0.
 *
 * Exit codes of outpost-cloud: 0 ok, 1 runtime failure, 2 usage error.
 */
#ifndef OUTPOST_MOCKCLOUD_CLOUD_CLI_H
#define OUTPOST_MOCKCLOUD_CLOUD_CLI_H

#define CLI_OK 0
#define CLI_EFAIL 1  /* runtime failure */
#define CLI_EUSAGE 2 /* usage error */

/* Every option of every command; the usage lists a command's options in
 * this order. */
enum cli_opt {
  CLI_DATA,
  CLI_WORKSPACE,
  CLI_GROUP,
  CLI_AGENT,
  CLI_LISTEN,
  CLI_PROBATION_S,
  CLI_CAPTURE_DIR,
  CLI_REFUSE_INGEST_S,
  CLI_ROOT_KEYS,
  CLI_PKCS11_MODULE,
  CLI_TOKEN_LABEL,
  CLI_PIN_FILE,
  CLI_BINARY,
  CLI_VERSION,
  CLI_RING,
  CLI_ARCH,
  CLI_FROM,
  CLI_TO,
  CLI_ROLE,
  CLI_FORCE,
  CLI_OPT_COUNT
};

#define CLI_MAX_POS 2

/* What a handler gets: opt[i] is the value of option i, NULL when not
 * given (a flag given: its name, non-NULL); pos the positional arguments
 * after the command's words, as many as the command declares. The strings
 * are argv's. */
typedef struct cli_args {
  const char *opt[CLI_OPT_COUNT];
  const char *pos[CLI_MAX_POS];
} cli_args;

/* Parses argv against the table and runs the command. Returns the exit
 * code (CLI_OK, CLI_EFAIL, CLI_EUSAGE). */
int cli_main(int argc, char **argv);

#endif
