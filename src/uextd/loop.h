/* loop.h: the manager's single-threaded event loop: fds on epoll, timers on one timerfd,
 * signals on a signalfd. Nothing polls: with no event and no timer due it sleeps. */
#pragma once

#include <stdint.h>

struct loop;
struct loop_timer;

typedef void (*loop_fd_cb)(struct loop *l, int fd, uint32_t events, void *data);
typedef void (*loop_timer_cb)(struct loop *l, struct loop_timer *t, void *data);
typedef void (*loop_signal_cb)(struct loop *l, int signo, void *data);

int loop_new(struct loop **ret);
struct loop *loop_free(struct loop *l);

/* Watch fd (borrowed: the caller closes it after loop_remove_fd). events: EPOLL*. */
int loop_add_fd(struct loop *l, int fd, uint32_t events, loop_fd_cb cb, void *data);
void loop_remove_fd(struct loop *l, int fd);

/* One-shot timer after ms. The timer is freed after its callback runs or on cancel. */
struct loop_timer *loop_timer_add(struct loop *l, uint64_t ms, loop_timer_cb cb, void *data);
void loop_timer_cancel(struct loop *l, struct loop_timer *t);

/* Block these signals and deliver them through the loop. */
int loop_add_signal(struct loop *l, int signo, loop_signal_cb cb, void *data);

/* Run until loop_quit. Returns the exit code given to loop_quit. */
int loop_run(struct loop *l);
void loop_quit(struct loop *l, int code);
uint64_t loop_wakeups(const struct loop *l);
