/* test_registry.c: the SQLite registry — rows and transitions written together,
 * free slots, history, reset, and preference generations with ESTALE. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "common/util.h"
#include "uextd/registry.h"

static char dir[64];
static char db[128];

static int setup(void **state)
{
	(void)state;
	strcpy(dir, "/tmp/uext-reg.XXXXXX");
	if (!mkdtemp(dir)) return -1;
	snprintf(db, sizeof db, "%s/registry.db", dir);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	char cmd[128];
	snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
	return system(cmd);
}

static struct registry *open_reg(void)
{
	struct registry *r = NULL;
	char err[256];
	assert_int_equal(registry_open(db, &r, err, sizeof err), 0);
	return r;
}

static void row(struct reg_ext *e, const char *id, int slot)
{
	memset(e, 0, sizeof *e);
	strcpy(e->identifier, id);
	strcpy(e->publisher, "p");
	strcpy(e->version, "1.0");
	strcpy(e->type, "driver");
	strcpy(e->name, id);
	strcpy(e->state, "activated_enabled");
	strcpy(e->reason, "test");
	strcpy(e->staged, "s");
	strcpy(e->executable, "bin/x");
	e->slot = slot;
}

static void test_rows_and_history(void **state)
{
	(void)state;
	struct registry *r = open_reg();
	struct reg_ext e, got;
	int slot;
	assert_int_equal(registry_free_slot(r, &slot), 0);
	assert_int_equal(slot, 1);
	row(&e, "a.b", 1);
	assert_int_equal(registry_ext_put(r, &e, ""), 0);
	row(&e, "a.c", 3);
	assert_int_equal(registry_ext_put(r, &e, ""), 0);
	assert_int_equal(registry_free_slot(r, &slot), 0);
	assert_int_equal(slot, 2); /* first gap */
	row(&e, "a.d", 1);
	assert_int_equal(registry_ext_put(r, &e, ""), -EEXIST); /* slots are unique */
	assert_int_equal(registry_ext_get(r, "a.c", &got), 0);
	assert_int_equal(got.slot, 3);
	assert_int_equal(registry_ext_get(r, "zz", &got), -ENOENT);
	strcpy(e.identifier, "a.b");
	strcpy(e.state, "failed");
	assert_int_equal(registry_ext_put(r, &e, "activated_enabled"), 0);
	registry_close(r);

	r = open_reg(); /* persisted */
	struct reg_ext *all;
	size_t n;
	assert_int_equal(registry_ext_list(r, &all, &n), 0);
	assert_int_equal(n, 2);
	assert_string_equal(all[0].identifier, "a.b");
	assert_string_equal(all[0].state, "failed");
	free(all);
	char *h;
	assert_int_equal(registry_history_json(r, "a.b", 100, &h), 0);
	json_t *j = json_loads(h, 0, NULL);
	free(h);
	assert_int_equal(json_array_size(j), 2);
	assert_string_equal(json_string_value(json_object_get(json_array_get(j, 1), "from")), "activated_enabled");
	assert_string_equal(json_string_value(json_object_get(json_array_get(j, 1), "to")), "failed");
	json_decref(j);
	assert_int_equal(registry_ext_delete(r, "a.b", "1.0", "bye"), 0);
	assert_int_equal(registry_ext_get(r, "a.b", &got), -ENOENT);
	assert_int_equal(registry_reset(r, "test"), 0);
	assert_int_equal(registry_ext_list(r, &all, &n), 0);
	assert_int_equal(n, 0);
	free(all);
	registry_close(r);
}

static void test_prefs_generations(void **state)
{
	(void)state;
	struct registry *r = open_reg();
	uint64_t g1, g2, g;
	char *v;
	assert_int_equal(registry_prefs_get(r, "d", "k", &v, &g), -ENOENT);
	assert_int_equal(registry_prefs_set(r, "d", "k", "1", true, 5, &g1), -ESTALE); /* must not exist: expect 0 */
	assert_int_equal(registry_prefs_set(r, "d", "k", "1", true, 0, &g1), 0);
	assert_int_equal(g1, 1);
	assert_int_equal(registry_prefs_set(r, "d", "k", "2", true, 0, &g2), -ESTALE);
	assert_int_equal(registry_prefs_set(r, "d", "k", "2", true, g1, &g2), 0);
	assert_int_equal(g2, 2);
	assert_int_equal(registry_prefs_set(r, "d", "k", "3", true, g1, &g), -ESTALE); /* stale */
	assert_int_equal(registry_prefs_get(r, "d", "k", &v, &g), 0);
	assert_string_equal(v, "2"); /* the stale save changed nothing */
	assert_int_equal(g, 2);
	free(v);
	assert_int_equal(registry_prefs_set(r, "d", "k", "\"x\"", false, 0, &g), 0); /* unconditional */
	assert_int_equal(g, 3);
	assert_int_equal(registry_prefs_set(r, "other", "k", "{}", false, 0, &g), 0);
	assert_int_equal(g, 1); /* domains are separate */
	char *all;
	assert_int_equal(registry_prefs_dump(r, "d", &all), 0);
	json_t *j = json_loads(all, 0, NULL);
	free(all);
	assert_string_equal(json_string_value(json_object_get(json_object_get(j, "k"), "value")), "x");
	assert_int_equal(json_integer_value(json_object_get(json_object_get(j, "k"), "generation")), 3);
	json_decref(j);
	int64_t s;
	assert_int_equal(registry_setting_get(r, "developer_mode", 7, &s), 0);
	assert_int_equal(s, 7);
	assert_int_equal(registry_setting_set(r, "developer_mode", 1), 0);
	assert_int_equal(registry_setting_get(r, "developer_mode", 7, &s), 0);
	assert_int_equal(s, 1);
	registry_close(r);
}

static void test_open_errors(void **state)
{
	(void)state;
	struct registry *r = NULL;
	char err[256] = "";
	assert_true(registry_open("/nonexistent-dir/x/registry.db", &r, err, sizeof err) < 0);
	assert_null(r);
	assert_non_null(strstr(err, "/nonexistent-dir/x/registry.db"));
	char junk[160];
	snprintf(junk, sizeof junk, "%s/junk.db", dir);
	FILE *f = fopen(junk, "w");
	fputs("this is not a database, it is a text file that is long enough to have a header\n", f);
	fclose(f);
	assert_true(registry_open(junk, &r, err, sizeof err) < 0);
	assert_null(r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_rows_and_history, setup, teardown),
		cmocka_unit_test_setup_teardown(test_prefs_generations, setup, teardown),
		cmocka_unit_test_setup_teardown(test_open_errors, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
