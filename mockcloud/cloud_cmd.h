/* cloud_cmd.h - the handlers of outpost-cloud's commands (prefix cmd_),
 * called by cli_main (cloud_cli.c) once the arguments match the command's
 * entry in the table: every required option and positional is present and
 * non-NULL, --data and --workspace are non-empty. Each returns the exit
 * code: CLI_OK, CLI_EFAIL (runtime failure, said on stderr) or CLI_EUSAGE
 * (a value the table cannot judge, e.g. a bad version string). Results go
 * to stdout, diagnostics to stderr.
 */
#ifndef OUTPOST_MOCKCLOUD_CLOUD_CMD_H
#define OUTPOST_MOCKCLOUD_CLOUD_CMD_H

#include "cloud_cli.h"

int cmd_init(const cli_args *a);
int cmd_workspace_add(const cli_args *a);
int cmd_serve(const cli_args *a);
int cmd_count(const cli_args *a);
int cmd_agent_revoke(const cli_args *a);
int cmd_agent_group(const cli_args *a);
int cmd_policy_set(const cli_args *a);
int cmd_alerts(const cli_args *a);
int cmd_metrics(const cli_args *a);
int cmd_update_reports(const cli_args *a);
int cmd_repo_init(const cli_args *a);
int cmd_release(const cli_args *a);
int cmd_promote(const cli_args *a);
int cmd_rotate_keys(const cli_args *a);

#endif
