// SPDX-License-Identifier: Apache-2.0
/* The libbpf C peer of Vigil's TypeScript consumer: the same object
 * (bpf/bench.bpf.c, through a bpftool skeleton), the same ring buffer and
 * the same per-record work (read seq, ktime_ns, pid, cpu, arg; check each
 * CPU's sequence), consumed with ring_buffer__poll() in plain C.
 *
 *   consumer --pid PID [--records-per-call N] [--ring-bytes B]
 *            [--wakeup-bytes W] [--cpu CPU]
 *
 * Loads and attaches for the load generator PID, prints "ready", polls until
 * SIGUSR1 (bounded: 60 s), drains what is left and prints one line:
 *   decoded=N lost=N produced=N calls_seen=N seq_missing=N disorder=N
 *   bad=N polls=N done_ns=N cpu_ns=N
 * done_ns is CLOCK_MONOTONIC when the last record was decoded; cpu_ns is this
 * process's CPU time (user + system) since "ready".
 */
#define _GNU_SOURCE
#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/resource.h>
#include <linux/types.h>
#include <bpf/libbpf.h>
#include <bpf/bpf.h>
#include "vigil/bench.h"
#include "bench.skel.h"

#define MAX_CPUS 1024

static volatile sig_atomic_t stop;

struct state {
	__u32 pid;
	__u64 records_per_call;
	__u64 decoded, bad, disorder, gaps;
	__u64 last[MAX_CPUS];
};

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static __u64 now_ns(clockid_t clk)
{
	struct timespec ts;

	clock_gettime(clk, &ts);
	return (__u64)ts.tv_sec * 1000000000ull + (__u64)ts.tv_nsec;
}

static __u64 cpu_ns(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return ((__u64)ru.ru_utime.tv_sec + (__u64)ru.ru_stime.tv_sec) * 1000000000ull +
	       ((__u64)ru.ru_utime.tv_usec + (__u64)ru.ru_stime.tv_usec) * 1000ull;
}

static int on_record(void *ctx, void *data, size_t size)
{
	struct state *s = ctx;
	const struct vigil_bench_record *r = data;
	__u64 seq;
	__u32 cpu;

	if (size != sizeof(*r)) {
		s->bad++;
		return 0;
	}
	s->decoded++;
	seq = r->seq;
	cpu = r->cpu;
	if (r->pid != s->pid || r->arg >= s->records_per_call || cpu >= MAX_CPUS) {
		s->bad++;
		return 0;
	}
	if (seq <= s->last[cpu]) {
		s->disorder++;
	} else {
		s->gaps += seq - s->last[cpu] - 1;
		s->last[cpu] = seq;
	}
	return 0;
}

static __u64 sum_percpu(int fd, __u32 key, int ncpu)
{
	__u64 vals[MAX_CPUS] = { 0 }, sum = 0;

	if (bpf_map_lookup_elem(fd, &key, vals))
		return 0;
	for (int i = 0; i < ncpu; i++)
		sum += vals[i];
	return sum;
}

static __u64 parse_u64(const char *flag, const char *v)
{
	char *end;
	unsigned long long x;

	errno = 0;
	x = strtoull(v, &end, 10);
	if (errno || *v == '\0' || *end != '\0') {
		fprintf(stderr, "consumer: %s: not a number: %s\n", flag, v);
		exit(2);
	}
	return x;
}

int main(int argc, char **argv)
{
	static struct state s;
	__u64 ring_bytes = 16 << 20, wakeup_bytes = 0, polls = 0, cpu0, deadline, done, tail = 0;
	__u64 produced = 0, calls = 0, lost;
	int cpu = -1, ncpu, err, rc = 1;
	struct ring_buffer *rb = NULL;
	struct bench *skel;

	s.records_per_call = 1;
	for (int i = 1; i + 1 < argc; i += 2) {
		if (!strcmp(argv[i], "--pid"))
			s.pid = (__u32)parse_u64(argv[i], argv[i + 1]);
		else if (!strcmp(argv[i], "--records-per-call"))
			s.records_per_call = parse_u64(argv[i], argv[i + 1]);
		else if (!strcmp(argv[i], "--ring-bytes"))
			ring_bytes = parse_u64(argv[i], argv[i + 1]);
		else if (!strcmp(argv[i], "--wakeup-bytes"))
			wakeup_bytes = parse_u64(argv[i], argv[i + 1]);
		else if (!strcmp(argv[i], "--cpu"))
			cpu = (int)parse_u64(argv[i], argv[i + 1]);
		else {
			fprintf(stderr, "consumer: unknown option %s\n", argv[i]);
			return 2;
		}
	}
	if (!s.pid) {
		fprintf(stderr, "usage: consumer --pid PID [--records-per-call N] [--ring-bytes B] "
				"[--wakeup-bytes W] [--cpu CPU]\n");
		return 2;
	}
	if (cpu >= 0) {
		cpu_set_t set;

		CPU_ZERO(&set);
		CPU_SET(cpu, &set);
		if (sched_setaffinity(0, sizeof(set), &set)) {
			fprintf(stderr, "consumer: sched_setaffinity: %s\n", strerror(errno));
			return 1;
		}
	}
	ncpu = libbpf_num_possible_cpus();
	if (ncpu <= 0 || ncpu > MAX_CPUS) {
		fprintf(stderr, "consumer: %d possible CPUs\n", ncpu);
		return 1;
	}

	skel = bench__open();
	if (!skel) {
		fprintf(stderr, "consumer: open: %s\n", strerror(errno));
		return 1;
	}
	skel->rodata->target_pid = s.pid;
	skel->rodata->records_per_call = (__u32)s.records_per_call;
	skel->rodata->vigil_wakeup_bytes = wakeup_bytes;
	bpf_map__set_max_entries(skel->maps.bench_events, (__u32)ring_bytes);
	err = bench__load(skel);
	if (!err)
		err = bench__attach(skel);
	if (err) {
		fprintf(stderr, "consumer: load/attach: %s\n", strerror(-err));
		goto out;
	}
	rb = ring_buffer__new(bpf_map__fd(skel->maps.bench_events), on_record, &s, NULL);
	if (!rb) {
		fprintf(stderr, "consumer: ring_buffer__new: %s\n", strerror(errno));
		goto out;
	}

	signal(SIGUSR1, on_signal);
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	cpu0 = cpu_ns();
	printf("ready\n");
	fflush(stdout);

	deadline = now_ns(CLOCK_MONOTONIC) + 60ull * 1000000000ull;
	while (!stop && now_ns(CLOCK_MONOTONIC) < deadline) {
		err = ring_buffer__poll(rb, 50);
		polls++;
		if (err < 0 && err != -EINTR) {
			fprintf(stderr, "consumer: ring_buffer__poll: %s\n", strerror(-err));
			goto out;
		}
	}
	/* The producer has exited: everything it emitted is in the ring. */
	while (ring_buffer__consume(rb) > 0)
		;
	done = now_ns(CLOCK_MONOTONIC);

	produced = sum_percpu(bpf_map__fd(skel->maps.bench_counts), 0, ncpu);
	calls = sum_percpu(bpf_map__fd(skel->maps.bench_counts), 1, ncpu);
	lost = sum_percpu(bpf_map__fd(skel->maps.vigil_lost), 0, ncpu);
	{
		__u64 final[MAX_CPUS] = { 0 };
		__u32 key = 0;

		bpf_map_lookup_elem(bpf_map__fd(skel->maps.bench_counts), &key, final);
		for (int i = 0; i < ncpu; i++)
			tail += final[i] - s.last[i];
	}
	printf("decoded=%llu lost=%llu produced=%llu calls_seen=%llu seq_missing=%llu disorder=%llu bad=%llu "
	       "polls=%llu done_ns=%llu cpu_ns=%llu\n",
	       (unsigned long long)s.decoded, (unsigned long long)lost, (unsigned long long)produced,
	       (unsigned long long)calls, (unsigned long long)(s.gaps + tail), (unsigned long long)s.disorder,
	       (unsigned long long)s.bad, (unsigned long long)polls, (unsigned long long)done,
	       (unsigned long long)(cpu_ns() - cpu0));
	rc = 0;
out:
	ring_buffer__free(rb);
	bench__destroy(skel);
	return rc;
}
