/* prefs_storm.c: N clients, each on its own control connection, save M distinct keys
 * and increment one shared counter with compare-and-swap, all at once. Prints counts
 * the system test asserts on: failed_saves, lost_updates, stale_refused. */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/ctlclient.h"
#include "common/util.h"

static const char *sock_path;
static int per_client;
static const char *domain = "org.uext.test.storm";
static int failed_saves, stale_retries;
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_barrier_t start_line;

static int save(int fd, const char *key, const char *value, int check, uint64_t gen, uint64_t *ret_gen)
{
	struct ipc_msg req, rep;
	int r = ipc_msg_init(&req, CTL_PREFS_SET, 0);
	if (r < 0) return r;
	ipc_put_str(&req, T_DOMAIN, domain);
	ipc_put_str(&req, T_KEY, key);
	ipc_put_str(&req, T_VALUE, value);
	if (check) ipc_put_u64(&req, T_GEN, gen), ipc_put_u32(&req, T_FLAGS, IPC_F_EXPECT_GEN);
	r = ctl_call(fd, &req, &rep, 30000);
	ipc_msg_done(&req);
	if (r < 0) return r;
	int32_t err = -EBADMSG;
	ipc_get_i32(&rep, T_ERR, &err);
	if (err == 0 && ret_gen) ipc_get_u64(&rep, T_GEN, ret_gen);
	ipc_msg_done(&rep);
	return err;
}

static int get(int fd, const char *key, long *ret_value, uint64_t *ret_gen)
{
	struct ipc_msg req, rep;
	int r = ipc_msg_init(&req, CTL_PREFS_GET, 0);
	if (r < 0) return r;
	ipc_put_str(&req, T_DOMAIN, domain);
	ipc_put_str(&req, T_KEY, key);
	r = ctl_call(fd, &req, &rep, 30000);
	ipc_msg_done(&req);
	if (r < 0) return r;
	int32_t err = -EBADMSG;
	ipc_get_i32(&rep, T_ERR, &err);
	const char *v;
	if (err == 0 && ipc_get_str(&rep, T_VALUE, &v) == 0) {
		*ret_value = strtol(v, NULL, 10);
		ipc_get_u64(&rep, T_GEN, ret_gen);
	}
	ipc_msg_done(&rep);
	return err;
}

static void *client(void *arg)
{
	int id = (int)(intptr_t)arg;
	int fd = ctl_connect(sock_path, 10000);
	int fails = 0, retries = 0;
	pthread_barrier_wait(&start_line);
	if (fd < 0) {
		fails = per_client * 2;
		goto out;
	}
	for (int i = 0; i < per_client; i++) {
		char key[64], val[64];
		snprintf(key, sizeof key, "client%02d.key%03d", id, i);
		snprintf(val, sizeof val, "{\"client\":%d,\"i\":%d}", id, i);
		if (save(fd, key, val, 0, 0, NULL) != 0) fails++;
		/* The shared counter: read, then save conditionally; retry on ESTALE. */
		for (;;) {
			long n = 0;
			uint64_t gen = 0;
			int r = get(fd, "counter", &n, &gen);
			if (r == -ENOENT) n = 0, gen = 0;
			else if (r < 0) {
				fails++;
				break;
			}
			snprintf(val, sizeof val, "%ld", n + 1);
			r = save(fd, "counter", val, 1, gen, NULL);
			if (r == 0) break;
			if (r != -ESTALE) {
				fails++;
				break;
			}
			retries++;
		}
	}
	close(fd);
out:
	pthread_mutex_lock(&mu);
	failed_saves += fails;
	stale_retries += retries;
	pthread_mutex_unlock(&mu);
	return NULL;
}

int main(int argc, char **argv)
{
	if (argc != 4) {
		fprintf(stderr, "usage: prefs_storm SOCKET CLIENTS SAVES_PER_CLIENT\n");
		return 2;
	}
	sock_path = argv[1];
	int n = atoi(argv[2]);
	per_client = atoi(argv[3]);
	if (n < 1 || n > 256 || per_client < 1) return 2;
	pthread_t t[256];
	pthread_barrier_init(&start_line, NULL, (unsigned)n);
	uint64_t t0 = now_mono_us();
	for (int i = 0; i < n; i++) pthread_create(&t[i], NULL, client, (void *)(intptr_t)i);
	for (int i = 0; i < n; i++) pthread_join(t[i], NULL);
	uint64_t dt = now_mono_us() - t0;

	int fd = ctl_connect(sock_path, 10000);
	if (fd < 0) return 1;
	int lost = 0;
	for (int c = 0; c < n; c++)
		for (int i = 0; i < per_client; i++) {
			char key[64];
			long v;
			uint64_t gen;
			snprintf(key, sizeof key, "client%02d.key%03d", c, i);
			if (get(fd, key, &v, &gen) != 0) lost++;
		}
	long counter = 0;
	uint64_t gen = 0;
	get(fd, "counter", &counter, &gen);
	lost += (int)((long)n * per_client - counter);
	/* A save from the generation before the last one must be refused. */
	int stale = save(fd, "counter", "0", 1, gen - 1, NULL) == -ESTALE;
	long after = 0;
	get(fd, "counter", &after, &gen);
	if (after != counter) stale = 0;
	close(fd);
	printf("clients=%d saves=%d counter=%ld cas_retries=%d elapsed_ms=%.1f saves_per_s=%.0f\n", n,
	       n * per_client * 2, counter, stale_retries, dt / 1000.0, (double)n * per_client * 2 / (dt / 1e6));
	printf("failed_saves=%d\nlost_updates=%d\nstale_refused=%d\n", failed_saves, lost, stale);
	return failed_saves || lost || !stale;
}
