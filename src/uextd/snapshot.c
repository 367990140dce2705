/* snapshot.c: see snapshot.h. */
#include "snapshot.h"

#include <time.h>

void snapshot_init(struct snapshot *s)
{
	pthread_mutex_init(&s->lock, NULL);
	pthread_condattr_t ca; /* the timed wait below counts on the monotonic clock */
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&s->cond, &ca);
	pthread_condattr_destroy(&ca);
	s->doc = NULL;
	s->gen = 0;
}

void snapshot_done(struct snapshot *s)
{
	json_decref(s->doc);
	s->doc = NULL;
	pthread_cond_destroy(&s->cond);
	pthread_mutex_destroy(&s->lock);
}

void snapshot_publish(struct snapshot *s, json_t *doc)
{
	pthread_mutex_lock(&s->lock);
	json_decref(s->doc);
	s->doc = doc;
	s->gen++;
	pthread_cond_broadcast(&s->cond);
	pthread_mutex_unlock(&s->lock);
}

json_t *snapshot_get(struct snapshot *s, bool (*ask)(void *arg), void *arg, unsigned wait_ms)
{
	pthread_mutex_lock(&s->lock);
	uint64_t gen = s->gen;
	pthread_mutex_unlock(&s->lock);
	bool asked = ask(arg);
	struct timespec until;
	clock_gettime(CLOCK_MONOTONIC, &until);
	until.tv_sec += wait_ms / 1000;
	until.tv_nsec += (long)(wait_ms % 1000) * 1000000;
	if (until.tv_nsec >= 1000000000) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000;
	}
	pthread_mutex_lock(&s->lock);
	while (asked && s->gen == gen)
		if (pthread_cond_timedwait(&s->cond, &s->lock, &until) != 0) break;
	json_t *d = s->doc ? json_deep_copy(s->doc) : json_object();
	pthread_mutex_unlock(&s->lock);
	return d;
}
