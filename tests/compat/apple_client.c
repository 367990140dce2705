/* apple_client.c: an Endpoint Security client written only against Apple's documented API,
 * the way macOS sample code writes one: a block handler that answers AUTH_EXEC (at once, or
 * from another thread after es_retain_message when the decision may take a while), logs
 * NOTIFY_FORK and NOTIFY_EXIT, mutes a noisy path and a noisy process, and tears down.
 *
 * It must compile against uext's headers unchanged: the build points
 * <EndpointSecurity/EndpointSecurity.h>, <bsm/libbsm.h> and <mach/mach_time.h> at
 * include/uext/compat and compiles it with clang -fblocks (as on macOS), and also, to cover
 * the C-function handler, without blocks: the one #if below is the only uext-specific line,
 * and on macOS, where clang always has blocks, it keeps Apple's path. It is compiled, not
 * linked (see tests/CMakeLists.txt). */
#include <EndpointSecurity/EndpointSecurity.h>
#include <bsm/libbsm.h>
#include <mach/mach_time.h>

#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static const char *const denied_executables[] = {"/usr/bin/nc", "/usr/bin/ncat"};

static uint64_t ns_until_deadline(const es_message_t *msg)
{
	static mach_timebase_info_data_t timebase;
	if (timebase.denom == 0)
		mach_timebase_info(&timebase);
	uint64_t now = mach_absolute_time();
	if (msg->deadline <= now)
		return 0;
	return (msg->deadline - now) * timebase.numer / timebase.denom;
}

static bool is_denied(const es_file_t *file)
{
	for (size_t i = 0; i < sizeof denied_executables / sizeof denied_executables[0]; i++)
		if (strcmp(file->path.data, denied_executables[i]) == 0)
			return true;
	return false;
}

static void print_exec(const es_message_t *msg)
{
	const es_event_exec_t *exec = &msg->event.exec;
	printf("exec pid=%d pidversion=%d euid=%u %s", audit_token_to_pid(msg->process->audit_token),
	       audit_token_to_pidversion(exec->target->audit_token), audit_token_to_euid(exec->target->audit_token),
	       exec->target->executable->path.data);
	uint32_t argc = es_exec_arg_count(exec);
	for (uint32_t i = 0; i < argc; i++) {
		es_string_token_t arg = es_exec_arg(exec, i);
		printf(" %.*s", (int)arg.length, arg.data);
	}
	if (msg->version >= 3)
		printf(" (cwd %s)", exec->cwd->path.data);
	printf("\n");
}

/* Slow decisions (a policy lookup, say) are answered from another thread: the message is
 * retained in the handler and released once answered. */
struct pending {
	es_client_t *client;
	const es_message_t *msg;
};

static void *answer_later(void *arg)
{
	struct pending *p = arg;
	es_auth_result_t result = is_denied(p->msg->event.exec.target->executable) ? ES_AUTH_RESULT_DENY
										    : ES_AUTH_RESULT_ALLOW;
	es_respond_result_t r = es_respond_auth_result(p->client, p->msg, result, false);
	if (r != ES_RESPOND_RESULT_SUCCESS)
		fprintf(stderr, "es_respond_auth_result: %d\n", r);
	es_release_message(p->msg);
	free(p);
	return NULL;
}

static void handle_auth_exec(es_client_t *client, const es_message_t *msg)
{
	print_exec(msg);
	/* leave the slow path a second of headroom before the deadline */
	if (ns_until_deadline(msg) > 1000000000ull) {
		struct pending *p = malloc(sizeof *p);
		pthread_t thread;
		if (p) {
			p->client = client;
			p->msg = msg;
			es_retain_message(msg);
			if (pthread_create(&thread, NULL, answer_later, p) == 0) {
				pthread_detach(thread);
				return;
			}
			es_release_message(msg);
			free(p);
		}
	}
	es_auth_result_t result = is_denied(msg->event.exec.target->executable) ? ES_AUTH_RESULT_DENY
										 : ES_AUTH_RESULT_ALLOW;
	es_respond_auth_result(client, msg, result, result == ES_AUTH_RESULT_ALLOW);
}

static void handle_message(es_client_t *client, const es_message_t *msg)
{
	switch (msg->event_type) {
	case ES_EVENT_TYPE_AUTH_EXEC:
		handle_auth_exec(client, msg);
		break;
	case ES_EVENT_TYPE_NOTIFY_FORK:
		printf("fork %d -> %d\n", audit_token_to_pid(msg->process->audit_token),
		       audit_token_to_pid(msg->event.fork.child->audit_token));
		break;
	case ES_EVENT_TYPE_NOTIFY_EXIT: {
		int stat = msg->event.exit.stat;
		printf("exit %d status %d seq %llu\n", audit_token_to_pid(msg->process->audit_token),
		       WIFEXITED(stat) ? WEXITSTATUS(stat) : -WTERMSIG(stat), (unsigned long long)msg->seq_num);
		/* a process that exits a lot is not interesting: stop hearing about it */
		if (strcmp(msg->process->executable->path.data, "/usr/bin/true") == 0)
			es_mute_process(client, &msg->process->audit_token);
		break;
	}
	default:
		if (msg->action_type == ES_ACTION_TYPE_AUTH)
			es_respond_auth_result(client, msg, ES_AUTH_RESULT_ALLOW, false);
		break;
	}
}

#if !defined(__BLOCKS__)
static void handle_message_f(es_client_t *client, const es_message_t *msg, void *ctx)
{
	(void)ctx;
	handle_message(client, msg);
}
#endif

int main(void)
{
	es_client_t *client = NULL;
#if defined(__BLOCKS__)
	es_new_client_result_t res = es_new_client(&client, ^(es_client_t *c, const es_message_t *msg) {
		handle_message(c, msg);
	});
#else
	es_new_client_result_t res = es_new_client_f(&client, handle_message_f, NULL);
#endif
	if (res != ES_NEW_CLIENT_RESULT_SUCCESS) {
		switch (res) {
		case ES_NEW_CLIENT_RESULT_ERR_NOT_ENTITLED:
			fprintf(stderr, "not entitled\n");
			break;
		case ES_NEW_CLIENT_RESULT_ERR_NOT_PERMITTED:
			fprintf(stderr, "not permitted (Full Disk Access?)\n");
			break;
		case ES_NEW_CLIENT_RESULT_ERR_NOT_PRIVILEGED:
			fprintf(stderr, "must run as root\n");
			break;
		default:
			fprintf(stderr, "es_new_client: %d\n", res);
			break;
		}
		return 1;
	}

	if (es_mute_path(client, "/usr/bin/yes", ES_MUTE_PATH_TYPE_LITERAL) != ES_RETURN_SUCCESS)
		fprintf(stderr, "es_mute_path failed\n");

	es_muted_paths_t *muted = NULL;
	if (es_muted_paths_events(client, &muted) == ES_RETURN_SUCCESS) {
		for (size_t i = 0; i < muted->count; i++)
			printf("muted: %s (%zu events)\n", muted->paths[i].path.data, muted->paths[i].event_count);
		es_release_muted_paths(muted);
	}

	es_event_type_t events[] = {ES_EVENT_TYPE_AUTH_EXEC, ES_EVENT_TYPE_NOTIFY_FORK, ES_EVENT_TYPE_NOTIFY_EXIT};
	if (es_subscribe(client, events, sizeof events / sizeof events[0]) != ES_RETURN_SUCCESS) {
		fprintf(stderr, "es_subscribe failed\n");
		es_delete_client(client);
		return 1;
	}
	if (es_clear_cache(client) != ES_CLEAR_CACHE_RESULT_SUCCESS)
		fprintf(stderr, "es_clear_cache failed\n");

	size_t count = 0;
	es_event_type_t *subscribed = NULL;
	if (es_subscriptions(client, &count, &subscribed) == ES_RETURN_SUCCESS) {
		printf("%zu subscriptions\n", count);
		free(subscribed);
	}

	/* run until interrupted */
	sigset_t set;
	int sig;
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	sigwait(&set, &sig);

	es_unsubscribe_all(client);
	es_delete_client(client);
	return 0;
}
