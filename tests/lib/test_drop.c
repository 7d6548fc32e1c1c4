/* SPDX-License-Identifier: Apache-2.0 */
/* vx_drop: every reason has a distinct label, the counters appear in /metrics from the start
 * for the reasons registered, and a reason counted later appears then. */
#include <check.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "vx_drop.h"

START_TEST(t_names)
{
    for (int i = 0; i < VX_DROP_N; i++) {
        ck_assert_msg(vx_drop_names[i] && vx_drop_names[i][0], "reason %d has no name", i);
        enum vx_drop_reason r;
        ck_assert_int_eq(vx_drop_parse(vx_drop_names[i], &r), 0);
        ck_assert_int_eq(r, i);
        for (int j = 0; j < i; j++) {
            ck_assert_str_ne(vx_drop_names[i], vx_drop_names[j]);
        }
    }
    enum vx_drop_reason r;
    ck_assert_int_eq(vx_drop_parse("no_such_reason", &r), -EINVAL);
}
END_TEST

START_TEST(t_counters)
{
    vx_metrics_t *m = vx_metrics_new();
    struct vx_drops d;
    vx_drops_init(&d, m, "vexfs_events_dropped_total", "Events dropped.",
                  VX_DROP_BIT(VX_DROP_DUPLICATE));
    size_t len;
    char *page = vx_metrics_render(m, &len);
    ck_assert_ptr_nonnull(strstr(page, "vexfs_events_dropped_total{reason=\"duplicate\"} 0"));
    ck_assert_ptr_null(strstr(page, "busy"));
    free(page);
    vx_drops_add(&d, VX_DROP_DUPLICATE, 3);
    vx_drops_add(&d, VX_DROP_BUSY, 2);
    vx_drops_add(&d, VX_DROP_BUSY, 0);
    vx_drops_add(&d, VX_DROP_N, 5); /* not a reason: ignored */
    ck_assert_uint_eq(vx_drops_value(&d, VX_DROP_DUPLICATE), 3);
    ck_assert_uint_eq(vx_drops_value(&d, VX_DROP_BUSY), 2);
    ck_assert_uint_eq(vx_drops_value(&d, VX_DROP_SHUTDOWN), 0);
    page = vx_metrics_render(m, &len);
    ck_assert_ptr_nonnull(strstr(page, "vexfs_events_dropped_total{reason=\"busy\"} 2"));
    free(page);
    vx_metrics_destroy(&m);
}
END_TEST

int
main(void)
{
    Suite *s = suite_create("drop");
    TCase *tc = tcase_create("reasons");
    tcase_add_test(tc, t_names);
    tcase_add_test(tc, t_counters);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
