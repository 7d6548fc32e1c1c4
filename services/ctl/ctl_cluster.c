/* SPDX-License-Identifier: Apache-2.0 */
/* vexfsctl cluster: membership and leadership of a vexfs-coordinator cluster over its REST
 * API, and reads of its replicated state.
 *
 * Any member answers status. Changes must be made on the leader: a follower answers 421 with
 * the leader's REST address, and the change is sent there instead (a few hops at most, since
 * leadership may move while we follow it). `get` reads a key with a consistency (linearizable
 * and leader reads are followed to the leader the same way). The daemon's error message is
 * printed as it is. */
#include <errno.h>
#include <curl/curl.h>
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ctl.h"
#include "ctl_opts.h"
#include "ctl_rest.h"
#include "vx_config.h"
#include "vx_mem.h"

#define S_CMD "cluster"
#define S_DEFAULT_URL "https://127.0.0.1:8082"
#define S_URL_ENV "VEXFS_COORDINATOR_URL"
#define S_TIMEOUT_MS 60000L /* a transfer or a member change waits for raft */
#define S_MAX_RESPONSE (16 * 1024 * 1024)

struct s_client {
    struct ctl_rest rest;
    bool json;
    const char *consistency;
};

static void
s_usage(FILE *f)
{
    fprintf(f,
            "usage: " CTL_PROG " cluster [--url URL] [--token-file F] [--json] COMMAND [ARG]\n\n"
            "Commands:\n"
            "  status                  leader, term, commit index and every member with its\n"
            "                          role, last contact, lag and health (asked of a\n"
            "                          follower: as the leader sees the other members)\n"
            "  transfer [ID]           hand leadership to voter ID (no ID: any other voter)\n"
            "  add ID@IP:RAFT/REST/INPUT\n"
            "                          add a member (it joins as a voter once caught up)\n"
            "  remove ID               remove a member\n"
            "  get KEY                 a key's replicated state: revision, value, events\n\n"
            "  -u, --url URL         a coordinator's REST address (env %s, default %s);\n"
            "                        changes sent to a follower are forwarded to the leader\n"
            "      --token-file F    bearer token for transfer, add and remove, first line of F\n"
            "      --consistency C   get: linearizable (default: every acknowledged write),\n"
            "                        leader (the leader's state, possibly stale after a\n"
            "                        partition) or any (the node asked, possibly behind)\n"
            "      --json            status, get: print the daemon's JSON instead\n"
            "      --help, --version\n\n"
            "Exit status: 0 done, 1 the daemon refused or could not be reached, 2 usage.\n",
            S_URL_ENV, S_DEFAULT_URL);
}

static long long
s_int(json_t *o, const char *key)
{
    return (long long)json_integer_value(json_object_get(o, key));
}

static const char *
s_str(json_t *o, const char *key, const char *def)
{
    const char *s = json_string_value(json_object_get(o, key));
    return s ? s : def;
}

static int
s_status(struct s_client *c)
{
    json_t *st = ctl_rest_call(&c->rest, "GET", "/v1/cluster", NULL, false);
    if (!st) {
        return CTL_EXIT_FAIL;
    }
    if (c->json) {
        int rc = ctl_rest_print_json(&c->rest, st);
        json_decref(st);
        return rc;
    }
    json_t *leader = json_object_get(st, "leader");
    long long lid = s_int(leader, "id");
    printf("node     %lld (answering): %s\n", s_int(st, "node_id"), s_str(st, "status", "?"));
    if (lid) {
        printf("leader   %lld at %s\n", lid, s_str(leader, "rest", "(REST address unknown)"));
    } else {
        printf("leader   none known\n");
    }
    printf("term     %lld\n", s_int(st, "term"));
    printf("commit   index %lld, applied %lld, last %lld\n", s_int(st, "commit_index"),
           s_int(st, "last_applied"), s_int(st, "last_index"));
    json_t *view = json_object_get(st, "member_view");
    char from[96] = "";
    if (strcmp(s_str(view, "from", "self"), "leader") == 0) {
        snprintf(from, sizeof from, "; other members as the leader saw them %lld ms ago",
                 s_int(view, "age_ms"));
    }
    printf("healthy  %lld of %lld members (cluster_size %lld)%s%s\n\n", s_int(st, "healthy"),
           s_int(st, "total"), s_int(st, "cluster_size"),
           json_is_true(json_object_get(st, "partitioned")) ? ", PARTITIONED" : "", from);
    printf("%-8s %-22s %-22s %-8s %-7s %-13s %-8s %s\n", "ID", "RAFT", "REST", "ROLE", "LEADER",
           "LAST CONTACT", "LAG", "HEALTHY");
    size_t i;
    json_t *m;
    json_array_foreach(json_object_get(st, "members"), i, m) {
        long long id = s_int(m, "id");
        json_t *lc = json_object_get(m, "last_contact_ms"), *lag = json_object_get(m, "lag");
        json_t *healthy = json_object_get(m, "healthy");
        char contact[32] = "-", lagtxt[32] = "-";
        if (json_is_integer(lc)) {
            snprintf(contact, sizeof contact, "%lld ms", (long long)json_integer_value(lc));
        }
        if (json_is_integer(lag)) {
            snprintf(lagtxt, sizeof lagtxt, "%lld", (long long)json_integer_value(lag));
        }
        printf("%-8lld %-22s %-22s %-8s %-7s %-13s %-8s %s\n", id, s_str(m, "address", "?"),
               s_str(m, "rest", "-"), s_str(m, "role", "?"), id == lid ? "*" : "", contact,
               lagtxt,
               json_is_boolean(healthy) ? (json_is_true(healthy) ? "yes" : "no") : "unknown");
    }
    json_decref(st);
    return CTL_EXIT_OK;
}

static int
s_transfer(struct s_client *c, long long id)
{
    json_t *body = id ? json_pack("{s:I}", "id", (json_int_t)id) : NULL;
    json_t *r = ctl_rest_call(&c->rest, "POST", "/v1/leadership/transfer", body, true);
    json_decref(body);
    if (!r) {
        return CTL_EXIT_FAIL;
    }
    if (json_is_true(json_object_get(r, "already_leader"))) {
        printf("node %lld is the leader already (term %lld): nothing to do\n", s_int(r, "leader"),
               s_int(r, "term"));
    } else {
        printf("leader is now node %lld (term %lld)\n", s_int(r, "leader"), s_int(r, "term"));
    }
    json_decref(r);
    return CTL_EXIT_OK;
}

static int
s_add(struct s_client *c, const char *member)
{
    json_t *body = json_pack("{s:s}", "member", member);
    json_t *r = ctl_rest_call(&c->rest, "POST", "/v1/members", body, true);
    json_decref(body);
    if (!r) {
        return CTL_EXIT_FAIL;
    }
    printf("added node %lld at %s as %s\n", s_int(r, "id"), s_str(r, "address", "?"),
           s_str(r, "role", "?"));
    json_decref(r);
    return CTL_EXIT_OK;
}

static int
s_remove(struct s_client *c, long long id)
{
    char path[64];
    snprintf(path, sizeof path, "/v1/members/%lld", id);
    json_t *r = ctl_rest_call(&c->rest, "DELETE", path, NULL, true);
    if (!r) {
        return CTL_EXIT_FAIL;
    }
    printf("removed node %lld\n", id);
    json_decref(r);
    return CTL_EXIT_OK;
}

/* GET /v1/state?key=KEY&consistency=C, following 421 to the leader. */
static int
s_get(struct s_client *c, const char *key)
{
    char *esc = curl_easy_escape(NULL, key, 0);
    if (!esc) {
        ctl_err(S_CMD, "cannot encode key '%s'", key);
        return CTL_EXIT_FAIL;
    }
    size_t len = strlen(esc) + 64;
    char *path = vx_malloc(len);
    snprintf(path, len, "/v1/state?key=%s&consistency=%s", esc, c->consistency);
    curl_free(esc);
    json_t *st = ctl_rest_call(&c->rest, "GET", path, NULL, true);
    free(path);
    if (!st) {
        return CTL_EXIT_FAIL;
    }
    int rc = CTL_EXIT_OK;
    if (c->json) {
        rc = ctl_rest_print_json(&c->rest, st);
    } else {
        char *value = json_dumps(json_object_get(json_object_get(st, "register"), "value"),
                                 JSON_COMPACT | JSON_ENCODE_ANY);
        printf("key      %s\nrevision %lld\nvalue    %s\nevents   %lld\n",
               s_str(st, "key", key), s_int(st, "revision"), value ? value : "null",
               s_int(st, "events"));
        free(value);
    }
    json_decref(st);
    return rc;
}

enum {
    S_OPT_CONSISTENCY = CTL_OPT_OWN,
};

static void
cb_usage(FILE *f, void *arg)
{
    (void)arg;
    s_usage(f);
}

/* --consistency, the one option of its own. */
static int
cb_opt(void *arg, int ch, char *value, char **argv)
{
    (void)ch;
    (void)argv;
    struct s_client *c = arg;
    if (strcmp(value, "linearizable") != 0 && strcmp(value, "leader") != 0 &&
        strcmp(value, "any") != 0) {
        ctl_err(S_CMD, "--consistency: expected linearizable, leader or any, got '%s'", value);
        return CTL_EXIT_USAGE;
    }
    c->consistency = value;
    return 0;
}

enum s_verb {
    S_STATUS,
    S_TRANSFER,
    S_ADD,
    S_REMOVE,
    S_GET,
};

/* The verb at argv[optind] and its arguments, checked against one table before anything is
 * sent, so a usage error never reaches the cluster: *arg is its argument (NULL: none), *id the
 * node id of transfer and remove. Returns 0, or -1 after saying why. */
static int
s_verb_parse(int argc, char **argv, enum s_verb *verb, const char **arg, long long *id)
{
    if (optind >= argc) {
        ctl_err(S_CMD, "missing command (status, transfer, add, remove or get)");
        return -1;
    }
    static const struct {
        const char *name;
        int min_args, max_args;
        const char *arg;
    } cmds[] = {
        [S_STATUS] = {"status", 0, 0, NULL},
        [S_TRANSFER] = {"transfer", 0, 1, "ID"},
        [S_ADD] = {"add", 1, 1, "ID@IP:RAFT/REST/INPUT"},
        [S_REMOVE] = {"remove", 1, 1, "ID"},
        [S_GET] = {"get", 1, 1, "KEY"},
    };
    const char *cmd = argv[optind];
    size_t k = 0;
    while (k < sizeof cmds / sizeof cmds[0] && strcmp(cmds[k].name, cmd) != 0) {
        k++;
    }
    if (k == sizeof cmds / sizeof cmds[0]) {
        ctl_err(S_CMD, "unknown command '%s' (status, transfer, add, remove or get)", cmd);
        return -1;
    }
    int nargs = argc - optind - 1;
    if (nargs < cmds[k].min_args) {
        ctl_err(S_CMD, "%s needs %s", cmd, cmds[k].arg);
        return -1;
    }
    if (nargs > cmds[k].max_args) {
        ctl_err(S_CMD, "unexpected argument '%s'", argv[optind + 1 + cmds[k].max_args]);
        return -1;
    }
    *arg = nargs ? argv[optind + 1] : NULL;
    if (*arg && (k == S_TRANSFER || k == S_REMOVE) &&
        ctl_parse_int(S_CMD, "ID", *arg, 1, 1000000, id) < 0) {
        return -1;
    }
    *verb = (enum s_verb)k;
    return 0;
}

int
ctl_cluster_main(int argc, char **argv)
{
    static const struct option own[] = {
        {"consistency", required_argument, NULL, S_OPT_CONSISTENCY},
        {NULL, 0, NULL, 0},
    };
    struct s_client c = {.consistency = "linearizable"};
    const struct ctl_optdef d = {
        .cmd = S_CMD,
        .common = CTL_COMMON_URL | CTL_COMMON_TOKEN_FILE | CTL_COMMON_JSON,
        .url_env = S_URL_ENV,
        .url_default = S_DEFAULT_URL,
        .own = own,
        .own_short = "",
        .on_opt = cb_opt,
        .usage = cb_usage,
        .arg = &c,
    };
    struct ctl_common co;
    int code;
    if (!ctl_opts_parse(&d, argc, argv, &co, &code)) {
        return code;
    }
    c.json = co.json;
    enum s_verb k;
    const char *arg = NULL;
    long long id = 0;
    if (s_verb_parse(argc, argv, &k, &arg, &id) < 0) {
        return CTL_EXIT_USAGE;
    }

    int irc = ctl_rest_init(&c.rest, S_CMD, co.url, co.token_file, S_TIMEOUT_MS, S_MAX_RESPONSE);
    if (irc != 0) {
        return irc;
    }
    int rc;
    switch (k) {
    case S_STATUS:
        rc = s_status(&c);
        break;
    case S_TRANSFER:
        rc = s_transfer(&c, id);
        break;
    case S_ADD:
        rc = s_add(&c, arg);
        break;
    case S_GET:
        rc = s_get(&c, arg);
        break;
    default:
        rc = s_remove(&c, id);
        break;
    }
    ctl_rest_fini(&c.rest);
    return rc;
}
