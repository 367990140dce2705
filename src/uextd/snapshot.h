/* snapshot.h: a JSON status document an engine thread publishes and other threads read
 * (uextctl status). A reader may ask the engine for a fresh one and wait a little for it;
 * a busy engine then gives its last one. Thread-safe. */
#pragma once

#include <jansson.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

struct snapshot {
	pthread_mutex_t lock;
	pthread_cond_t cond; /* on CLOCK_MONOTONIC */
	json_t *doc;
	uint64_t gen;
};

void snapshot_init(struct snapshot *s);
void snapshot_done(struct snapshot *s);
/* Replace the document (the reference to doc is taken). */
void snapshot_publish(struct snapshot *s, json_t *doc);
/* A copy of the document (new reference). ask(arg) asks the engine to publish a fresh one
 * (false: it could not be asked); the wait for it is at most wait_ms. */
json_t *snapshot_get(struct snapshot *s, bool (*ask)(void *arg), void *arg, unsigned wait_ms);
