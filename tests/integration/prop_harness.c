/* SPDX-License-Identifier: Apache-2.0 */
/* Starting a real vexfs-propagation process for integration tests. */
#include "prop_harness.h"

#include <check.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "vx_test.h"
#include "vx_wire.h"

void
ph_start(struct ph_daemon *d, const char *prop_yaml, const char *admin_yaml)
{
    memset(d, 0, sizeof *d);
    char *dir = vt_tmpdir();
    ck_assert_ptr_nonnull(dir);
    snprintf(d->dir, sizeof d->dir, "%s", dir);
    free(dir);
    d->rest_port = vt_free_port();
    snprintf(d->ingest, sizeof d->ingest, "tcp://127.0.0.1:%u", (unsigned)vt_free_port());
    snprintf(d->acked, sizeof d->acked, "tcp://127.0.0.1:%u", (unsigned)vt_free_port());
    snprintf(d->output, sizeof d->output, "tcp://127.0.0.1:%u", (unsigned)vt_free_port());
    snprintf(d->tap, sizeof d->tap, "tcp://127.0.0.1:%u", (unsigned)vt_free_port());
    char tokpath[300], cfgpath[300], cfg[4096];
    snprintf(tokpath, sizeof tokpath, "%s/token", d->dir);
    snprintf(cfgpath, sizeof cfgpath, "%s/vexfs.yaml", d->dir);
    snprintf(d->log, sizeof d->log, "%s/propagation.log", d->dir);
    ck_assert_int_eq(vt_write_file(tokpath, PH_TOKEN "\n"), 0);
    snprintf(cfg, sizeof cfg,
             "event_propagation:\n"
             "  rest_port: %u\n"
             "  ingest_endpoint: %s\n"
             "  ingest_acked_endpoint: %s\n"
             "  output_endpoint: %s\n"
             "  tap_endpoint: %s\n"
             "  producer_id: prop-test\n"
             "%s"
             "admin:\n"
             "  token_file: %s\n"
             "%s"
             "logging:\n"
             "  level: info\n",
             (unsigned)d->rest_port, d->ingest, d->acked, d->output, d->tap, prop_yaml ? prop_yaml : "",
             tokpath, admin_yaml ? admin_yaml : "");
    ck_assert_int_eq(vt_write_file(cfgpath, cfg), 0);
    ph_restart(d);
}

void
ph_restart(struct ph_daemon *d)
{
    char bin[512], cfgpath[300];
    snprintf(cfgpath, sizeof cfgpath, "%s/vexfs.yaml", d->dir);
    snprintf(bin, sizeof bin, "%s/vexfs-propagation", vt_bin_dir());
    char *argv[] = {bin, (char *)"--config", cfgpath, NULL};
    d->pid = vt_spawn(argv, NULL, d->log);
    ck_assert_int_gt(d->pid, 0);
    ck_assert_msg(vt_wait_ready(d->rest_port, 20000), "propagation not ready; log in %s", d->log);
}

int
ph_stop(struct ph_daemon *d)
{
    int status = vt_stop(d->pid, SIGTERM, 60000);
    d->pid = 0;
    /* A clean exit is part of every test: under the sanitizers it also means no leak. */
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
                  "propagation did not exit cleanly on SIGTERM (status %d); log in %s", status,
                  d->log);
    return status;
}

void
ph_kill9(struct ph_daemon *d)
{
    kill(d->pid, SIGKILL);
    waitpid(d->pid, NULL, 0);
    d->pid = 0;
}

zsock_t *
ph_push(const struct ph_daemon *d)
{
    zsock_t *s = vt_sock_ex(&(struct vt_sock_opts){.type = ZMQ_PUSH, .endpoint = d->ingest,
                                                   .linger_ms = 5000});
    ck_assert_ptr_nonnull(s);
    return s;
}

zsock_t *
ph_pull(const struct ph_daemon *d)
{
    zsock_t *s = vt_sock_ex(&(struct vt_sock_opts){.type = ZMQ_PULL, .endpoint = d->output,
                                                   .hwm = 100000});
    ck_assert_ptr_nonnull(s);
    return s;
}

double
ph_metric(const struct ph_daemon *d, const char *series)
{
    return vt_metric(d->rest_port, series);
}

size_t
ph_receive(zsock_t *pull, size_t n, int timeout_ms,
           void (*fn)(const vx_batch_t *b, const vx_event_t *e, void *arg), void *arg)
{
    size_t got = 0;
    vx_arena_t *a = vx_arena_new(1 << 20, 0);
    zsock_set_rcvtimeo(pull, timeout_ms);
    while (got < n) {
        struct vx_wire_msg m;
        if (vx_wire_recv(pull, &m, 0) < 0) {
            break;
        }
        vx_batch_t *b = vx_wire_decode(zmq_msg_data(&m.body), zmq_msg_size(&m.body), a);
        ck_assert_msg(b != NULL, "propagation published an undecodable batch");
        for (size_t i = 0; i < b->n_events; i++) {
            if (fn) {
                fn(b, b->events[i], arg);
            }
        }
        got += b->n_events;
        vx_wire_msg_fini(&m);
        vx_arena_reset(a);
    }
    vx_arena_destroy(&a);
    return got;
}

double
ph_wait_metric(const struct ph_daemon *d, const char *series, double want, int timeout_ms)
{
    double v = ph_metric(d, series);
    for (int waited = 0; v < want && waited < timeout_ms; waited += 10) {
        vt_sleep_ms(10);
        v = ph_metric(d, series);
    }
    return v;
}
