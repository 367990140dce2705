/* loop.c owns the epoll set, the timer list and the signalfd of the manager. */
#include "loop.h"

#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "common/util.h"

#define MAX_WATCH 1024

struct watch {
	int fd;
	loop_fd_cb cb;
	void *data;
	bool used;
};

struct loop_timer {
	uint64_t due_ms;
	loop_timer_cb cb;
	void *data;
	struct loop_timer *next;
};

struct sigwatch {
	int signo;
	loop_signal_cb cb;
	void *data;
};

struct loop {
	int ep, tfd, sfd;
	sigset_t sigs;
	struct watch *watches; /* indexed by slot; epoll data holds the slot */
	unsigned nwatch;
	struct loop_timer *timers; /* sorted by due time */
	struct sigwatch sigw[16];
	unsigned nsig;
	bool quit;
	int code;
	uint64_t wakeups;
};

int loop_new(struct loop **ret)
{
	struct loop *l = calloc(1, sizeof *l);
	if (!l) return -ENOMEM;
	l->ep = l->tfd = l->sfd = -1;
	sigemptyset(&l->sigs);
	l->watches = calloc(MAX_WATCH, sizeof *l->watches);
	if (!l->watches) goto err;
	l->ep = epoll_create1(EPOLL_CLOEXEC);
	l->tfd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
	l->sfd = signalfd(-1, &l->sigs, SFD_CLOEXEC | SFD_NONBLOCK);
	if (l->ep < 0 || l->tfd < 0 || l->sfd < 0) goto err;
	struct epoll_event ev = { .events = EPOLLIN, .data.u64 = UINT64_MAX - 1 };
	if (epoll_ctl(l->ep, EPOLL_CTL_ADD, l->tfd, &ev) < 0) goto err;
	ev.data.u64 = UINT64_MAX - 2;
	if (epoll_ctl(l->ep, EPOLL_CTL_ADD, l->sfd, &ev) < 0) goto err;
	*ret = l;
	return 0;
err:;
	int e = errno ? -errno : -ENOMEM;
	loop_free(l);
	return e;
}

struct loop *loop_free(struct loop *l)
{
	if (!l) return NULL;
	while (l->timers) {
		struct loop_timer *t = l->timers;
		l->timers = t->next;
		free(t);
	}
	if (l->ep >= 0) close(l->ep);
	if (l->tfd >= 0) close(l->tfd);
	if (l->sfd >= 0) close(l->sfd);
	free(l->watches);
	free(l);
	return NULL;
}

int loop_add_fd(struct loop *l, int fd, uint32_t events, loop_fd_cb cb, void *data)
{
	unsigned slot;
	for (slot = 0; slot < MAX_WATCH; slot++)
		if (!l->watches[slot].used) break;
	if (slot == MAX_WATCH) return -EMFILE;
	struct epoll_event ev = { .events = events, .data.u64 = slot };
	if (epoll_ctl(l->ep, EPOLL_CTL_ADD, fd, &ev) < 0) return -errno;
	l->watches[slot] = (struct watch){ fd, cb, data, true };
	if (slot >= l->nwatch) l->nwatch = slot + 1;
	return 0;
}

static struct watch *find_watch(struct loop *l, int fd, unsigned *ret_slot)
{
	for (unsigned i = 0; i < l->nwatch; i++)
		if (l->watches[i].used && l->watches[i].fd == fd) {
			if (ret_slot) *ret_slot = i;
			return &l->watches[i];
		}
	return NULL;
}

void loop_remove_fd(struct loop *l, int fd)
{
	struct watch *w = find_watch(l, fd, NULL);
	if (!w) return;
	epoll_ctl(l->ep, EPOLL_CTL_DEL, fd, NULL);
	/* Mark unused; a stale event for this slot in the current batch is ignored below
	 * because the fd no longer matches or the slot is unused. */
	w->used = false;
	w->fd = -1;
}

static void arm(struct loop *l)
{
	struct itimerspec its = { 0 };
	if (l->timers) {
		uint64_t now = now_mono_ms(), due = l->timers->due_ms;
		uint64_t d = due > now ? due - now : 0;
		if (d == 0) d = 0, its.it_value.tv_nsec = 1; /* fire at once; 0 would disarm */
		else {
			its.it_value.tv_sec = (time_t)(d / 1000);
			its.it_value.tv_nsec = (long)(d % 1000) * 1000000L;
		}
	}
	timerfd_settime(l->tfd, 0, &its, NULL);
}

struct loop_timer *loop_timer_add(struct loop *l, uint64_t ms, loop_timer_cb cb, void *data)
{
	struct loop_timer *t = calloc(1, sizeof *t);
	if (!t) return NULL;
	t->due_ms = now_mono_ms() + ms;
	t->cb = cb;
	t->data = data;
	struct loop_timer **pp = &l->timers;
	while (*pp && (*pp)->due_ms <= t->due_ms) pp = &(*pp)->next;
	t->next = *pp;
	*pp = t;
	arm(l);
	return t;
}

void loop_timer_cancel(struct loop *l, struct loop_timer *t)
{
	if (!t) return;
	for (struct loop_timer **pp = &l->timers; *pp; pp = &(*pp)->next) {
		if (*pp == t) {
			*pp = t->next;
			free(t);
			arm(l);
			return;
		}
	}
}

int loop_add_signal(struct loop *l, int signo, loop_signal_cb cb, void *data)
{
	if (l->nsig >= ARRAY_SIZE(l->sigw)) return -E2BIG;
	sigaddset(&l->sigs, signo);
	if (sigprocmask(SIG_BLOCK, &l->sigs, NULL) < 0) return -errno;
	if (signalfd(l->sfd, &l->sigs, 0) < 0) return -errno;
	l->sigw[l->nsig++] = (struct sigwatch){ signo, cb, data };
	return 0;
}

static void run_timers(struct loop *l)
{
	uint64_t exp;
	while (read(l->tfd, &exp, sizeof exp) > 0) {}
	uint64_t now = now_mono_ms();
	while (l->timers && l->timers->due_ms <= now) {
		struct loop_timer *t = l->timers;
		l->timers = t->next;
		t->cb(l, t, t->data);
		free(t);
	}
	arm(l);
}

static void run_signals(struct loop *l)
{
	struct signalfd_siginfo si;
	while (read(l->sfd, &si, sizeof si) == sizeof si) {
		for (unsigned i = 0; i < l->nsig; i++)
			if ((int)si.ssi_signo == l->sigw[i].signo) l->sigw[i].cb(l, (int)si.ssi_signo, l->sigw[i].data);
	}
}

int loop_run(struct loop *l)
{
	struct epoll_event evs[32];
	while (!l->quit) {
		int n = epoll_wait(l->ep, evs, 32, -1);
		if (n < 0) {
			if (errno == EINTR) continue;
			return -errno;
		}
		l->wakeups++;
		for (int i = 0; i < n && !l->quit; i++) {
			uint64_t id = evs[i].data.u64;
			if (id == UINT64_MAX - 1) {
				run_timers(l);
				continue;
			}
			if (id == UINT64_MAX - 2) {
				run_signals(l);
				continue;
			}
			if (id >= l->nwatch || !l->watches[id].used) continue;
			struct watch w = l->watches[id];
			w.cb(l, w.fd, evs[i].events, w.data);
		}
	}
	return l->code;
}

void loop_quit(struct loop *l, int code)
{
	l->quit = true;
	l->code = code;
}

uint64_t loop_wakeups(const struct loop *l) { return l->wakeups; }
