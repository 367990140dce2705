/* registry.c owns the SQLite connection of uextd and every statement run on it. */
#include "registry.h"

#include <errno.h>
#include <jansson.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"

struct registry {
	sqlite3 *db;
	sqlite3_stmt *pget, *pset_ins, *pset_upd, *pgen;
};

static const char schema[] =
	"PRAGMA journal_mode=WAL;"
	"PRAGMA synchronous=NORMAL;"
	"PRAGMA foreign_keys=ON;"
	"CREATE TABLE IF NOT EXISTS extensions("
	" identifier TEXT PRIMARY KEY, publisher TEXT NOT NULL, version TEXT NOT NULL,"
	" type TEXT NOT NULL, name TEXT NOT NULL, state TEXT NOT NULL, reason TEXT NOT NULL,"
	" staged TEXT NOT NULL, executable TEXT NOT NULL, approved_by TEXT NOT NULL,"
	" is_signed INTEGER NOT NULL, slot INTEGER NOT NULL UNIQUE,"
	" installed_at INTEGER NOT NULL, updated_at INTEGER NOT NULL);"
	"CREATE TABLE IF NOT EXISTS transitions("
	" id INTEGER PRIMARY KEY, time INTEGER NOT NULL, identifier TEXT NOT NULL,"
	" version TEXT NOT NULL, from_state TEXT NOT NULL, to_state TEXT NOT NULL, reason TEXT NOT NULL);"
	"CREATE INDEX IF NOT EXISTS transitions_ident ON transitions(identifier, id);"
	"CREATE TABLE IF NOT EXISTS prefs("
	" domain TEXT NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL,"
	" generation INTEGER NOT NULL, updated_at INTEGER NOT NULL, PRIMARY KEY(domain, key));"
	"CREATE TABLE IF NOT EXISTS settings(key TEXT PRIMARY KEY, value INTEGER NOT NULL);";

static int sqerr(struct registry *r, int rc)
{
	(void)r;
	switch (rc) {
	case SQLITE_OK:
	case SQLITE_DONE:
	case SQLITE_ROW:
		return 0;
	case SQLITE_NOMEM:
		return -ENOMEM;
	case SQLITE_BUSY:
	case SQLITE_LOCKED:
		return -EBUSY;
	case SQLITE_FULL:
		return -ENOSPC;
	case SQLITE_CONSTRAINT:
		return -EEXIST;
	case SQLITE_READONLY:
		return -EROFS;
	default:
		return -EIO;
	}
}

int registry_open(const char *path, struct registry **ret, char *err, size_t errlen)
{
	struct registry *r = calloc(1, sizeof *r);
	if (!r) return -ENOMEM;
	int rc = sqlite3_open_v2(path, &r->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
	if (rc != SQLITE_OK) goto err;
	sqlite3_busy_timeout(r->db, 5000);
	char *msg = NULL;
	rc = sqlite3_exec(r->db, schema, NULL, NULL, &msg);
	if (rc != SQLITE_OK) {
		snprintf(err, errlen, "registry '%s': %s", path, msg ? msg : sqlite3_errstr(rc));
		sqlite3_free(msg);
		goto err_msg;
	}
	if ((rc = sqlite3_prepare_v2(r->db, "SELECT value, generation FROM prefs WHERE domain=?1 AND key=?2", -1, &r->pget, NULL)) ||
	    (rc = sqlite3_prepare_v2(r->db, "SELECT generation FROM prefs WHERE domain=?1 AND key=?2", -1, &r->pgen, NULL)) ||
	    (rc = sqlite3_prepare_v2(r->db, "INSERT INTO prefs(domain,key,value,generation,updated_at) VALUES(?1,?2,?3,1,?4)", -1, &r->pset_ins, NULL)) ||
	    (rc = sqlite3_prepare_v2(r->db, "UPDATE prefs SET value=?3, generation=generation+1, updated_at=?4 WHERE domain=?1 AND key=?2", -1, &r->pset_upd, NULL)))
		goto err;
	*ret = r;
	return 0;
err:
	snprintf(err, errlen, "registry '%s': %s", path, r->db ? sqlite3_errmsg(r->db) : sqlite3_errstr(rc));
err_msg:;
	int e = sqerr(r, rc);
	registry_close(r);
	return e ? e : -EIO;
}

struct registry *registry_close(struct registry *r)
{
	if (!r) return NULL;
	sqlite3_finalize(r->pget);
	sqlite3_finalize(r->pgen);
	sqlite3_finalize(r->pset_ins);
	sqlite3_finalize(r->pset_upd);
	sqlite3_close_v2(r->db);
	free(r);
	return NULL;
}

static int exec(struct registry *r, const char *sql) { return sqerr(r, sqlite3_exec(r->db, sql, NULL, NULL, NULL)); }

static void col_text(sqlite3_stmt *s, int i, char *dst, size_t n)
{
	const unsigned char *t = sqlite3_column_text(s, i);
	strlcpy_(dst, t ? (const char *)t : "", n);
}

static void row_to_ext(sqlite3_stmt *s, struct reg_ext *e)
{
	memset(e, 0, sizeof *e);
	col_text(s, 0, e->identifier, sizeof e->identifier);
	col_text(s, 1, e->publisher, sizeof e->publisher);
	col_text(s, 2, e->version, sizeof e->version);
	col_text(s, 3, e->type, sizeof e->type);
	col_text(s, 4, e->name, sizeof e->name);
	col_text(s, 5, e->state, sizeof e->state);
	col_text(s, 6, e->reason, sizeof e->reason);
	col_text(s, 7, e->staged, sizeof e->staged);
	col_text(s, 8, e->executable, sizeof e->executable);
	col_text(s, 9, e->approved_by, sizeof e->approved_by);
	e->is_signed = sqlite3_column_int(s, 10);
	e->slot = sqlite3_column_int(s, 11);
	e->installed_at = sqlite3_column_int64(s, 12);
	e->updated_at = sqlite3_column_int64(s, 13);
}

#define EXT_COLS "identifier,publisher,version,type,name,state,reason,staged,executable,approved_by,is_signed,slot,installed_at,updated_at"

int registry_ext_list(struct registry *r, struct reg_ext **ret, size_t *ret_n)
{
	sqlite3_stmt *s;
	int rc = sqlite3_prepare_v2(r->db, "SELECT " EXT_COLS " FROM extensions ORDER BY identifier", -1, &s, NULL);
	if (rc) return sqerr(r, rc);
	struct reg_ext *v = NULL;
	size_t n = 0;
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		struct reg_ext *nv = realloc(v, (n + 1) * sizeof *v);
		if (!nv) {
			rc = SQLITE_NOMEM;
			break;
		}
		v = nv;
		row_to_ext(s, &v[n++]);
	}
	sqlite3_finalize(s);
	if (rc != SQLITE_DONE) {
		free(v);
		return sqerr(r, rc) ? sqerr(r, rc) : -EIO;
	}
	*ret = v;
	*ret_n = n;
	return 0;
}

int registry_ext_get(struct registry *r, const char *ident, struct reg_ext *ret)
{
	sqlite3_stmt *s;
	int rc = sqlite3_prepare_v2(r->db, "SELECT " EXT_COLS " FROM extensions WHERE identifier=?1", -1, &s, NULL);
	if (rc) return sqerr(r, rc);
	sqlite3_bind_text(s, 1, ident, -1, SQLITE_STATIC);
	rc = sqlite3_step(s);
	int e = 0;
	if (rc == SQLITE_ROW)
		row_to_ext(s, ret);
	else
		e = rc == SQLITE_DONE ? -ENOENT : sqerr(r, rc);
	sqlite3_finalize(s);
	return e;
}

static int add_transition(struct registry *r, const char *ident, const char *version, const char *from,
			  const char *to, const char *reason)
{
	sqlite3_stmt *s;
	int rc = sqlite3_prepare_v2(r->db,
		"INSERT INTO transitions(time,identifier,version,from_state,to_state,reason) VALUES(?1,?2,?3,?4,?5,?6)",
		-1, &s, NULL);
	if (rc) return sqerr(r, rc);
	sqlite3_bind_int64(s, 1, now_real_ms());
	sqlite3_bind_text(s, 2, ident, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 3, version ? version : "", -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 4, from ? from : "", -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 5, to, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 6, reason ? reason : "", -1, SQLITE_STATIC);
	rc = sqlite3_step(s);
	sqlite3_finalize(s);
	return sqerr(r, rc);
}

/* Runs body inside BEGIN IMMEDIATE ... COMMIT; rolls back on failure. */
#define TX(r, body)                                                   \
	({                                                            \
		int tx_e = exec(r, "BEGIN IMMEDIATE");                \
		if (tx_e == 0) {                                      \
			tx_e = (body);                                \
			if (tx_e == 0) tx_e = exec(r, "COMMIT");      \
			if (tx_e < 0) exec(r, "ROLLBACK");            \
		}                                                     \
		tx_e;                                                 \
	})

static int put_row(struct registry *r, const struct reg_ext *e)
{
	sqlite3_stmt *s;
	int rc = sqlite3_prepare_v2(r->db,
		/* An upsert on the identifier only: a clash on the unique slot must fail, not
		 * silently delete the other extension's row as OR REPLACE would. */
		"INSERT INTO extensions(" EXT_COLS ") VALUES(?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12,?13,?14) "
		"ON CONFLICT(identifier) DO UPDATE SET publisher=?2,version=?3,type=?4,name=?5,state=?6,"
		"reason=?7,staged=?8,executable=?9,approved_by=?10,is_signed=?11,slot=?12,installed_at=?13,updated_at=?14",
		-1, &s, NULL);
	if (rc) return sqerr(r, rc);
	sqlite3_bind_text(s, 1, e->identifier, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 2, e->publisher, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 3, e->version, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 4, e->type, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 5, e->name, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 6, e->state, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 7, e->reason, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 8, e->staged, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 9, e->executable, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 10, e->approved_by, -1, SQLITE_STATIC);
	sqlite3_bind_int(s, 11, e->is_signed);
	sqlite3_bind_int(s, 12, e->slot);
	sqlite3_bind_int64(s, 13, e->installed_at);
	sqlite3_bind_int64(s, 14, e->updated_at);
	rc = sqlite3_step(s);
	sqlite3_finalize(s);
	return sqerr(r, rc);
}

int registry_ext_put(struct registry *r, const struct reg_ext *e, const char *from_state)
{
	return TX(r, put_row(r, e) ?: add_transition(r, e->identifier, e->version, from_state, e->state, e->reason));
}

static int delete_row(struct registry *r, const char *ident)
{
	sqlite3_stmt *s;
	int rc = sqlite3_prepare_v2(r->db, "DELETE FROM extensions WHERE identifier=?1", -1, &s, NULL);
	if (rc) return sqerr(r, rc);
	sqlite3_bind_text(s, 1, ident, -1, SQLITE_STATIC);
	rc = sqlite3_step(s);
	sqlite3_finalize(s);
	return sqerr(r, rc);
}

int registry_ext_delete(struct registry *r, const char *ident, const char *version, const char *reason)
{
	return TX(r, delete_row(r, ident) ?: add_transition(r, ident, version, "terminated_waiting_to_uninstall", "uninstalled", reason));
}

int registry_note(struct registry *r, const char *ident, const char *version, const char *event, const char *reason)
{
	return add_transition(r, ident, version, "", event, reason);
}

int registry_free_slot(struct registry *r, int *ret)
{
	sqlite3_stmt *s;
	/* The first gap in the used slots, or one past the largest. */
	int rc = sqlite3_prepare_v2(r->db,
		"SELECT 1 WHERE NOT EXISTS(SELECT 1 FROM extensions WHERE slot=1) "
		"UNION ALL SELECT slot+1 FROM extensions e WHERE NOT EXISTS"
		"(SELECT 1 FROM extensions f WHERE f.slot=e.slot+1) ORDER BY 1 LIMIT 1",
		-1, &s, NULL);
	if (rc) return sqerr(r, rc);
	rc = sqlite3_step(s);
	int e = 0;
	if (rc == SQLITE_ROW)
		*ret = sqlite3_column_int(s, 0);
	else
		e = rc == SQLITE_DONE ? -EIO : sqerr(r, rc);
	sqlite3_finalize(s);
	return e;
}

int registry_history_json(struct registry *r, const char *ident, unsigned limit, char **ret)
{
	sqlite3_stmt *s;
	int rc = sqlite3_prepare_v2(r->db,
		"SELECT time,identifier,version,from_state,to_state,reason FROM "
		"(SELECT * FROM transitions WHERE ?1 IS NULL OR identifier=?1 ORDER BY id DESC LIMIT ?2) ORDER BY id",
		-1, &s, NULL);
	if (rc) return sqerr(r, rc);
	if (ident)
		sqlite3_bind_text(s, 1, ident, -1, SQLITE_STATIC);
	else
		sqlite3_bind_null(s, 1);
	sqlite3_bind_int(s, 2, (int)limit);
	json_t *a = json_array();
	while (a && (rc = sqlite3_step(s)) == SQLITE_ROW) {
		json_array_append_new(a, json_pack("{s:I,s:s,s:s,s:s,s:s,s:s}", "time", (json_int_t)sqlite3_column_int64(s, 0),
			"identifier", (const char *)sqlite3_column_text(s, 1), "version", (const char *)sqlite3_column_text(s, 2),
			"from", (const char *)sqlite3_column_text(s, 3), "to", (const char *)sqlite3_column_text(s, 4),
			"reason", (const char *)sqlite3_column_text(s, 5)));
	}
	sqlite3_finalize(s);
	if (!a) return -ENOMEM;
	if (rc != SQLITE_DONE) {
		json_decref(a);
		return sqerr(r, rc) ?: -EIO;
	}
	*ret = json_dumps(a, JSON_COMPACT);
	json_decref(a);
	return *ret ? 0 : -ENOMEM;
}

int registry_reset(struct registry *r, const char *reason)
{
	return TX(r, exec(r, "DELETE FROM extensions; DELETE FROM prefs;") ?: add_transition(r, "*", "", "", "reset", reason));
}

int registry_setting_get(struct registry *r, const char *key, int64_t def, int64_t *ret)
{
	sqlite3_stmt *s;
	int rc = sqlite3_prepare_v2(r->db, "SELECT value FROM settings WHERE key=?1", -1, &s, NULL);
	if (rc) return sqerr(r, rc);
	sqlite3_bind_text(s, 1, key, -1, SQLITE_STATIC);
	rc = sqlite3_step(s);
	*ret = rc == SQLITE_ROW ? sqlite3_column_int64(s, 0) : def;
	sqlite3_finalize(s);
	return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : sqerr(r, rc);
}

int registry_setting_set(struct registry *r, const char *key, int64_t value)
{
	sqlite3_stmt *s;
	int rc = sqlite3_prepare_v2(r->db, "INSERT OR REPLACE INTO settings(key,value) VALUES(?1,?2)", -1, &s, NULL);
	if (rc) return sqerr(r, rc);
	sqlite3_bind_text(s, 1, key, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 2, value);
	rc = sqlite3_step(s);
	sqlite3_finalize(s);
	return sqerr(r, rc);
}

int registry_prefs_get(struct registry *r, const char *domain, const char *key, char **ret_value, uint64_t *ret_gen)
{
	sqlite3_stmt *s = r->pget;
	sqlite3_reset(s);
	sqlite3_bind_text(s, 1, domain, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 2, key, -1, SQLITE_STATIC);
	int rc = sqlite3_step(s);
	int e = 0;
	if (rc == SQLITE_ROW) {
		const char *v = (const char *)sqlite3_column_text(s, 0);
		*ret_value = strdup(v ? v : "null");
		*ret_gen = (uint64_t)sqlite3_column_int64(s, 1);
		if (!*ret_value) e = -ENOMEM;
	} else {
		e = rc == SQLITE_DONE ? -ENOENT : sqerr(r, rc);
	}
	sqlite3_reset(s);
	return e;
}

int registry_prefs_dump(struct registry *r, const char *domain, char **ret_json)
{
	sqlite3_stmt *s;
	int rc = sqlite3_prepare_v2(r->db, "SELECT key,value,generation FROM prefs WHERE domain=?1 ORDER BY key", -1, &s, NULL);
	if (rc) return sqerr(r, rc);
	sqlite3_bind_text(s, 1, domain, -1, SQLITE_STATIC);
	json_t *o = json_object();
	while (o && (rc = sqlite3_step(s)) == SQLITE_ROW) {
		json_t *v = json_loads((const char *)sqlite3_column_text(s, 1), JSON_DECODE_ANY, NULL);
		json_object_set_new(o, (const char *)sqlite3_column_text(s, 0),
				    json_pack("{s:o,s:I}", "value", v ? v : json_null(), "generation",
					      (json_int_t)sqlite3_column_int64(s, 2)));
	}
	sqlite3_finalize(s);
	if (!o) return -ENOMEM;
	if (rc != SQLITE_DONE) {
		json_decref(o);
		return sqerr(r, rc) ?: -EIO;
	}
	*ret_json = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	return *ret_json ? 0 : -ENOMEM;
}

static int prefs_set_tx(struct registry *r, const char *domain, const char *key, const char *value, bool check_gen,
			uint64_t expected_gen, uint64_t *ret_gen)
{
	sqlite3_stmt *s = r->pgen;
	sqlite3_reset(s);
	sqlite3_bind_text(s, 1, domain, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 2, key, -1, SQLITE_STATIC);
	int rc = sqlite3_step(s);
	uint64_t cur = 0;
	if (rc == SQLITE_ROW) cur = (uint64_t)sqlite3_column_int64(s, 0);
	else if (rc != SQLITE_DONE) {
		sqlite3_reset(s);
		return sqerr(r, rc);
	}
	bool exists = rc == SQLITE_ROW;
	sqlite3_reset(s);
	if (check_gen && cur != expected_gen) return -ESTALE;
	s = exists ? r->pset_upd : r->pset_ins;
	sqlite3_reset(s);
	sqlite3_bind_text(s, 1, domain, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 2, key, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 3, value, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 4, now_real_ms());
	rc = sqlite3_step(s);
	sqlite3_reset(s);
	if (rc != SQLITE_DONE) return sqerr(r, rc) ?: -EIO;
	*ret_gen = cur + 1;
	return 0;
}

int registry_prefs_set(struct registry *r, const char *domain, const char *key, const char *value, bool check_gen,
		       uint64_t expected_gen, uint64_t *ret_gen)
{
	return TX(r, prefs_set_tx(r, domain, key, value, check_gen, expected_gen, ret_gen));
}
