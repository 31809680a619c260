/* SPDX-License-Identifier: Apache-2.0 */
/* What bench/openstorm.c and bench/execstorm.c share (and bench/loadgen.c,
 * but for its own bounds): flags, pinning, the start signal and the clock. Each storm is a bounded loop (a count and a
 * duration, whichever comes first), optionally pinned to one CPU, optionally
 * held until SIGUSR1 so a tracer can attach to a known pid first.
 *
 *   <storm> [--count N] [--duration-ms MS] [--cpu CPU] [--wait-signal] ...
 *
 * With --wait-signal it prints "ready <pid>" and waits (at most 45 s: longer
 * than the 30 s a tracer is given to be ready, which a loaded machine needs).
 */
#ifndef VIGIL_BENCH_STORM_H
#define VIGIL_BENCH_STORM_H

#define _GNU_SOURCE
#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

struct storm_opts {
	uint64_t count;
	uint64_t duration_ms;
	int cpu;
	int wait_signal;
};

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static uint64_t parse_u64(const char *prog, const char *flag, const char *s)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || *s == '\0' || *end != '\0') {
		fprintf(stderr, "%s: %s: not a number: %s\n", prog, flag, s);
		exit(2);
	}
	return v;
}

/* Takes the common flag at argv[*i] (and its value); 0 if it is not one. */
static int storm_flag(const char *prog, struct storm_opts *o, int argc, char **argv, int *i)
{
	const char *a = argv[*i];
	const char *v = *i + 1 < argc ? argv[*i + 1] : NULL;

	if (!strcmp(a, "--wait-signal")) {
		o->wait_signal = 1;
		return 1;
	}
	if (strcmp(a, "--count") && strcmp(a, "--duration-ms") && strcmp(a, "--cpu"))
		return 0;
	if (!v) {
		fprintf(stderr, "%s: %s needs a value\n", prog, a);
		exit(2);
	}
	if (!strcmp(a, "--count"))
		o->count = parse_u64(prog, a, v);
	else if (!strcmp(a, "--duration-ms"))
		o->duration_ms = parse_u64(prog, a, v);
	else
		o->cpu = (int)parse_u64(prog, a, v);
	(*i)++;
	return 1;
}

/* Pins this process to cpu (none if < 0). 0 on success. */
static int storm_pin(const char *prog, int cpu)
{
	cpu_set_t set;

	if (cpu < 0)
		return 0;
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	if (sched_setaffinity(0, sizeof(set), &set)) {
		fprintf(stderr, "%s: sched_setaffinity(cpu %d): %s\n", prog, cpu, strerror(errno));
		return 1;
	}
	return 0;
}

/* Prints "ready <pid>" and waits, at most `seconds`, for SIGUSR1. 0 on success. */
static int storm_wait_start(const char *prog, unsigned int seconds)
{
	sigset_t set;
	uint64_t give_up = now_ns() + seconds * 1000000000ull;
	int sig = -1;

	sigemptyset(&set);
	sigaddset(&set, SIGUSR1);
	sigprocmask(SIG_BLOCK, &set, NULL);
	printf("ready %d\n", (int)getpid());
	fflush(stdout);
	/* A tracer attaching (strace) stops us, and a stopped
	 * sigtimedwait returns EINTR: wait again for what is left. */
	while (sig != SIGUSR1) {
		uint64_t t = now_ns();
		struct timespec left;

		if (t >= give_up) {
			fprintf(stderr, "%s: no start signal within %u s\n", prog, seconds);
			return 1;
		}
		left.tv_sec = (time_t)((give_up - t) / 1000000000ull);
		left.tv_nsec = (long)((give_up - t) % 1000000000ull);
		sig = sigtimedwait(&set, NULL, &left);
		if (sig < 0 && errno != EINTR && errno != EAGAIN) {
			fprintf(stderr, "%s: sigtimedwait: %s\n", prog, strerror(errno));
			return 1;
		}
	}
	/* Children (execstorm's) must not inherit a blocked SIGUSR1. */
	sigprocmask(SIG_UNBLOCK, &set, NULL);
	return 0;
}

/* Takes `--NAME VALUE` at argv[*i] into *value; 0 if it is not that flag (or has no value). */
static int storm_str_flag(const char *name, const char **value, int argc, char **argv, int *i)
{
	if (strcmp(argv[*i], name) || *i + 1 >= argc)
		return 0;
	*value = argv[++*i];
	return 1;
}

/* Checks the bounds, pins, and waits for the start signal if asked. 0 on success. */
static int storm_prepare(const char *prog, const struct storm_opts *o, uint64_t max_count)
{
	if (o->count == 0 || o->count > max_count) {
		fprintf(stderr, "%s: --count must be 1..%llu\n", prog, (unsigned long long)max_count);
		return 2;
	}
	if (o->duration_ms == 0 || o->duration_ms > 60000) {
		fprintf(stderr, "%s: --duration-ms must be 1..60000\n", prog);
		return 2;
	}
	if (storm_pin(prog, o->cpu))
		return 1;
	return o->wait_signal ? storm_wait_start(prog, 45) : 0;
}

/* This thread's time runnable but waiting for its CPU (schedstat), in ns; 0 if unknown. */
static uint64_t runqueue_wait_ns(void)
{
	unsigned long long run = 0, wait = 0;
	FILE *f = fopen("/proc/thread-self/schedstat", "r");

	if (!f)
		return 0;
	if (fscanf(f, "%llu %llu", &run, &wait) != 2)
		wait = 0;
	fclose(f);
	return wait;
}

/* CPU time (user + system) of this process and its reaped children, in ns.
 * Whatever a tracer does in the traced process's context (its BPF programs,
 * the tracepoints, waking its reader) is charged here; time spent waiting for
 * the CPU while other work runs is not. */
static uint64_t cpu_time_ns(void)
{
	struct rusage self, children;
	uint64_t us;

	getrusage(RUSAGE_SELF, &self);
	getrusage(RUSAGE_CHILDREN, &children);
	us = (uint64_t)(self.ru_utime.tv_sec + self.ru_stime.tv_sec + children.ru_utime.tv_sec +
			children.ru_stime.tv_sec) * 1000000ull +
	     (uint64_t)(self.ru_utime.tv_usec + self.ru_stime.tv_usec + children.ru_utime.tv_usec +
			children.ru_stime.tv_usec);
	return us * 1000ull;
}

/* The loop's CPU time is also taken in slices (every `chunk` iterations):
 * this machine's speed jumps for tens to hundreds of milliseconds at a time
 * (other work, the hypervisor), and the median slice is much steadier than
 * the whole run's mean. */
#define STORM_MAX_SLICES 65536

struct storm_clock {
	uint64_t start_ns;
	uint64_t cpu0_ns;
	uint64_t wait0_ns;
	uint64_t chunk;
	uint64_t slice_cpu_ns;
	uint64_t slice_start;
	unsigned nslices;
	double slices[STORM_MAX_SLICES];
};

static struct storm_clock storm_clock_storage;

/* Starts the clock; a slice closes every `chunk` iterations (see storm_tick). */
static struct storm_clock *storm_clock_start(uint64_t chunk)
{
	struct storm_clock *c = &storm_clock_storage;

	c->chunk = chunk ? chunk : 1;
	c->wait0_ns = runqueue_wait_ns();
	c->cpu0_ns = cpu_time_ns();
	c->slice_cpu_ns = c->cpu0_ns;
	c->slice_start = 0;
	c->nslices = 0;
	c->start_ns = now_ns();
	return c;
}

/* Call after each iteration with the count so far; cheap unless a slice ends. */
static inline void storm_tick(struct storm_clock *c, uint64_t iterations)
{
	uint64_t cpu;

	if (iterations - c->slice_start < c->chunk)
		return;
	cpu = cpu_time_ns();
	if (c->nslices < STORM_MAX_SLICES)
		c->slices[c->nslices++] = (double)(cpu - c->slice_cpu_ns) / (double)(iterations - c->slice_start);
	c->slice_cpu_ns = cpu;
	c->slice_start = iterations;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* The one result line the TypeScript driver parses. elapsed_ns is wall time
 * from the start to `end_ns`; cpu_ns the CPU time of the loop (and children)
 * until now; slice_ns the median CPU time per iteration over the slices (0
 * if none closed); waited_ns the loop thread's runqueue delay (other work on
 * the workload's CPU, i.e. noise). */
static void storm_report(struct storm_clock *c, uint64_t iterations, uint64_t end_ns)
{
	uint64_t elapsed = end_ns - c->start_ns;
	uint64_t cpu = cpu_time_ns() - c->cpu0_ns;
	double median = 0;

	if (c->nslices) {
		qsort(c->slices, c->nslices, sizeof(c->slices[0]), cmp_double);
		median = c->nslices % 2 ? c->slices[c->nslices / 2]
					: (c->slices[c->nslices / 2 - 1] + c->slices[c->nslices / 2]) / 2;
	}
	printf("iterations=%llu elapsed_ns=%llu ns_per_iter=%.1f cpu_ns=%llu cpu=%d waited_ns=%llu "
	       "slice_ns=%.1f slices=%u\n",
	       (unsigned long long)iterations, (unsigned long long)elapsed,
	       iterations ? (double)elapsed / (double)iterations : 0.0, (unsigned long long)cpu, sched_getcpu(),
	       (unsigned long long)(runqueue_wait_ns() - c->wait0_ns), median, c->nslices);
	fflush(stdout);
}

#endif
