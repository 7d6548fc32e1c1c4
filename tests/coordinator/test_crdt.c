/* SPDX-License-Identifier: Apache-2.0 */
/* Vector clocks and CRDTs: ordering, and the merge laws (commutative, associative,
 * idempotent) checked over random operations. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "coord_crdt.h"
#include "coord_vclock.h"

#define S_ROUNDS 200

static const char *const s_nodes[] = {"a", "b", "c", "d"};
static const char *const s_elems[] = {"red", "green", "blue"};

/* ---- vector clocks ---------------------------------------------------------------------- */

START_TEST(t_vclock_order)
{
    struct coord_vclock a, b;
    coord_vclock_init(&a);
    coord_vclock_init(&b);
    ck_assert_int_eq(coord_vclock_compare(&a, &b, NULL), COORD_EQUAL);
    coord_vclock_tick(&a, "x");
    ck_assert_int_eq(coord_vclock_compare(&a, &b, NULL), COORD_AFTER);
    ck_assert_int_eq(coord_vclock_compare(&b, &a, NULL), COORD_BEFORE);
    coord_vclock_tick(&b, "y");
    ck_assert_int_eq(coord_vclock_compare(&a, &b, NULL), COORD_CONCURRENT);
    coord_vclock_merge(&b, &a);
    ck_assert_int_eq(coord_vclock_compare(&a, &b, NULL), COORD_BEFORE);
    ck_assert_uint_eq(coord_vclock_get(&b, "x"), 1);
    ck_assert_uint_eq(coord_vclock_get(&b, "y"), 1);
    ck_assert_uint_eq(coord_vclock_sum(&b), 2);
    /* Entries under a skipped prefix do not count. */
    coord_vclock_set(&a, "node-1", 9);
    ck_assert_int_eq(coord_vclock_compare(&a, &b, "node-"), COORD_BEFORE);
    ck_assert_int_eq(coord_vclock_compare(&a, &b, NULL), COORD_CONCURRENT);
    json_t *j = coord_vclock_to_json(&b);
    struct coord_vclock c;
    coord_vclock_init(&c);
    ck_assert_int_eq(coord_vclock_from_json(&c, j), 0);
    ck_assert_int_eq(coord_vclock_compare(&b, &c, NULL), COORD_EQUAL);
    json_decref(j);
    j = json_pack("{s:s}", "x", "nope");
    ck_assert_int_lt(coord_vclock_from_json(&c, j), 0);
    json_decref(j);
    coord_vclock_fini(&a);
    coord_vclock_fini(&b);
    coord_vclock_fini(&c);
}
END_TEST

static void
s_random_clock(struct coord_vclock *c)
{
    coord_vclock_init(c);
    for (int i = 0; i < 4; i++) {
        if (rand() % 2) {
            coord_vclock_set(c, s_nodes[i], (uint64_t)(rand() % 4));
        }
    }
}

START_TEST(t_vclock_merge_laws)
{
    srand(1);
    for (int round = 0; round < S_ROUNDS; round++) {
        struct coord_vclock a, b, c, ab, ba, abc1, abc2, aa;
        s_random_clock(&a);
        s_random_clock(&b);
        s_random_clock(&c);
        coord_vclock_init(&ab);
        coord_vclock_init(&ba);
        coord_vclock_init(&abc1);
        coord_vclock_init(&abc2);
        coord_vclock_init(&aa);
        coord_vclock_copy(&ab, &a);
        coord_vclock_merge(&ab, &b);
        coord_vclock_copy(&ba, &b);
        coord_vclock_merge(&ba, &a);
        ck_assert_int_eq(coord_vclock_compare(&ab, &ba, NULL), COORD_EQUAL);
        coord_vclock_copy(&abc1, &ab);
        coord_vclock_merge(&abc1, &c);
        coord_vclock_copy(&abc2, &b);
        coord_vclock_merge(&abc2, &c);
        coord_vclock_merge(&abc2, &a);
        ck_assert_int_eq(coord_vclock_compare(&abc1, &abc2, NULL), COORD_EQUAL);
        coord_vclock_copy(&aa, &a);
        coord_vclock_merge(&aa, &a);
        ck_assert_int_eq(coord_vclock_compare(&aa, &a, NULL), COORD_EQUAL);
        /* The merge is an upper bound of both. */
        enum coord_order o = coord_vclock_compare(&a, &ab, NULL);
        ck_assert(o == COORD_BEFORE || o == COORD_EQUAL);
        /* Antisymmetry of compare. */
        enum coord_order x = coord_vclock_compare(&a, &b, NULL),
                         y = coord_vclock_compare(&b, &a, NULL);
        ck_assert(x == y ? (x == COORD_EQUAL || x == COORD_CONCURRENT)
                         : (x == COORD_BEFORE) == (y == COORD_AFTER));
        coord_vclock_fini(&a);
        coord_vclock_fini(&b);
        coord_vclock_fini(&c);
        coord_vclock_fini(&ab);
        coord_vclock_fini(&ba);
        coord_vclock_fini(&abc1);
        coord_vclock_fini(&abc2);
        coord_vclock_fini(&aa);
    }
}
END_TEST

/* ---- registers -------------------------------------------------------------------------- */

static void
s_random_lww(struct coord_lww *r, int ops)
{
    coord_lww_init(r);
    for (int i = 0; i < ops; i++) {
        struct coord_vclock c;
        s_random_clock(&c);
        uint8_t eid[COORD_EID_LEN] = {0};
        eid[15] = (uint8_t)(rand() % 3);
        json_t *v = json_integer(rand() % 100);
        coord_lww_offer(r, &c, (uint64_t)(rand() % 3 + 1), eid, v);
        json_decref(v);
        coord_vclock_fini(&c);
    }
}

static void
s_assert_value(const struct coord_lww *r, const char *want)
{
    json_t *v = coord_val_json(r->val);
    ck_assert_str_eq(json_string_value(v), want);
    json_decref(v);
}

START_TEST(t_lww_order_and_tiebreak)
{
    struct coord_lww r;
    coord_lww_init(&r);
    struct coord_vclock c1, c2;
    coord_vclock_init(&c1);
    coord_vclock_init(&c2);
    coord_vclock_set(&c1, "a", 2);
    coord_vclock_set(&c2, "a", 1);
    uint8_t e1[COORD_EID_LEN] = {1}, e2[COORD_EID_LEN] = {2};
    json_t *v1 = json_string("one"), *v2 = json_string("two");
    ck_assert(coord_lww_offer(&r, &c1, 1, e1, v1));
    /* Causally older: loses even with a higher node id. */
    ck_assert(!coord_lww_offer(&r, &c2, 9, e2, v2));
    s_assert_value(&r, "one");
    /* Concurrent with equal sums: the higher node id wins, then the higher event id. */
    coord_vclock_set(&c2, "b", 1);
    coord_vclock_set(&c2, "a", 1);
    ck_assert(coord_lww_offer(&r, &c2, 2, e2, v2));
    s_assert_value(&r, "two");
    ck_assert(!coord_lww_offer(&r, &c2, 2, e1, v1));
    json_t *j = coord_lww_to_json(&r);
    struct coord_lww back;
    coord_lww_init(&back);
    ck_assert_int_eq(coord_lww_from_json(&back, j), 0);
    ck_assert(coord_lww_equal(&back, &r));
    json_decref(j);
    json_decref(v1);
    json_decref(v2);
    coord_vclock_fini(&c1);
    coord_vclock_fini(&c2);
    coord_lww_fini(&r);
    coord_lww_fini(&back);
}
END_TEST

/* An event's compact value reads back as the JSON object it stands for, a repeated content
 * key keeping its last value, and compares on content like that object. */
START_TEST(t_event_value_json)
{
    const char *keys[] = {"size", "v", "size"}, *vals[] = {"1", "x", "2"};
    struct coord_val *v = coord_val_from_event("filesystem_write", 3, keys, vals, 7, 3, 11);
    json_t *j = coord_val_json(v);
    json_t *want = json_pack("{s:s, s:{s:s, s:s}, s:I, s:I, s:I}", "type", "filesystem_write",
                             "content", "size", "2", "v", "x", "timestamp_ns", (json_int_t)7,
                             "origin", (json_int_t)3, "seq", (json_int_t)11);
    ck_assert(json_equal(j, want));
    json_t *content = json_pack("{s:s, s:s}", "v", "x", "size", "2");
    ck_assert(coord_val_content_equal(v, content));
    json_object_set_new(content, "v", json_string("y"));
    ck_assert(!coord_val_content_equal(v, content));
    struct coord_val *w = coord_val_from_json(want);
    json_object_set_new(content, "v", json_string("x"));
    ck_assert(coord_val_content_equal(w, content));
    coord_val_unref(&w);
    coord_val_unref(&v);
    ck_assert_ptr_null(v);
    json_decref(content);
    json_decref(want);
    json_decref(j);
}
END_TEST

START_TEST(t_lww_merge_laws)
{
    srand(2);
    for (int round = 0; round < S_ROUNDS; round++) {
        struct coord_lww a, b, c, x, y;
        s_random_lww(&a, rand() % 4);
        s_random_lww(&b, rand() % 4);
        s_random_lww(&c, rand() % 4);
        coord_lww_init(&x);
        coord_lww_init(&y);
        coord_lww_copy(&x, &a);
        coord_lww_merge(&x, &b);
        coord_lww_copy(&y, &b);
        coord_lww_merge(&y, &a);
        ck_assert_msg(coord_lww_equal(&x, &y), "lww merge not commutative (round %d)", round);
        coord_lww_merge(&x, &c); /* (a b) c */
        coord_lww_copy(&y, &b);
        coord_lww_merge(&y, &c);
        struct coord_lww z;
        coord_lww_init(&z);
        coord_lww_copy(&z, &a);
        coord_lww_merge(&z, &y); /* a (b c) */
        ck_assert_msg(coord_lww_equal(&x, &z), "lww merge not associative (round %d)", round);
        coord_lww_copy(&y, &a);
        coord_lww_merge(&y, &a);
        ck_assert(coord_lww_equal(&y, &a));
        coord_lww_fini(&a);
        coord_lww_fini(&b);
        coord_lww_fini(&c);
        coord_lww_fini(&x);
        coord_lww_fini(&y);
        coord_lww_fini(&z);
    }
}
END_TEST

/* ---- observed-remove set ---------------------------------------------------------------- */

static void
s_random_orset(struct coord_orset *s, int ops, int replica)
{
    coord_orset_init(s);
    for (int i = 0; i < ops; i++) {
        const char *e = s_elems[rand() % 3];
        if (rand() % 3) {
            char tag[32];
            snprintf(tag, sizeof tag, "r%d-%d", replica, i);
            coord_orset_add(s, e, tag);
        } else {
            coord_orset_remove(s, e);
        }
    }
}

START_TEST(t_orset_add_wins)
{
    struct coord_orset a, b;
    coord_orset_init(&a);
    coord_orset_init(&b);
    coord_orset_add(&a, "red", "t1");
    coord_orset_merge(&b, &a);
    /* b removes what it saw while a adds again concurrently: the new add survives. */
    ck_assert_uint_eq(coord_orset_remove(&b, "red"), 1);
    ck_assert(!coord_orset_contains(&b, "red"));
    coord_orset_add(&a, "red", "t2");
    coord_orset_merge(&a, &b);
    ck_assert(coord_orset_contains(&a, "red"));
    coord_orset_remove(&a, "red");
    ck_assert(!coord_orset_contains(&a, "red"));
    json_t *el = coord_orset_elements(&a);
    ck_assert_uint_eq(json_array_size(el), 0);
    json_decref(el);
    json_t *j = coord_orset_to_json(&a);
    struct coord_orset c;
    coord_orset_init(&c);
    ck_assert_int_eq(coord_orset_from_json(&c, j), 0);
    ck_assert(coord_orset_equal(&a, &c));
    json_decref(j);
    coord_orset_fini(&a);
    coord_orset_fini(&b);
    coord_orset_fini(&c);
}
END_TEST

START_TEST(t_orset_merge_laws)
{
    srand(3);
    for (int round = 0; round < S_ROUNDS; round++) {
        struct coord_orset a, b, c, x, y, z;
        s_random_orset(&a, rand() % 8, 1);
        s_random_orset(&b, rand() % 8, 2);
        s_random_orset(&c, rand() % 8, 3);
        coord_orset_init(&x);
        coord_orset_init(&y);
        coord_orset_init(&z);
        coord_orset_merge(&x, &a);
        coord_orset_merge(&x, &b);
        coord_orset_merge(&y, &b);
        coord_orset_merge(&y, &a);
        ck_assert(coord_orset_equal(&x, &y));
        coord_orset_merge(&x, &c);
        coord_orset_fini(&y);
        coord_orset_merge(&y, &b);
        coord_orset_merge(&y, &c);
        coord_orset_merge(&z, &a);
        coord_orset_merge(&z, &y);
        ck_assert(coord_orset_equal(&x, &z));
        coord_orset_fini(&y);
        coord_orset_merge(&y, &a);
        coord_orset_merge(&y, &a);
        ck_assert(coord_orset_equal(&y, &a));
        coord_orset_fini(&a);
        coord_orset_fini(&b);
        coord_orset_fini(&c);
        coord_orset_fini(&x);
        coord_orset_fini(&y);
        coord_orset_fini(&z);
    }
}
END_TEST

/* ---- counters --------------------------------------------------------------------------- */

START_TEST(t_pn_merge_laws)
{
    srand(4);
    for (int round = 0; round < S_ROUNDS; round++) {
        struct coord_pncounter r[3], x, y, z;
        for (int i = 0; i < 3; i++) {
            coord_pn_init(&r[i]);
            for (int k = rand() % 6; k > 0; k--) {
                coord_pn_add(&r[i], s_nodes[rand() % 4], rand() % 21 - 10);
            }
        }
        coord_pn_init(&x);
        coord_pn_init(&y);
        coord_pn_init(&z);
        coord_pn_merge(&x, &r[0]);
        coord_pn_merge(&x, &r[1]);
        coord_pn_merge(&y, &r[1]);
        coord_pn_merge(&y, &r[0]);
        ck_assert(coord_pn_equal(&x, &y));
        coord_pn_merge(&x, &r[2]);
        coord_pn_merge(&z, &r[2]);
        coord_pn_merge(&z, &y);
        ck_assert(coord_pn_equal(&x, &z));
        coord_pn_merge(&z, &z);
        coord_pn_merge(&z, &r[0]);
        ck_assert(coord_pn_equal(&x, &z));
        for (int i = 0; i < 3; i++) {
            coord_pn_fini(&r[i]);
        }
        coord_pn_fini(&x);
        coord_pn_fini(&y);
        coord_pn_fini(&z);
    }
    struct coord_pncounter c;
    coord_pn_init(&c);
    coord_pn_add(&c, "a", 5);
    coord_pn_add(&c, "b", -7);
    ck_assert_int_eq(coord_pn_value(&c), -2);
    coord_pn_fini(&c);
}
END_TEST

int
main(void)
{
    Suite *s = suite_create("coordinator_crdt");
    TCase *tc = tcase_create("vclock");
    tcase_add_test(tc, t_vclock_order);
    tcase_add_test(tc, t_vclock_merge_laws);
    suite_add_tcase(s, tc);
    tc = tcase_create("lww");
    tcase_add_test(tc, t_lww_order_and_tiebreak);
    tcase_add_test(tc, t_event_value_json);
    tcase_add_test(tc, t_lww_merge_laws);
    suite_add_tcase(s, tc);
    tc = tcase_create("orset");
    tcase_add_test(tc, t_orset_add_wins);
    tcase_add_test(tc, t_orset_merge_laws);
    suite_add_tcase(s, tc);
    tc = tcase_create("pncounter");
    tcase_add_test(tc, t_pn_merge_laws);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
