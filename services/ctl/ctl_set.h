/* SPDX-License-Identifier: Apache-2.0 */
/* One meaning per verb for every kind of object a daemon keeps as a set (routing's rules and
 * filters, automation's patterns and workflows, analytics' queries and alert rules):
 *
 *   list              the set, a table by default (-o json | yaml); "none" when empty
 *   get ID            one object (JSON by default; -o yaml | table)
 *   apply FILE        create or update the objects named in FILE; no other object changes
 *   replace FILE      FILE becomes the whole set; when that deletes objects they are listed
 *                     and nothing changes unless --yes is given (exit 2)
 *   delete ID...      remove these objects; when one is unknown nothing changes (exit 1)
 *
 * Every change is one request on the kind's set path, which the daemon applies all or
 * nothing: apply is a PATCH of FILE's objects (create or update), replace a PUT of FILE's
 * objects, delete a PUT of the set without the named ones. Each carries If-Match with the
 * ETag of the set as the command read it (to count and list what changes), so a concurrent
 * change by another writer is refused with 412 version_conflict and nothing changes. */
#ifndef CTL_SET_H
#define CTL_SET_H

#include <jansson.h>
#include <stdbool.h>

#include "ctl_out.h"
#include "ctl_rest.h"

/* One list of objects of a kind (rules have two: rules and filters). */
struct ctl_section {
    const char *field;     /* member of the GET answer and of files: "rules" */
    const char *one;       /* "rule" */
    const char *many;      /* "rules" */
    const char *list_path; /* GET: {field: [...]} */
    const char *item_path; /* base of GET/PUT/DELETE of one object, NULL: no such route */
    const char *key;       /* the identifying member: "id" or "name" */
};

struct ctl_set;

struct ctl_kind {
    const char *cmd;      /* "patterns" */
    const char *what;     /* for --help: what the command does, whole lines */
    const char *url_env;  /* "VEXFS_AUTOMATION_URL" */
    const char *default_url;
    bool tenant;          /* --tenant T is sent as X-VexFS-Tenant */
    const char *set_path; /* PUT (replace) and PATCH (create or update) of the whole set */
    const char *derived;  /* a member the daemon adds to what it lists (not sent back), or NULL */
    int nsec;
    struct ctl_section sec[2];
    const char *file_help; /* for --help: the forms FILE may take, whole lines */
    /* The table of list: headers (NULL-terminated) and one row per object of section sec. */
    const char *const *columns;
    void (*row)(int sec, json_t *obj, char (*cells)[CTL_CELL]);
    /* Verbs besides the five (rules test, workflows run): help lines, and the handler, which
     * returns an exit status, or -1 when verb is not one of them. args: the verb's arguments. */
    const char *extra_help;
    int (*extra)(struct ctl_set *s, const char *verb, int nargs, char **args);
    long timeout_ms;
};

/* The state of one command run, given to a kind's extra verbs. */
struct ctl_set {
    const struct ctl_kind *kind;
    struct ctl_rest rest;
    enum ctl_fmt fmt;
    bool yes;
    char etag[128]; /* the set's tag as last read */
};

/* Runs the command of kind k: argv[0] is the command name. Returns an exit status. */
int ctl_set_main(const struct ctl_kind *k, int argc, char **argv);

/* Loads FILE (YAML, or JSON for .json) for kind k: an object, a list, or {field: [...], ...}.
 * Returns one array per section in out[] (caller decrefs), or -EINVAL after printing why. */
int ctl_set_load(const struct ctl_set *s, const char *file, json_t **out);

/* "<base>/<id percent-encoded>" (caller frees). */
char *ctl_set_path(const char *base, const char *id);

#endif
