/* registry.h owns the persistent state of uextd in one SQLite database (WAL): installed
 * extensions, every state transition, preferences with per-key generations, and small
 * settings. Only uextd opens it, from one thread, so every save is serialized. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct registry;

struct reg_ext {
	char identifier[256];
	char publisher[65];
	char version[64];
	char type[32];
	char name[256];
	char state[48];
	char reason[512];
	char staged[256];     /* directory name under <state>/bundles */
	char executable[1024];
	char approved_by[16]; /* "policy", "admin", "developer" or "" while waiting */
	int is_signed;
	int slot;             /* uid = uid_base + slot */
	int64_t installed_at, updated_at; /* ms since the epoch */
};

int registry_open(const char *path, struct registry **ret, char *err, size_t errlen);
struct registry *registry_close(struct registry *r);

/* All rows, ordered by identifier. *ret is malloc'ed (free it). */
int registry_ext_list(struct registry *r, struct reg_ext **ret, size_t *ret_n);
int registry_ext_get(struct registry *r, const char *ident, struct reg_ext *ret); /* -ENOENT */
/* Insert or replace the row and record the transition from_state -> e->state, atomically. */
int registry_ext_put(struct registry *r, const struct reg_ext *e, const char *from_state);
/* Delete the row and record the transition to "uninstalled", atomically. */
int registry_ext_delete(struct registry *r, const char *ident, const char *version, const char *reason);
/* Record a transition that does not change the row (e.g. "crashed", "restarted"). */
int registry_note(struct registry *r, const char *ident, const char *version, const char *event,
		  const char *reason);
/* Smallest slot number not used by any row (>= 1). */
int registry_free_slot(struct registry *r, int *ret);
/* History as a JSON array [{time, identifier, version, from, to, reason}], newest last,
 * at most limit rows. ident NULL: all. */
int registry_history_json(struct registry *r, const char *ident, unsigned limit, char **ret);
/* Remove every extension row and every preference; history is kept. */
int registry_reset(struct registry *r, const char *reason);

int registry_setting_get(struct registry *r, const char *key, int64_t def, int64_t *ret);
int registry_setting_set(struct registry *r, const char *key, int64_t value);

#define PREFS_MAX_KEY 256u
#define PREFS_MAX_VALUE (64u * 1024u)
/* One preference: value is JSON text (malloc'ed). -ENOENT when absent. */
int registry_prefs_get(struct registry *r, const char *domain, const char *key, char **ret_value,
		       uint64_t *ret_gen);
/* Every key of domain as {"key": {"value": V, "generation": G}, ...}. */
int registry_prefs_dump(struct registry *r, const char *domain, char **ret_json);
/* Save one key in its own transaction. With check_gen, the save happens only when the
 * key's current generation equals expected_gen (0 = the key must not exist yet),
 * otherwise -ESTALE and nothing changes. The new generation goes to ret_gen. */
int registry_prefs_set(struct registry *r, const char *domain, const char *key, const char *value,
		       bool check_gen, uint64_t expected_gen, uint64_t *ret_gen);
