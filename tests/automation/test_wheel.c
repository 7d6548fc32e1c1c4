/* SPDX-License-Identifier: Apache-2.0 */
/* au_wheel: timers fire exactly when due (not a nanosecond early), removal, re-arming from the
 * callback, deadlines beyond one turn and jumps over many turns. */
#include <check.h>
#include <stdlib.h>

#include "au_test.h"
#include "au_wheel.h"

struct s_fired {
    int n;
    struct au_timer *order[16];
    uint64_t at[16];
    au_wheel_t *w;
    struct au_timer *rearm; /* re-armed once, 5 ns later, when it fires */
};

static void
cb_fire(struct au_timer *t, uint64_t now_ns, void *arg)
{
    struct s_fired *f = arg;
    ck_assert(!t->armed);
    f->order[f->n] = t;
    f->at[f->n++] = now_ns;
    if (t == f->rearm) {
        f->rearm = NULL;
        au_wheel_add(f->w, t, now_ns + 5);
    }
}

START_TEST(t_due_exactly)
{
    au_wheel_t *w = au_wheel_new(1000, 8, 0);
    struct s_fired f = {.w = w};
    struct au_timer a = {0}, b = {0}, c = {0};
    au_wheel_add(w, &a, 2500);
    au_wheel_add(w, &b, 2400);
    au_wheel_add(w, &c, 100000); /* many turns away */
    ck_assert_uint_eq(au_wheel_count(w), 3);
    au_wheel_advance(w, 2399, cb_fire, &f);
    ck_assert_int_eq(f.n, 0);
    au_wheel_advance(w, 2400, cb_fire, &f);
    ck_assert_int_eq(f.n, 1);
    ck_assert_ptr_eq(f.order[0], &b);
    au_wheel_advance(w, 2499, cb_fire, &f);
    ck_assert_int_eq(f.n, 1);
    au_wheel_advance(w, 2000, cb_fire, &f); /* time never goes back */
    ck_assert_int_eq(f.n, 1);
    au_wheel_advance(w, 2500, cb_fire, &f);
    ck_assert_int_eq(f.n, 2);
    au_wheel_advance(w, 99999, cb_fire, &f);
    ck_assert_int_eq(f.n, 2);
    au_wheel_advance(w, 100000, cb_fire, &f);
    ck_assert_int_eq(f.n, 3);
    ck_assert_uint_eq(f.at[2], 100000);
    ck_assert_uint_eq(au_wheel_count(w), 0);
    au_wheel_destroy(&w);
    au_wheel_destroy(&w);
}
END_TEST

START_TEST(t_del_and_rearm)
{
    au_wheel_t *w = au_wheel_new(1000, 8, 5000);
    struct s_fired f = {.w = w};
    struct au_timer a = {0}, b = {0}, c = {0};
    au_wheel_add(w, &a, 6000);
    au_wheel_add(w, &b, 6000);
    au_wheel_add(w, &c, 1); /* already past: fires on the next advance */
    au_wheel_del(w, &a);
    au_wheel_del(w, &a);
    ck_assert_uint_eq(au_wheel_count(w), 2);
    au_wheel_add(w, &b, 7000); /* re-arming moves it */
    f.rearm = &b;
    au_wheel_advance(w, 6500, cb_fire, &f);
    ck_assert_int_eq(f.n, 1);
    ck_assert_ptr_eq(f.order[0], &c);
    au_wheel_advance(w, 7000, cb_fire, &f);
    ck_assert_int_eq(f.n, 2);
    ck_assert(b.armed);
    au_wheel_advance(w, 7004, cb_fire, &f);
    ck_assert_int_eq(f.n, 2);
    au_wheel_advance(w, 7005, cb_fire, &f);
    ck_assert_int_eq(f.n, 3);
    ck_assert_ptr_null(au_wheel_new(0, 8, 0));
    au_wheel_destroy(&w);
}
END_TEST

int
main(void)
{
    Suite *s = suite_create("au_wheel");
    TCase *tc = tcase_create("due_exactly");
    tcase_add_test(tc, t_due_exactly);
    suite_add_tcase(s, tc);
    tc = tcase_create("del_and_rearm");
    tcase_add_test(tc, t_del_and_rearm);
    suite_add_tcase(s, tc);
    return au_run_suite(s);
}
