/* SPDX-License-Identifier: Apache-2.0 */
/* vexfsctl: the commands and the argument helpers they share.
 *
 * Exit statuses, the same for every command: 0 success, 1 the operation failed (a service
 * down, a bad input line, a send error), 2 the command line itself is wrong, or it asks for
 * more than was confirmed (a replace that would delete objects, without --yes). */
#ifndef CTL_H
#define CTL_H

#include <signal.h>
#include <stdbool.h>

#define CTL_PROG "vexfsctl"

enum {
    CTL_EXIT_OK = 0,
    CTL_EXIT_FAIL = 1,
    CTL_EXIT_USAGE = 2,
};

/* Set by SIGINT and SIGTERM; long-running commands poll it and finish cleanly. */
extern volatile sig_atomic_t ctl_stop;

/* The commands. argv[0] is the command name; options are parsed with getopt_long from
 * argv[1]. Each returns an exit status. */
int ctl_status_main(int argc, char **argv);
int ctl_emit_main(int argc, char **argv);
int ctl_tail_main(int argc, char **argv);
int ctl_rules_main(int argc, char **argv);
int ctl_cluster_main(int argc, char **argv);
int ctl_patterns_main(int argc, char **argv);
int ctl_workflows_main(int argc, char **argv);
int ctl_executions_main(int argc, char **argv);
int ctl_queries_main(int argc, char **argv);
int ctl_results_main(int argc, char **argv);
int ctl_replay_main(int argc, char **argv);
int ctl_health_main(int argc, char **argv);
int ctl_keys_main(int argc, char **argv);
int ctl_certs_main(int argc, char **argv);
int ctl_creds_main(int argc, char **argv);
int ctl_audit_main(int argc, char **argv);
/* alerts: automation's pattern alerts; "alerts metrics ...": analytics' metric alerts and
 * alert rules. */
int ctl_alerts_main(int argc, char **argv);
int ctl_pattern_alerts_main(int argc, char **argv);
int ctl_metric_alerts_main(int argc, char **argv);
int ctl_alert_rules_main(int argc, char **argv);

/* Prints "vexfsctl CMD: message" and a newline on stderr. */
void ctl_err(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Prepares getopt_long for a fresh scan of a command's argv (it was used by main before). */
void ctl_getopt_reset(void);

/* Reports an option getopt_long rejected (c is '?' or ':', from an optstring starting with
 * ':') as "vexfsctl CMD: ..." on stderr. Returns CTL_EXIT_USAGE. */
int ctl_opt_error(const char *cmd, int c, char **argv);

/* Parses a whole decimal integer in [min, max]. On failure prints
 * "vexfsctl CMD: OPT: expected MIN..MAX, got S" and returns -EINVAL. */
int ctl_parse_int(const char *cmd, const char *opt, const char *s, long long min, long long max,
                  long long *out);

/* The socket factory of the command (transport defaults and environment overrides). Returns
 * NULL after printing why; the caller destroys it with vx_socks_destroy. */
typedef struct vx_socks vx_socks_t;
vx_socks_t *ctl_socks(const char *cmd);

/* Sets the authority and client certificate of a libcurl handle (a CURL *) from the
 * environment: VEXFS_CA_FILE, VEXFS_CERT_FILE, VEXFS_KEY_FILE, else VEXFS_SECURITY_TLS_DIR's
 * ca.crt, ctl.crt and ctl.key (see ctl_tls.c). */
void ctl_tls_apply(void *curl);

/* Applies the context file (--context FILE, $VEXFS_CONTEXT or the default one) to the
 * environment; 0, or an exit status after an error message. */
int ctl_context_load(const char *path);

/* True when s starts with http:// or https:// and has a host part. */
bool ctl_is_http_url(const char *s);

#endif
