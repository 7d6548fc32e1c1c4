/* SPDX-License-Identifier: Apache-2.0 */
/* vx_call and vx_loop: calls handed from other threads to a loop thread that polls its inbox
 * with vx_loop, answered before their deadline, abandoned after it, refused once the inbox is
 * closed; every request freed exactly once (LeakSanitizer checks the rest). */
#include <check.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>

#include "vx_call.h"
#include "vx_clock.h"
#include "vx_loop.h"

struct s_req {
    struct vx_call call;
    int in;
    int out;
    uint64_t delay_ms; /* how long the loop takes over it */
};

static atomic_int s_freed;

static void
cb_free(struct vx_call *c)
{
    atomic_fetch_add(&s_freed, 1);
    free(c);
}

struct s_loop {
    vx_socks_t *socks;
    vx_inbox_t *inbox;
    vx_loop_t *loop;
    atomic_bool stop;
    atomic_int handled;
    pthread_t thread;
};

static void
cb_inbox(void *arg)
{
    struct s_loop *l = arg;
    struct vx_call *c;
    while ((c = vx_inbox_take(l->inbox))) {
        struct s_req *r = (struct s_req *)c;
        if (r->delay_ms) {
            struct timespec ts = {0, (long)(r->delay_ms * VX_NS_PER_MS)};
            nanosleep(&ts, NULL);
        }
        r->out = r->in * 2;
        atomic_fetch_add(&l->handled, 1);
        vx_call_done(c);
    }
}

static void *
s_loop_main(void *arg)
{
    struct s_loop *l = arg;
    while (!atomic_load(&l->stop)) {
        vx_loop_wait(l->loop, 20);
    }
    return NULL;
}

static void
s_loop_start(struct s_loop *l)
{
    char err[256];
    struct vx_transport_config tc = {1000, 0, 1 << 20, 0};
    l->socks = vx_socks_new(&tc, NULL, "test", NULL, err, sizeof err);
    ck_assert_ptr_nonnull(l->socks);
    l->inbox = vx_inbox_new(l->socks, "test-inbox");
    ck_assert_ptr_nonnull(l->inbox);
    l->loop = vx_loop_new();
    ck_assert_int_ge(vx_loop_reader(l->loop, vx_inbox_sock(l->inbox), cb_inbox, l), 0);
    atomic_init(&l->stop, false);
    atomic_init(&l->handled, 0);
    ck_assert_int_eq(pthread_create(&l->thread, NULL, s_loop_main, l), 0);
}

static void
s_loop_stop(struct s_loop *l)
{
    atomic_store(&l->stop, true);
    pthread_join(l->thread, NULL);
    vx_loop_destroy(&l->loop);
    vx_inbox_destroy(&l->inbox);
    vx_socks_destroy(&l->socks);
}

static struct s_req *
s_req_new(int in, uint64_t delay_ms)
{
    struct s_req *r = calloc(1, sizeof *r);
    vx_call_init(&r->call, cb_free);
    r->in = in;
    r->delay_ms = delay_ms;
    return r;
}

struct s_client {
    struct s_loop *l;
    int base;
    int ok;
};

static void *
s_client_main(void *arg)
{
    struct s_client *c = arg;
    for (int i = 0; i < 200; i++) {
        struct s_req *r = s_req_new(c->base + i, 0);
        if (vx_inbox_send(c->l->inbox, &r->call) == 0 &&
            vx_call_wait(&r->call, vx_deadline_ms(5000)) == 0 && r->out == 2 * (c->base + i)) {
            c->ok++;
        }
        vx_call_unref(&r->call);
    }
    return NULL;
}

START_TEST(t_answered_from_many_threads)
{
    atomic_store(&s_freed, 0);
    struct s_loop l;
    s_loop_start(&l);
    pthread_t th[4];
    struct s_client c[4];
    for (int i = 0; i < 4; i++) {
        c[i] = (struct s_client){&l, i * 1000, 0};
        pthread_create(&th[i], NULL, s_client_main, &c[i]);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        ck_assert_int_eq(c[i].ok, 200);
    }
    s_loop_stop(&l);
    ck_assert_int_eq(atomic_load(&s_freed), 800);
}
END_TEST

START_TEST(t_deadline_abandons)
{
    atomic_store(&s_freed, 0);
    struct s_loop l;
    s_loop_start(&l);
    struct s_req *r = s_req_new(21, 300);
    ck_assert_int_eq(vx_inbox_send(l.inbox, &r->call), 0);
    uint64_t t0 = vx_mono_ns();
    ck_assert_int_eq(vx_call_wait(&r->call, vx_deadline_ms(50)), -ETIMEDOUT);
    ck_assert(vx_mono_ns() - t0 >= 50 * VX_NS_PER_MS);
    ck_assert(atomic_load(&r->call.abandoned));
    vx_call_unref(&r->call); /* the loop still holds one: nothing freed yet */
    ck_assert_int_eq(atomic_load(&s_freed), 0);
    while (atomic_load(&l.handled) < 1) {
        struct timespec ts = {0, 10 * 1000000L};
        nanosleep(&ts, NULL);
    }
    s_loop_stop(&l);
    ck_assert_int_eq(atomic_load(&s_freed), 1);
}
END_TEST

START_TEST(t_closed_inbox_refuses)
{
    atomic_store(&s_freed, 0);
    struct s_loop l;
    s_loop_start(&l);
    vx_inbox_close(l.inbox);
    struct s_req *r = s_req_new(1, 0);
    ck_assert_int_eq(vx_inbox_send(l.inbox, &r->call), -ESHUTDOWN);
    vx_call_unref(&r->call);
    ck_assert_int_eq(atomic_load(&s_freed), 1);
    s_loop_stop(&l);
}
END_TEST

START_TEST(t_queued_calls_released_at_destroy)
{
    atomic_store(&s_freed, 0);
    char err[256];
    struct vx_transport_config tc = {1000, 0, 1 << 20, 0};
    vx_socks_t *socks = vx_socks_new(&tc, NULL, "test", NULL, err, sizeof err);
    vx_inbox_t *in = vx_inbox_new(socks, "test-leftover");
    for (int i = 0; i < 3; i++) {
        struct s_req *r = s_req_new(i, 0);
        ck_assert_int_eq(vx_inbox_send(in, &r->call), 0);
        vx_call_unref(&r->call);
    }
    ck_assert_int_eq(atomic_load(&s_freed), 0);
    vx_inbox_destroy(&in);
    ck_assert_int_eq(atomic_load(&s_freed), 3);
    vx_socks_destroy(&socks);
}
END_TEST

/* vx_loop: disabled readers are not run; a timeout runs nothing. */
static void
cb_count(void *arg)
{
    zsock_t **s = arg;
    char *m = zstr_recv(s[0]);
    free(m);
    (*(int *)s[1])++;
}

START_TEST(t_loop_enable)
{
    char err[256];
    struct vx_transport_config tc = {1000, 0, 1 << 20, 0};
    vx_socks_t *socks = vx_socks_new(&tc, NULL, "test", NULL, err, sizeof err);
    zsock_t *push, *pull;
    ck_assert_int_eq(vx_sock_pipe(socks, "test-loop", &push, &pull), 0);
    int count = 0;
    void *arg[2] = {pull, &count};
    vx_loop_t *l = vx_loop_new();
    int h = vx_loop_reader(l, pull, cb_count, arg);
    ck_assert_int_eq(vx_loop_wait(l, 10), 0);
    zstr_send(push, "x");
    vx_loop_enable(l, h, false);
    ck_assert_int_eq(vx_loop_wait(l, 30), 0);
    ck_assert_int_eq(count, 0);
    vx_loop_enable(l, h, true);
    ck_assert_int_eq(vx_loop_wait(l, 1000), 1);
    ck_assert_int_eq(count, 1);
    vx_loop_remove(l, h);
    for (int i = 0; i < VX_LOOP_MAX_READERS; i++) {
        ck_assert_int_ge(vx_loop_reader(l, pull, cb_count, arg), 0);
    }
    ck_assert_int_eq(vx_loop_reader(l, pull, cb_count, arg), -ENOSPC);
    vx_loop_destroy(&l);
    zsock_destroy(&push);
    zsock_destroy(&pull);
    vx_socks_destroy(&socks);
}
END_TEST

START_TEST(t_clock_helpers)
{
    uint64_t d = vx_deadline_ms(1000);
    long left = vx_ms_until(d);
    ck_assert_int_ge(left, 990);
    ck_assert_int_le(left, 1000);
    ck_assert_int_eq(vx_ms_until(vx_mono_ns() - 1), 0);
    struct timespec ts = vx_mono_timespec(3 * VX_NS_PER_S + 5);
    ck_assert_int_eq(ts.tv_sec, 3);
    ck_assert_int_eq(ts.tv_nsec, 5);
}
END_TEST

int
main(void)
{
    Suite *s = suite_create("call");
    TCase *tc = tcase_create("handoff");
    tcase_add_test(tc, t_answered_from_many_threads);
    tcase_add_test(tc, t_deadline_abandons);
    tcase_add_test(tc, t_closed_inbox_refuses);
    tcase_add_test(tc, t_queued_calls_released_at_destroy);
    tcase_set_timeout(tc, 30);
    suite_add_tcase(s, tc);
    tc = tcase_create("loop");
    tcase_add_test(tc, t_loop_enable);
    tcase_add_test(tc, t_clock_helpers);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
