/* proc_cn.c owns the proc-connector process-event source (a NETLINK_CONNECTOR socket
 * subscribed to CN_IDX_PROC, the per-CPU sequence numbers that reveal lost messages, and
 * the /proc look-ups that fill exec events after the fact) and, because it is the source
 * that is always built, the front every source shares: procsrc_new() with its AUTO
 * choice, the dispatch, and the record checks (procsrc_ev_check). Contract: procsrc.h. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/sysinfo.h>
#include <time.h>
#include <unistd.h>

#include <linux/cn_proc.h>
#include <linux/connector.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>

#include "uextd/es/procsrc.h"

#define EVB PROC_EV_BIT
#define CN_VLEN 32           /* messages per recvmmsg() */
#define CN_BUFSZ 256         /* one proc connector message is < 100 bytes */
#define CN_ACK_TIMEOUT_MS 1000
#define CN_MAX_CPUS 8192
#define CN_ENVIRON_MAX (256u << 10) /* envc is not counted past this many bytes */

struct procsrc_cn {
	int fd;
	uint32_t events;
	uint32_t flags;
	uint32_t cookie;         /* our LISTEN's seq/ack, to recognize its answer */
	bool listening;          /* LISTEN sent: IGNORE is owed at the end */
	uint64_t delivered, malformed, overruns, gaps, proc_gone;
	uint32_t ncpu;
	uint64_t *next_seq;      /* per CPU: bit 32 set once seen, low half the next seq */
	long clk_tck;
	/* received and not yet handled: [next, count) of the last recvmmsg() */
	unsigned next, count;
	struct mmsghdr msgs[CN_VLEN];
	struct iovec iov[CN_VLEN];
	struct sockaddr_nl from[CN_VLEN];
	char buf[CN_VLEN][CN_BUFSZ] __attribute__((aligned(8)));
	char scratch[4096];      /* /proc/<pid>/stat and status */
	struct proc_ev ev;
};

struct procsrc {
	enum procsrc_kind kind;
	struct procsrc_bpf *bpf;
	struct procsrc_cn *cn;
	struct procsrc_probe cn_probe;
};

/* --- records ------------------------------------------------------------------------ */

static const char *const type_names[PROC_EV_MAX] = {
	[PROC_EV_NONE] = "none",     [PROC_EV_EXEC] = "exec",     [PROC_EV_FORK] = "fork",
	[PROC_EV_EXIT] = "exit",     [PROC_EV_SETUID] = "setuid", [PROC_EV_SETGID] = "setgid",
	[PROC_EV_SIGNAL] = "signal", [PROC_EV_PTRACE] = "ptrace", [PROC_EV_MOUNT] = "mount",
	[PROC_EV_UMOUNT] = "umount", [PROC_EV_MODULE_LOAD] = "module_load",
	[PROC_EV_COMM] = "comm",     [PROC_EV_SETATTR] = "setattr",
	[PROC_EV_EXEC_ARGS] = "exec_args",
};

const char *proc_ev_type_name(uint32_t type)
{
	return type < PROC_EV_MAX ? type_names[type] : "?";
}

const char *proc_ev_arg(const struct proc_ev *ev, uint32_t i)
{
	uint32_t off = 0, len;

	if ((ev->type != PROC_EV_EXEC && ev->type != PROC_EV_EXEC_ARGS) || i >= ev->exec.nargs)
		return NULL;
	len = ev->exec.args_len;
	while (i-- && off < len)
		off += strnlen(ev->exec.args + off, len - off) + 1;
	return off < len ? ev->exec.args + off : NULL;
}

static size_t member_size(uint32_t type)
{
	switch (type) {
	case PROC_EV_FORK:
		return PROC_EV_SIZE(fork);
	case PROC_EV_EXIT:
		return PROC_EV_SIZE(exit);
	case PROC_EV_SETUID:
	case PROC_EV_SETGID:
		return PROC_EV_SIZE(setid);
	case PROC_EV_SIGNAL:
		return PROC_EV_SIZE(signal);
	case PROC_EV_PTRACE:
		return PROC_EV_SIZE(ptrace);
	case PROC_EV_MOUNT:
	case PROC_EV_UMOUNT:
		return PROC_EV_SIZE(mount);
	case PROC_EV_MODULE_LOAD:
		return PROC_EV_SIZE(module);
	case PROC_EV_SETATTR:
		return PROC_EV_SIZE(setattr);
	case PROC_EV_COMM:
		return PROC_EV_HDR_SIZE;
	default:
		return 0;
	}
}

/* End the argv bytes with a NUL, count the arguments, keep at most PROC_ARGS_MAX; keep
 * only the whole variables of the environment after them. */
static void exec_args_fix(struct proc_ev *ev)
{
	char *a = ev->exec.args;
	uint32_t len = ev->exec.args_len, elen = ev->exec.env_len, i = 0, n = 0;

	if (len && a[len - 1] != '\0') {
		a[len - 1] = '\0'; /* cut inside an argument */
		ev->flags |= PROC_EF_ARGS_TRUNC;
	}
	while (i < len) {
		if (n == PROC_ARGS_MAX) {
			ev->flags |= PROC_EF_ARGS_TRUNC;
			break;
		}
		i += (uint32_t)strnlen(a + i, len - i) + 1;
		n++;
	}
	while (elen && a[len + elen - 1] != '\0') { /* a variable cut at PROC_ENV_LEN */
		elen--;
		ev->flags |= PROC_EF_ENV_TRUNC;
	}
	if (i < len) /* argv was cut short: the environment follows the arguments kept */
		memmove(a + i, a + len, elen);
	ev->exec.args_len = i;
	ev->exec.env_len = elen;
	ev->exec.nargs = n;
	ev->size = PROC_EV_EXEC_SIZE(i + elen);
}

const char *proc_ev_env(const struct proc_ev *ev, uint32_t *len)
{
	bool exec = ev->type == PROC_EV_EXEC || ev->type == PROC_EV_EXEC_ARGS;
	*len = exec ? ev->exec.env_len : 0;
	return exec ? ev->exec.args + ev->exec.args_len : NULL;
}

int procsrc_ev_check(struct proc_ev *ev, size_t len)
{
	if (len < PROC_EV_HDR_SIZE || len > sizeof(*ev) || ev->size != len)
		return -EBADMSG;
	if (ev->type == PROC_EV_EXEC || ev->type == PROC_EV_EXEC_ARGS) {
		if (len < PROC_EV_EXEC_SIZE(0) || ev->exec.args_len > PROC_ARGS_LEN ||
		    ev->exec.env_len > PROC_ENV_LEN ||
		    len != PROC_EV_EXEC_SIZE(ev->exec.args_len + ev->exec.env_len))
			return -EBADMSG;
		ev->exec.filename[PROC_PATH_LEN - 1] = '\0';
		exec_args_fix(ev);
	} else {
		size_t need = member_size(ev->type);

		if (!need || len != need)
			return -EBADMSG;
		switch (ev->type) {
		case PROC_EV_SIGNAL:
			ev->signal.target_comm[PROC_COMM_LEN - 1] = '\0';
			break;
		case PROC_EV_MOUNT:
		case PROC_EV_UMOUNT:
			ev->mount.source[PROC_PATH_LEN - 1] = '\0';
			ev->mount.target[PROC_PATH_LEN - 1] = '\0';
			ev->mount.fstype[PROC_FSTYPE_LEN - 1] = '\0';
			break;
		case PROC_EV_MODULE_LOAD:
			ev->module.name[PROC_MODNAME_LEN - 1] = '\0';
			break;
		case PROC_EV_SETATTR:
			ev->setattr.path[PROC_PATH_LEN - 1] = '\0';
			break;
		}
	}
	ev->comm[PROC_COMM_LEN - 1] = '\0';
	return 0;
}

int procsrc_opts_norm(const struct procsrc_opts *o, struct procsrc_opts *ret)
{
	struct procsrc_opts d = { 0 };

	if (o)
		d = *o;
	if (d.flags & ~(PROCSRC_F_FAILED | PROCSRC_F_ALL_SIGNALS | PROCSRC_F_THREADS))
		return -EINVAL;
	if (d.events & ~PROC_EV_ALL)
		return -EINVAL;
	if (!d.events)
		d.events = PROC_EV_ALL;
	if (!d.buffer_bytes)
		d.buffer_bytes = PROCSRC_BUFFER_DEFAULT;
	if (d.buffer_bytes < PROCSRC_BUFFER_MIN)
		d.buffer_bytes = PROCSRC_BUFFER_MIN;
	if (d.buffer_bytes > PROCSRC_BUFFER_MAX)
		d.buffer_bytes = PROCSRC_BUFFER_MAX;
	*ret = d;
	return 0;
}

/* --- the proc connector ------------------------------------------------------------- */

static int64_t clock_ns(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Connector messages carry CLOCK_MONOTONIC; records use CLOCK_BOOTTIME. */
static int64_t boot_minus_mono(void)
{
	return clock_ns(CLOCK_BOOTTIME) - clock_ns(CLOCK_MONOTONIC);
}

static int cn_send_op(int fd, uint32_t op, uint32_t cookie)
{
	char buf[NLMSG_SPACE(sizeof(struct cn_msg) + sizeof(uint32_t))] __attribute__((aligned(8)));
	struct nlmsghdr *nl = (struct nlmsghdr *)buf;
	struct cn_msg *cn = NLMSG_DATA(nl);
	struct sockaddr_nl to = { .nl_family = AF_NETLINK };

	memset(buf, 0, sizeof(buf));
	nl->nlmsg_len = NLMSG_LENGTH(sizeof(*cn) + sizeof(op));
	nl->nlmsg_type = NLMSG_DONE;
	cn->id.idx = CN_IDX_PROC;
	cn->id.val = CN_VAL_PROC;
	cn->seq = cookie;
	cn->ack = cookie;
	cn->len = sizeof(op);
	memcpy(cn->data, &op, sizeof(op));
	if (sendto(fd, buf, nl->nlmsg_len, 0, (struct sockaddr *)&to, sizeof(to)) < 0)
		return -errno;
	return 0;
}

/* Count the messages the kernel numbered on a CPU that never reached us: the connector
 * numbers every event per CPU and sends it to every listener, so a gap is a loss (our
 * socket was full, or the kernel could not allocate the message). */
static void cn_seq(struct procsrc_cn *c, uint32_t cpu, uint32_t seq)
{
	uint64_t *n;
	int32_t d;

	if (cpu >= c->ncpu)
		return;
	n = &c->next_seq[cpu];
	if (*n >> 32) {
		d = (int32_t)(seq - (uint32_t)*n);
		if (d < 0)
			return; /* older than one seen: not ours to count */
		c->gaps += (uint64_t)d;
	}
	*n = (1ull << 32) | (uint32_t)(seq + 1);
}

/* The kernel message in buffer i, or NULL (counted as malformed when it is garbage). */
static const struct cn_msg *cn_msg_of(struct procsrc_cn *c, unsigned i, struct proc_event *k)
{
	struct nlmsghdr *nl = (struct nlmsghdr *)c->buf[i];
	uint32_t len = c->msgs[i].msg_len;
	const struct cn_msg *cn;
	size_t plen;

	if ((c->msgs[i].msg_hdr.msg_flags & MSG_TRUNC) || c->from[i].nl_pid != 0 ||
	    !NLMSG_OK(nl, len) || nl->nlmsg_type == NLMSG_ERROR)
		goto bad;
	cn = NLMSG_DATA(nl);
	plen = NLMSG_PAYLOAD(nl, 0);
	if (plen < sizeof(*cn) || cn->len > plen - sizeof(*cn))
		goto bad;
	if (cn->id.idx != CN_IDX_PROC || cn->id.val != CN_VAL_PROC)
		return NULL;
	if (cn->len < offsetof(struct proc_event, event_data))
		goto bad;
	/* copy: the payload is not 8-byte aligned in the datagram */
	memset(k, 0, sizeof(*k));
	memcpy(k, cn->data, cn->len < sizeof(*k) ? cn->len : sizeof(*k));
	return cn;
bad:
	c->malformed++;
	return NULL;
}

static int cn_recv(struct procsrc_cn *c, unsigned vlen)
{
	int n;

	for (unsigned i = 0; i < vlen; i++) {
		c->iov[i].iov_base = c->buf[i];
		c->iov[i].iov_len = sizeof(c->buf[i]);
		memset(&c->msgs[i], 0, sizeof(c->msgs[i]));
		c->msgs[i].msg_hdr.msg_name = &c->from[i];
		c->msgs[i].msg_hdr.msg_namelen = sizeof(c->from[i]);
		c->msgs[i].msg_hdr.msg_iov = &c->iov[i];
		c->msgs[i].msg_hdr.msg_iovlen = 1;
	}
	for (;;) {
		n = recvmmsg(c->fd, c->msgs, vlen, MSG_DONTWAIT, NULL);
		if (n >= 0)
			break;
		if (errno == EINTR)
			continue;
		if (errno == ENOBUFS) { /* messages were dropped; the gaps say how many */
			c->overruns++;
			continue;
		}
		if (errno == EAGAIN || errno == EWOULDBLOCK)
			n = 0;
		else
			return -errno;
		break;
	}
	c->next = 0;
	c->count = (unsigned)n;
	return n;
}

static int cn_subscribe(struct procsrc_cn *c, char *why, size_t whylen)
{
	struct timespec t0;
	struct proc_event k;
	int64_t left;
	int r;

	r = cn_send_op(c->fd, PROC_CN_MCAST_LISTEN, c->cookie);
	if (r < 0) {
		snprintf(why, whylen, "sending PROC_CN_MCAST_LISTEN: %s", strerror(-r));
		return r;
	}
	c->listening = true;
	/* The kernel answers synchronously, on the multicast group, with ack = ours + 1 (and,
	 * on recent kernels, a seq from the same per-CPU counter as the events). Events that
	 * come first are older than this source: only their sequence numbers count. */
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		struct pollfd p = { .fd = c->fd, .events = POLLIN };

		left = CN_ACK_TIMEOUT_MS - (clock_ns(CLOCK_MONOTONIC) -
					   ((int64_t)t0.tv_sec * 1000000000 + t0.tv_nsec)) / 1000000;
		if (c->next >= c->count) {
			if (left <= 0 || poll(&p, 1, (int)left) == 0) {
				snprintf(why, whylen, "no answer to PROC_CN_MCAST_LISTEN (the proc "
						      "connector needs the initial user and pid namespace)");
				return -ETIMEDOUT;
			}
			r = cn_recv(c, CN_VLEN);
			if (r < 0) {
				snprintf(why, whylen, "netlink receive: %s", strerror(-r));
				return r;
			}
			continue;
		}
		const struct cn_msg *cn = cn_msg_of(c, c->next++, &k);

		if (!cn)
			continue;
		cn_seq(c, k.cpu, cn->seq);
		if (k.what != PROC_EVENT_NONE || cn->ack != c->cookie + 1)
			continue; /* an event, or someone else's answer */
		if (k.event_data.ack.err) {
			snprintf(why, whylen, "PROC_CN_MCAST_LISTEN refused: %s",
				 strerror((int)k.event_data.ack.err));
			return -(int)k.event_data.ack.err;
		}
		return 0;
	}
}

static struct procsrc_cn *cn_free(struct procsrc_cn *c)
{
	if (!c)
		return NULL;
	/* The kernel counts listeners globally: give ours back, and only ours (before 6.6 an
	 * IGNORE without a LISTEN would take someone else's). A refused LISTEN gets its
	 * IGNORE refused the same way. */
	if (c->listening)
		cn_send_op(c->fd, PROC_CN_MCAST_IGNORE, c->cookie + 2);
	if (c->fd >= 0)
		close(c->fd);
	free(c->next_seq);
	free(c);
	return NULL;
}

static int cn_new(const struct procsrc_opts *o, struct procsrc_cn **ret, char *why, size_t whylen)
{
	struct sockaddr_nl sa = { .nl_family = AF_NETLINK, .nl_groups = CN_IDX_PROC };
	struct procsrc_cn *c;
	int n, r, size = (int)o->buffer_bytes;

	if (!(o->events & PROCSRC_CN_EVENTS)) {
		snprintf(why, whylen, "none of the requested events can be seen by the proc connector");
		return -EOPNOTSUPP;
	}
	c = calloc(1, sizeof(*c));
	if (!c) {
		snprintf(why, whylen, "out of memory");
		return -ENOMEM;
	}
	c->fd = -1;
	c->events = o->events & PROCSRC_CN_EVENTS;
	c->flags = o->flags;
	c->cookie = ((uint32_t)getpid() << 12) ^ (uint32_t)clock_ns(CLOCK_MONOTONIC);
	c->clk_tck = sysconf(_SC_CLK_TCK);
	if (c->clk_tck <= 0)
		c->clk_tck = 100;
	n = get_nprocs_conf();
	c->ncpu = n > 0 && n <= CN_MAX_CPUS ? (uint32_t)n : CN_MAX_CPUS;
	c->next_seq = calloc(c->ncpu, sizeof(*c->next_seq));
	if (!c->next_seq) {
		snprintf(why, whylen, "out of memory");
		r = -ENOMEM;
		goto err;
	}
	c->fd = socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, NETLINK_CONNECTOR);
	if (c->fd < 0) {
		r = -errno;
		snprintf(why, whylen, "netlink connector socket: %s", strerror(-r));
		goto err;
	}
	/* FORCE lifts net.core.rmem_max for CAP_NET_ADMIN; plain RCVBUF is capped by it */
	if (setsockopt(c->fd, SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof(size)) < 0)
		setsockopt(c->fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof(size));
	if (bind(c->fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		r = -errno;
		snprintf(why, whylen, "binding to the proc connector group: %s", strerror(-r));
		goto err;
	}
	r = cn_subscribe(c, why, whylen);
	if (r < 0)
		goto err;
	*ret = c;
	return 0;
err:
	cn_free(c);
	return r;
}

/* Read a small /proc file relative to dfd into buf (NUL-terminated); bytes or -errno. */
static ssize_t read_at(int dfd, const char *name, char *buf, size_t size)
{
	ssize_t n, total = 0;
	int fd = openat(dfd, name, O_RDONLY | O_CLOEXEC | O_NOCTTY);

	if (fd < 0)
		return -errno;
	while ((size_t)total < size - 1) {
		n = read(fd, buf + total, size - 1 - (size_t)total);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			total = total ? total : -errno;
			break;
		}
		if (n == 0)
			break;
		total += n;
	}
	close(fd);
	if (total >= 0)
		buf[total] = '\0';
	return total;
}

/* Count the variables in /proc/<pid>/environ (one NUL each), in scratch-sized reads, and
 * copy its first PROC_ENV_LEN bytes to env (*env_len; exec_args_fix drops a variable cut
 * there). -EFBIG past CN_ENVIRON_MAX bytes, -errno if unreadable. */
static long count_environ(struct procsrc_cn *c, int dfd, char *env, uint32_t *env_len, bool *cut)
{
	size_t total = 0;
	long count = 0;
	ssize_t n;
	int fd = openat(dfd, "environ", O_RDONLY | O_CLOEXEC | O_NOCTTY);

	if (fd < 0)
		return -errno;
	for (;;) {
		n = read(fd, c->scratch, sizeof(c->scratch));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		if (total < PROC_ENV_LEN) {
			size_t k = PROC_ENV_LEN - total < (size_t)n ? PROC_ENV_LEN - total : (size_t)n;
			memcpy(env + total, c->scratch, k);
			*env_len = (uint32_t)(total + k);
		}
		*cut = total + (size_t)n > PROC_ENV_LEN;
		total += (size_t)n;
		if (total > CN_ENVIRON_MAX) {
			n = -1;
			errno = EFBIG;
			break;
		}
		for (ssize_t i = 0; i < n; i++)
			count += c->scratch[i] == '\0';
	}
	if (n < 0)
		count = -errno;
	close(fd);
	return count;
}

/* "Uid:\t0\t0\t0\t0" → real and effective */
static bool status_ids(const char *status, const char *key, uint32_t *real, uint32_t *eff)
{
	const char *p = strstr(status, key);
	char *end;
	unsigned long r, e;

	if (!p)
		return false;
	p += strlen(key);
	r = strtoul(p, &end, 10);
	if (end == p)
		return false;
	p = end;
	e = strtoul(p, &end, 10);
	if (end == p)
		return false;
	*real = (uint32_t)r;
	*eff = (uint32_t)e;
	return true;
}

/* Fill an exec event from /proc/<pid>: the connector only says which pid exec'd. The
 * process may have exec'd again, exited, or (rarely) its pid been reused by then: the
 * record says RACY, and PROC_GONE when there was nothing left to read. */
static void cn_exec_details(struct procsrc_cn *c, struct proc_ev *ev)
{
	char path[32], *p, *q;
	ssize_t n;
	int dfd;
	bool have_exe, have_args;

	memset(&ev->exec, 0, __builtin_offsetof(struct proc_ev_exec, args));
	ev->exec.old_tid = ev->tid;
	ev->size = PROC_EV_EXEC_SIZE(0);
	snprintf(path, sizeof(path), "/proc/%u", ev->pid);
	dfd = open(path, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		goto gone;
	ev->flags |= PROC_EF_RACY;

	/* stat first: it tells whether this is still the process that exec'd */
	n = read_at(dfd, "stat", c->scratch, sizeof(c->scratch));
	if (n > 0 && (p = strchr(c->scratch, '(')) && (q = strrchr(c->scratch, ')'))) {
		unsigned long long start = 0;
		unsigned ppid = 0;
		char state = 0;
		size_t clen = (size_t)(q - p - 1);

		if (clen > PROC_COMM_LEN - 1)
			clen = PROC_COMM_LEN - 1;
		memcpy(ev->comm, p + 1, clen);
		ev->comm[clen] = '\0';
		/* after ") ": state ppid ... starttime is the 20th field */
		if (sscanf(q + 1, " %c %u %*s %*s %*s %*s %*s %*s %*s %*s %*s %*s %*s %*s %*s "
				  "%*s %*s %*s %*s %llu",
			   &state, &ppid, &start) == 3) {
			ev->ppid = ppid;
			ev->start_ns = start * (1000000000ull / (unsigned long long)c->clk_tck);
		}
		if (state == 'Z' || state == 'X' ||
		    (ev->start_ns && ev->start_ns > ev->ts_ns + 20000000ull)) {
			/* a zombie, or a newer process under a reused pid */
			ev->ppid = 0;
			ev->start_ns = 0;
			ev->comm[0] = '\0';
			close(dfd);
			goto gone;
		}
	}
	n = readlinkat(dfd, "exe", ev->exec.filename, PROC_PATH_LEN - 1);
	have_exe = n > 0;
	if (n < 0)
		n = 0;
	ev->exec.filename[n] = '\0';
	if (n == PROC_PATH_LEN - 1)
		ev->flags |= PROC_EF_PATH_TRUNC;

	/* PROC_ARGS_LEN + 1 bytes tell whether there was more */
	n = read_at(dfd, "cmdline", c->scratch, PROC_ARGS_LEN + 2);
	have_args = n > 0;
	if (n < 0) {
		n = 0;
		ev->flags |= PROC_EF_NO_ARGS;
	}
	if (n > PROC_ARGS_LEN) {
		n = PROC_ARGS_LEN;
		ev->flags |= PROC_EF_ARGS_TRUNC;
	}
	memcpy(ev->exec.args, c->scratch, (size_t)n);
	ev->exec.args_len = (uint32_t)n;

	/* no cmdline: no mm any more, so an empty environ would not mean an empty env */
	ev->exec.env_len = 0;
	bool env_cut = false;
	n = have_args ? count_environ(c, dfd, ev->exec.args + ev->exec.args_len, &ev->exec.env_len, &env_cut)
		      : -ENOENT;
	if (n >= 0) {
		ev->exec.envc = (uint32_t)n;
		if (env_cut)
			ev->flags |= PROC_EF_ENV_TRUNC;
	} else {
		ev->exec.env_len = 0;
		ev->flags |= PROC_EF_NO_ENVC | PROC_EF_NO_ENV;
	}

	n = read_at(dfd, "status", c->scratch, sizeof(c->scratch));
	if (n > 0 && status_ids(c->scratch, "\nUid:", &ev->uid, &ev->euid) &&
	    status_ids(c->scratch, "\nGid:", &ev->gid, &ev->egid))
		ev->flags &= ~PROC_EF_NO_CREDS;
	close(dfd);
	if (!have_exe && !have_args)
		goto gone;
	ev->size = PROC_EV_EXEC_SIZE(ev->exec.args_len + ev->exec.env_len);
	exec_args_fix(ev);
	if (!(ev->flags & PROC_EF_ARGS_TRUNC))
		ev->exec.argc = ev->exec.nargs;
	return;
gone:
	ev->flags |= PROC_EF_PROC_GONE | PROC_EF_NO_ARGS | PROC_EF_NO_ENVC | PROC_EF_NO_ENV;
	ev->exec.envc = 0;
	ev->exec.filename[0] = '\0';
	ev->exec.args_len = 0;
	ev->exec.env_len = 0;
	ev->size = PROC_EV_EXEC_SIZE(0);
	c->proc_gone++;
}

static void cn_hdr(struct proc_ev *ev, uint32_t type, uint32_t pid, uint32_t tid, uint64_t ts)
{
	memset(ev, 0, PROC_EV_HDR_SIZE);
	ev->type = type;
	ev->flags = PROC_EF_NO_CREDS;
	ev->ts_ns = ts;
	ev->pid = pid;
	ev->tid = tid;
	ev->uid = ev->euid = ev->gid = ev->egid = PROC_ID_UNKNOWN;
}

#define KNEED(member)                                      \
	(offsetof(struct proc_event, event_data) + \
	 sizeof(((struct proc_event *)0)->event_data.member))

/* Turn kernel message k (len bytes) into c->ev. 1: deliver it, 0: not wanted. */
static int cn_convert(struct procsrc_cn *c, const struct proc_event *k, size_t len, int64_t off)
{
	struct proc_ev *ev = &c->ev;
	uint64_t ts = k->timestamp_ns + (uint64_t)off;
	bool thread;

	switch (k->what) {
	case PROC_EVENT_FORK:
		if (!(c->events & EVB(PROC_EV_FORK)) || len < KNEED(fork))
			return 0;
		thread = k->event_data.fork.child_pid != k->event_data.fork.child_tgid;
		if (thread && !(c->flags & PROCSRC_F_THREADS))
			return 0;
		/* the connector names the child's real parent, which for a thread is its
		 * process's parent: a thread is made by its own process, which thread unknown */
		if (thread) {
			cn_hdr(ev, PROC_EV_FORK, (uint32_t)k->event_data.fork.child_tgid, 0, ts);
			ev->ppid = (uint32_t)k->event_data.fork.parent_tgid;
			ev->flags |= PROC_EF_THREAD;
		} else {
			cn_hdr(ev, PROC_EV_FORK, (uint32_t)k->event_data.fork.parent_tgid,
			       (uint32_t)k->event_data.fork.parent_pid, ts);
		}
		ev->fork.child_pid = (uint32_t)k->event_data.fork.child_tgid;
		ev->fork.child_tid = (uint32_t)k->event_data.fork.child_pid;
		ev->fork.child_start_ns = 0;
		ev->size = PROC_EV_SIZE(fork);
		return 1;
	case PROC_EVENT_EXEC:
		if (!(c->events & EVB(PROC_EV_EXEC)) || len < KNEED(exec))
			return 0;
		cn_hdr(ev, PROC_EV_EXEC, (uint32_t)k->event_data.exec.process_tgid,
		       (uint32_t)k->event_data.exec.process_pid, ts);
		cn_exec_details(c, ev);
		return 1;
	case PROC_EVENT_UID:
	case PROC_EVENT_GID: {
		uint32_t type = k->what == PROC_EVENT_UID ? PROC_EV_SETUID : PROC_EV_SETGID;

		if (!(c->events & EVB(type)) || len < KNEED(id))
			return 0;
		cn_hdr(ev, type, (uint32_t)k->event_data.id.process_tgid,
		       (uint32_t)k->event_data.id.process_pid, ts);
		ev->setid.call = PROC_SETID_UNKNOWN;
		ev->setid.ret = 0;
		ev->setid.id = k->event_data.id.r.ruid;
		ev->setid.eid = k->event_data.id.e.euid;
		ev->setid.sid = ev->setid.fsid = PROC_ID_UNKNOWN;
		if (type == PROC_EV_SETUID) {
			ev->uid = ev->setid.id;
			ev->euid = ev->setid.eid;
		} else {
			ev->gid = ev->setid.id;
			ev->egid = ev->setid.eid;
		}
		ev->size = PROC_EV_SIZE(setid);
		return 1;
	}
	case PROC_EVENT_PTRACE:
		if (!(c->events & EVB(PROC_EV_PTRACE)) || len < KNEED(ptrace))
			return 0;
		/* header = the tracer (0 on detach); the tracee is the target */
		cn_hdr(ev, PROC_EV_PTRACE, (uint32_t)k->event_data.ptrace.tracer_tgid,
		       (uint32_t)k->event_data.ptrace.tracer_pid, ts);
		ev->ptrace.request = k->event_data.ptrace.tracer_pid ? PTRACE_ATTACH : PTRACE_DETACH;
		ev->ptrace.target_pid = (uint32_t)k->event_data.ptrace.process_tgid;
		ev->ptrace.ret = 0;
		ev->size = PROC_EV_SIZE(ptrace);
		return 1;
	case PROC_EVENT_COMM:
		if (!(c->events & EVB(PROC_EV_COMM)) || len < KNEED(comm))
			return 0;
		cn_hdr(ev, PROC_EV_COMM, (uint32_t)k->event_data.comm.process_tgid,
		       (uint32_t)k->event_data.comm.process_pid, ts);
		memcpy(ev->comm, k->event_data.comm.comm, PROC_COMM_LEN);
		ev->size = PROC_EV_HDR_SIZE;
		return 1;
	case PROC_EVENT_EXIT:
		if (!(c->events & EVB(PROC_EV_EXIT)) ||
		    len < offsetof(struct proc_event, event_data.exit.parent_pid))
			return 0;
		/* the connector reports every task; a leader that exits before its threads
		 * is taken for the process */
		thread = k->event_data.exit.process_pid != k->event_data.exit.process_tgid;
		if (thread && !(c->flags & PROCSRC_F_THREADS))
			return 0;
		cn_hdr(ev, PROC_EV_EXIT, (uint32_t)k->event_data.exit.process_tgid,
		       (uint32_t)k->event_data.exit.process_pid, ts);
		if (thread)
			ev->flags |= PROC_EF_THREAD;
		if (len >= KNEED(exit))
			ev->ppid = (uint32_t)k->event_data.exit.parent_tgid;
		ev->exit.status = k->event_data.exit.exit_code;
		ev->exit.pad = 0;
		ev->size = PROC_EV_SIZE(exit);
		return 1;
	default: /* the LISTEN answer, sid, coredump: not process events we report */
		return 0;
	}
}

static int cn_read(struct procsrc_cn *c, procsrc_cb cb, void *data)
{
	int64_t off = boot_minus_mono();
	struct proc_event k;
	int delivered = 0, r;

	for (;;) {
		const struct cn_msg *cn;

		if (c->next >= c->count) {
			unsigned room = (unsigned)(PROCSRC_BATCH - delivered);

			if (!room)
				break;
			r = cn_recv(c, room < CN_VLEN ? room : CN_VLEN);
			if (r < 0)
				return delivered ? delivered : r;
			if (r == 0)
				break;
			continue;
		}
		cn = cn_msg_of(c, c->next++, &k);
		if (!cn)
			continue;
		cn_seq(c, k.cpu, cn->seq); /* answers to LISTEN/IGNORE are numbered too */
		if (!cn_convert(c, &k, cn->len, off))
			continue;
		if (procsrc_ev_check(&c->ev, c->ev.size) < 0) {
			c->malformed++;
			continue;
		}
		c->delivered++;
		delivered++;
		r = cb(&c->ev, data);
		if (r < 0)
			return r; /* the rest of this batch stays for the next call */
	}
	return delivered;
}

static void cn_stats(const struct procsrc_cn *c, struct procsrc_stats *ret)
{
	uint32_t mem[SK_MEMINFO_VARS];
	socklen_t len = sizeof(mem);

	memset(ret, 0, sizeof(*ret));
	ret->events = c->delivered;
	ret->malformed = c->malformed;
	ret->overruns = c->overruns;
	ret->proc_gone = c->proc_gone;
	ret->lost = c->gaps;
	/* the socket's own drop count covers what no later message has revealed yet */
	memset(mem, 0, sizeof(mem));
	if (!getsockopt(c->fd, SOL_SOCKET, SO_MEMINFO, mem, &len) &&
	    len > SK_MEMINFO_DROPS * sizeof(uint32_t) && mem[SK_MEMINFO_DROPS] > ret->lost)
		ret->lost = mem[SK_MEMINFO_DROPS];
}

/* --- the front ---------------------------------------------------------------------- */

int procsrc_new(enum procsrc_kind want, const struct procsrc_opts *opts, struct procsrc **ret,
		char *why, size_t whylen)
{
	char nowhy[1], bwhy[256] = "", cwhy[256] = "";
	struct procsrc_opts o;
	struct procsrc *s;
	int r;

	if (!why || !whylen) {
		why = nowhy;
		whylen = sizeof(nowhy);
	}
	why[0] = '\0';
	r = procsrc_opts_norm(opts, &o);
	if (r < 0 || (want != PROCSRC_AUTO && want != PROCSRC_BPF && want != PROCSRC_CN)) {
		snprintf(why, whylen, "invalid source kind, events or flags");
		return -EINVAL;
	}
	s = calloc(1, sizeof(*s));
	if (!s) {
		snprintf(why, whylen, "out of memory");
		return -ENOMEM;
	}
	if (want != PROCSRC_CN) {
		r = procsrc_bpf_new(&o, &s->bpf, bwhy, sizeof(bwhy));
		if (r == 0) {
			s->kind = PROCSRC_BPF;
			goto ok;
		}
		if (want == PROCSRC_BPF) {
			snprintf(why, whylen, "ebpf: %s", bwhy);
			goto err;
		}
	}
	r = cn_new(&o, &s->cn, cwhy, sizeof(cwhy));
	if (r < 0) {
		if (want == PROCSRC_AUTO)
			snprintf(why, whylen, "ebpf: %s; proc-connector: %s", bwhy, cwhy);
		else
			snprintf(why, whylen, "proc-connector: %s", cwhy);
		goto err;
	}
	s->kind = PROCSRC_CN;
	s->cn_probe.name = "netlink/proc_connector";
	s->cn_probe.events = s->cn->events;
	s->cn_probe.reason = "";
	if (want == PROCSRC_AUTO)
		snprintf(why, whylen, "ebpf: %s", bwhy);
ok:
	*ret = s;
	return 0;
err:
	free(s);
	return r;
}

struct procsrc *procsrc_free(struct procsrc *s)
{
	if (!s)
		return NULL;
	procsrc_bpf_free(s->bpf);
	cn_free(s->cn);
	free(s);
	return NULL;
}

int procsrc_fd(const struct procsrc *s)
{
	return s->kind == PROCSRC_BPF ? procsrc_bpf_fd(s->bpf) : s->cn->fd;
}

int procsrc_read(struct procsrc *s, procsrc_cb cb, void *data)
{
	return s->kind == PROCSRC_BPF ? procsrc_bpf_read(s->bpf, cb, data) : cn_read(s->cn, cb, data);
}

const char *procsrc_name(const struct procsrc *s)
{
	return s->kind == PROCSRC_BPF ? "ebpf" : "proc-connector";
}

enum procsrc_kind procsrc_kind(const struct procsrc *s)
{
	return s->kind;
}

uint32_t procsrc_events(const struct procsrc *s)
{
	return s->kind == PROCSRC_BPF ? procsrc_bpf_events(s->bpf) : s->cn->events;
}

void procsrc_set_waiting(struct procsrc *s, bool waiting)
{
	if (s->kind == PROCSRC_BPF)
		procsrc_bpf_set_waiting(s->bpf, waiting);
}

void procsrc_stats(const struct procsrc *s, struct procsrc_stats *ret)
{
	if (s->kind == PROCSRC_BPF)
		procsrc_bpf_stats(s->bpf, ret);
	else
		cn_stats(s->cn, ret);
}

size_t procsrc_probes(const struct procsrc *s, const struct procsrc_probe **ret)
{
	if (s->kind == PROCSRC_BPF)
		return procsrc_bpf_probes(s->bpf, ret);
	*ret = &s->cn_probe;
	return 1;
}
