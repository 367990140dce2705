/* proc_bpf.c owns the eBPF process-event source: the skeleton of bpf/proc.bpf.c, its links
 * and ring buffer, and the record of which probe attached and why another did not. Every
 * ring-buffer record is copied and checked before the caller sees it. The shared front
 * (procsrc_new, AUTO) is in proc_cn.c; the contract is in procsrc.h. */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "uextd/es/procsrc.h"

#ifndef UEXT_HAVE_BPF

int procsrc_bpf_new(const struct procsrc_opts *o, struct procsrc_bpf **ret, char *why,
		    size_t whylen)
{
	if (why && whylen)
		snprintf(why, whylen, "built without eBPF support (bpftool, clang, libbpf or "
				      "kernel BTF missing at configure time)");
	return -EOPNOTSUPP;
}

struct procsrc_bpf *procsrc_bpf_free(struct procsrc_bpf *b)
{
	return NULL;
}

int procsrc_bpf_fd(const struct procsrc_bpf *b)
{
	return -EBADF;
}

int procsrc_bpf_read(struct procsrc_bpf *b, procsrc_cb cb, void *data)
{
	return -EOPNOTSUPP;
}

uint32_t procsrc_bpf_events(const struct procsrc_bpf *b)
{
	return 0;
}

void procsrc_bpf_set_waiting(struct procsrc_bpf *b, bool waiting)
{
	(void)b;
	(void)waiting;
}

void procsrc_bpf_stats(const struct procsrc_bpf *b, struct procsrc_stats *ret)
{
	memset(ret, 0, sizeof(*ret));
}

size_t procsrc_bpf_probes(const struct procsrc_bpf *b, const struct procsrc_probe **ret)
{
	*ret = NULL;
	return 0;
}

#else /* UEXT_HAVE_BPF */

#include <stdarg.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "proc.skel.h"

#ifndef SYS_move_mount
#define SYS_move_mount 429 /* the same number on every architecture */
#endif

#define EVB PROC_EV_BIT
/* arguments stashed at entry, reported at exit: they need both probes */
#define SYS_PAIRED_EVENTS                                                                  \
	(EVB(PROC_EV_PTRACE) | EVB(PROC_EV_MOUNT) | EVB(PROC_EV_UMOUNT) |                  \
	 EVB(PROC_EV_MODULE_LOAD) | EVB(PROC_EV_SETATTR))
#define SYS_ENTER_EVENTS (SYS_PAIRED_EVENTS | EVB(PROC_EV_EXEC_ARGS))
#define SYS_EXIT_EVENTS (SYS_PAIRED_EVENTS | EVB(PROC_EV_SETUID) | EVB(PROC_EV_SETGID))

enum { P_EXEC, P_FORK, P_EXIT, P_SIGNAL, P_SYS_ENTER, P_SYS_EXIT, P_N };

static const struct {
	const char *name;
	uint32_t events;
	bool core; /* when wanted, the source is refused without it */
} probe_desc[P_N] = {
	[P_EXEC] = { "tp_btf/sched_process_exec", EVB(PROC_EV_EXEC), true },
	[P_FORK] = { "tp_btf/sched_process_fork", EVB(PROC_EV_FORK), true },
	[P_EXIT] = { "tp_btf/sched_process_exit", EVB(PROC_EV_EXIT), true },
	[P_SIGNAL] = { "tp_btf/signal_generate", EVB(PROC_EV_SIGNAL), false },
	[P_SYS_ENTER] = { "tp_btf/sys_enter", SYS_ENTER_EVENTS, false },
	[P_SYS_EXIT] = { "tp_btf/sys_exit", SYS_EXIT_EVENTS, false },
};

struct procsrc_bpf {
	struct proc_bpf *skel;
	struct ring_buffer *rb;
	struct bpf_link *links[P_N];
	struct procsrc_probe probes[P_N];
	char reasons[P_N][192];
	uint32_t events;
	uint64_t delivered;
	uint64_t malformed;
	/* procsrc_read() state for the ring buffer callback */
	procsrc_cb cb;
	void *cb_data;
	int cb_err;
	int batch;
	struct proc_ev ev; /* each record is copied here, checked, then handed out */
};

/* --- libbpf's messages: the first failure becomes the reason, nothing is printed ------ */

static char *g_msg; /* set while procsrc_bpf_new() runs */
static size_t g_msglen;

static void msg_append(const char *s, size_t n)
{
	size_t used = strlen(g_msg);

	if (used + 1 >= g_msglen)
		return;
	if (n > g_msglen - used - 1)
		n = g_msglen - used - 1;
	memcpy(g_msg + used, s, n);
	g_msg[used + n] = '\0';
}

__attribute__((format(printf, 2, 0))) static int capture(enum libbpf_print_level level,
							 const char *fmt, va_list ap)
{
	char *s = NULL, *p, *end, *q;

	if (level == LIBBPF_DEBUG || !g_msg || vasprintf(&s, fmt, ap) < 0)
		return 0;
	p = strstr(s, "-- BEGIN PROG LOAD LOG --");
	if (p) {
		/* the verifier's last line says what it refused */
		end = strstr(p, "-- END PROG LOAD LOG --");
		if (!end)
			end = s + strlen(s);
		while (end > p && (end[-1] == '\n' || end[-1] == ' '))
			end--;
		for (q = end; q > p && q[-1] != '\n'; q--)
			;
		if (g_msg[0] && q < end) {
			msg_append(" (verifier: ", 12);
			msg_append(q, (size_t)(end - q));
			msg_append(")", 1);
		}
	} else if (!g_msg[0] && (strcasestr(s, "fail") || strcasestr(s, "error") ||
				    strcasestr(s, "invalid"))) {
		p = s;
		if (!strncmp(p, "libbpf: ", 8))
			p += 8;
		msg_append(p, strcspn(p, "\n"));
	}
	free(s);
	return 0;
}

/* --- load and attach ---------------------------------------------------------------- */

static uint32_t ring_size(uint32_t want)
{
	long page = sysconf(_SC_PAGESIZE);
	uint32_t s = page > 0 && (unsigned long)page > PROCSRC_BUFFER_MIN ? (uint32_t)page
									   : PROCSRC_BUFFER_MIN;

	while (s < want) /* want <= PROCSRC_BUFFER_MAX: no overflow */
		s <<= 1;
	return s;
}

static void progs_of(struct proc_bpf *skel, struct bpf_program *p[P_N])
{
	p[P_EXEC] = skel->progs.handle_exec;
	p[P_FORK] = skel->progs.handle_fork;
	p[P_EXIT] = skel->progs.handle_exit;
	p[P_SIGNAL] = skel->progs.handle_signal;
	p[P_SYS_ENTER] = skel->progs.handle_sys_enter;
	p[P_SYS_EXIT] = skel->progs.handle_sys_exit;
}

/* Open the skeleton, configure it for o and load the programs in set (bits of P_*). */
static int skel_load(const struct procsrc_opts *o, unsigned set, struct proc_bpf **ret)
{
	struct bpf_program *progs[P_N];
	struct proc_bpf__rodata *ro;
	struct proc_bpf *skel;
	uint32_t ev = o->events;
	int r;

	skel = proc_bpf__open();
	if (!skel)
		return errno ? -errno : -ENOMEM;
	r = bpf_map__set_max_entries(skel->maps.events, ring_size(o->buffer_bytes));
	if (r < 0)
		goto err;
	ro = skel->rodata;
	ro->cfg_flags = (o->flags & PROCSRC_F_FAILED ? PROC_CFG_FAILED : 0) |
			(o->flags & PROCSRC_F_ALL_SIGNALS ? PROC_CFG_ALL_SIGNALS : 0) |
			(o->flags & PROCSRC_F_THREADS ? PROC_CFG_THREADS : 0);
	/* a syscall nobody wants keeps -1 and never matches */
	if (ev & EVB(PROC_EV_SETUID)) {
		ro->nr_setuid = SYS_setuid;
		ro->nr_setreuid = SYS_setreuid;
		ro->nr_setresuid = SYS_setresuid;
	}
	if (ev & EVB(PROC_EV_SETGID)) {
		ro->nr_setgid = SYS_setgid;
		ro->nr_setregid = SYS_setregid;
		ro->nr_setresgid = SYS_setresgid;
	}
	if (ev & EVB(PROC_EV_PTRACE))
		ro->nr_ptrace = SYS_ptrace;
	if (ev & EVB(PROC_EV_MOUNT)) {
		ro->nr_mount = SYS_mount;
		ro->nr_move_mount = SYS_move_mount;
	}
	if (ev & EVB(PROC_EV_UMOUNT))
		ro->nr_umount2 = SYS_umount2;
	if (ev & EVB(PROC_EV_MODULE_LOAD)) {
		ro->nr_init_module = SYS_init_module;
		ro->nr_finit_module = SYS_finit_module;
	}
	if (ev & EVB(PROC_EV_SETATTR)) {
		/* chmod, chown and lchown do not exist on aarch64 (only the *at calls) */
#ifdef SYS_chmod
		ro->nr_chmod = SYS_chmod;
#endif
#ifdef SYS_chown
		ro->nr_chown = SYS_chown;
#endif
#ifdef SYS_lchown
		ro->nr_lchown = SYS_lchown;
#endif
		ro->nr_fchmod = SYS_fchmod;
		ro->nr_fchmodat = SYS_fchmodat;
		ro->nr_fchown = SYS_fchown;
		ro->nr_fchownat = SYS_fchownat;
#ifdef SYS_fchmodat2 /* Linux 6.6; only when these headers know it */
		ro->nr_fchmodat2 = SYS_fchmodat2;
#endif
	}
	if (ev & EVB(PROC_EV_EXEC_ARGS)) {
		ro->nr_execve = SYS_execve;
		ro->nr_execveat = SYS_execveat;
	}
	progs_of(skel, progs);
	for (int i = 0; i < P_N; i++) {
		r = bpf_program__set_autoload(progs[i], set & (1u << i));
		if (r < 0)
			goto err;
	}
	r = proc_bpf__load(skel);
	if (r < 0)
		goto err;
	*ret = skel;
	return 0;
err:
	proc_bpf__destroy(skel);
	return r;
}

static void probe_set(struct procsrc_bpf *b, int i, int err, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static void probe_set(struct procsrc_bpf *b, int i, int err, const char *fmt, ...)
{
	va_list ap;

	b->probes[i].err = err;
	va_start(ap, fmt);
	vsnprintf(b->reasons[i], sizeof(b->reasons[i]), fmt, ap);
	va_end(ap);
}

static int on_sample(void *ctx, void *data, size_t len)
{
	struct procsrc_bpf *b = ctx;
	int r;

	if (len < PROC_EV_HDR_SIZE || len > sizeof(b->ev)) {
		b->malformed++;
		return 0;
	}
	memcpy(&b->ev, data, len);
	if (procsrc_ev_check(&b->ev, len) < 0 || !(EVB(b->ev.type) & b->events)) {
		b->malformed++;
		return 0;
	}
	b->delivered++;
	b->batch++;
	r = b->cb(&b->ev, b->cb_data);
	if (r < 0) {
		b->cb_err = r;
		return r;
	}
	/* stop at the batch size; libbpf has already consumed this record */
	return b->batch >= PROCSRC_BATCH ? -ECANCELED : 0;
}

int procsrc_bpf_new(const struct procsrc_opts *o, struct procsrc_bpf **ret, char *why,
		    size_t whylen)
{
	libbpf_print_fn_t prev;
	struct bpf_program *progs[P_N];
	struct procsrc_bpf *b;
	char msg[256] = "", core_msg[256] = "";
	unsigned want = 0, core = 0, loaded;
	int r;

	for (int i = 0; i < P_N; i++) {
		if (probe_desc[i].events & o->events) {
			want |= 1u << i;
			if (probe_desc[i].core)
				core |= 1u << i;
		}
	}
	if (!want) {
		snprintf(why, whylen, "none of the requested events can be seen by eBPF");
		return -EOPNOTSUPP;
	}
	b = calloc(1, sizeof(*b));
	if (!b) {
		snprintf(why, whylen, "out of memory");
		return -ENOMEM;
	}
	for (int i = 0; i < P_N; i++) {
		b->probes[i].name = probe_desc[i].name;
		b->probes[i].events = probe_desc[i].events;
		b->probes[i].reason = b->reasons[i];
		if (!(want & (1u << i)))
			probe_set(b, i, -ECANCELED, "not requested");
	}

	prev = libbpf_set_print(capture);
	g_msg = msg;
	g_msglen = sizeof(msg);
	loaded = want;
	r = skel_load(o, loaded, &b->skel);
	if (r < 0 && want != core && core) {
		/* one optional program may be what the kernel refuses: keep the core */
		g_msg = core_msg;
		g_msglen = sizeof(core_msg);
		loaded = core;
		r = skel_load(o, loaded, &b->skel);
		for (int i = 0; r == 0 && i < P_N; i++)
			if ((want & ~core) & (1u << i))
				probe_set(b, i, -ENOEXEC, "left out: the object did not load with it: %s",
					  msg[0] ? msg : "?");
		if (r < 0)
			snprintf(msg, sizeof(msg), "%s", core_msg);
	}
	if (r < 0) {
		snprintf(why, whylen, "loading the eBPF programs failed: %s",
			 msg[0] ? msg : strerror(-r));
		goto err;
	}

	progs_of(b->skel, progs);
	for (int i = 0; i < P_N; i++) {
		if (!(loaded & (1u << i)))
			continue;
		msg[0] = '\0';
		g_msg = msg;
		g_msglen = sizeof(msg);
		b->links[i] = bpf_program__attach(progs[i]);
		if (!b->links[i]) {
			r = errno ? -errno : -EINVAL;
			probe_set(b, i, r, "attach failed: %s", msg[0] ? msg : strerror(-r));
			if (core & (1u << i)) {
				snprintf(why, whylen, "%s: %s", probe_desc[i].name, b->reasons[i]);
				goto err;
			}
			continue;
		}
		probe_set(b, i, 0, "%s", "");
		b->events |= probe_desc[i].events & o->events;
	}
	/* stashed syscall events need both halves; set*id only the exit, exec_args the entry */
	if (!b->links[P_SYS_ENTER])
		b->events &= ~SYS_ENTER_EVENTS;
	if (!b->links[P_SYS_EXIT])
		b->events &= ~SYS_EXIT_EVENTS;
	if (!b->events) {
		snprintf(why, whylen, "no eBPF probe for the requested events attached");
		r = -EOPNOTSUPP;
		goto err;
	}

	b->rb = ring_buffer__new(bpf_map__fd(b->skel->maps.events), on_sample, b, NULL);
	if (!b->rb) {
		r = errno ? -errno : -ENOMEM;
		snprintf(why, whylen, "ring buffer: %s", strerror(-r));
		goto err;
	}
	g_msg = NULL;
	libbpf_set_print(prev);
	*ret = b;
	return 0;
err:
	g_msg = NULL;
	procsrc_bpf_free(b);
	libbpf_set_print(prev);
	return r;
}

struct procsrc_bpf *procsrc_bpf_free(struct procsrc_bpf *b)
{
	if (!b)
		return NULL;
	ring_buffer__free(b->rb);
	for (int i = 0; i < P_N; i++)
		bpf_link__destroy(b->links[i]);
	proc_bpf__destroy(b->skel);
	free(b);
	return NULL;
}

int procsrc_bpf_fd(const struct procsrc_bpf *b)
{
	/* the ring buffer map fd polls readable while records wait (level-triggered) */
	return bpf_map__fd(b->skel->maps.events);
}

int procsrc_bpf_read(struct procsrc_bpf *b, procsrc_cb cb, void *data)
{
	int r;

	b->cb = cb;
	b->cb_data = data;
	b->cb_err = 0;
	b->batch = 0;
	r = ring_buffer__consume(b->rb);
	if (b->cb_err)
		return b->cb_err;
	if (r < 0 && b->batch < PROCSRC_BATCH)
		return r;
	return b->batch;
}

uint32_t procsrc_bpf_events(const struct procsrc_bpf *b)
{
	return b->events;
}

void procsrc_bpf_set_waiting(struct procsrc_bpf *b, bool waiting)
{
	__atomic_store_n(&b->skel->data->consumer_waiting, waiting ? 1u : 0u, __ATOMIC_SEQ_CST);
}

void procsrc_bpf_stats(const struct procsrc_bpf *b, struct procsrc_stats *ret)
{
	struct bpf_program *progs[P_N];

	memset(ret, 0, sizeof(*ret));
	ret->events = b->delivered;
	ret->malformed = b->malformed;
	for (int i = 0; i < PROC_EV_MAX; i++) {
		ret->lost_by_type[i] = __atomic_load_n(&b->skel->bss->lost[i], __ATOMIC_RELAXED);
		ret->lost += ret->lost_by_type[i];
	}
	ret->compat = __atomic_load_n(&b->skel->bss->compat_syscalls, __ATOMIC_RELAXED);
	progs_of(b->skel, progs);
	for (int i = 0; i < P_N; i++) {
		struct bpf_prog_info info;
		uint32_t len = sizeof(info);

		if (!b->links[i])
			continue;
		memset(&info, 0, sizeof(info));
		if (!bpf_obj_get_info_by_fd(bpf_program__fd(progs[i]), &info, &len))
			ret->misses += info.recursion_misses;
	}
}

size_t procsrc_bpf_probes(const struct procsrc_bpf *b, const struct procsrc_probe **ret)
{
	*ret = b->probes;
	return P_N;
}

#endif /* UEXT_HAVE_BPF */
