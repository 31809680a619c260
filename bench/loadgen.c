// SPDX-License-Identifier: Apache-2.0
/* Load generator for the ring-buffer benchmark: calls getppid(2) in a
 * bounded loop, each call firing bench.bpf.c's tracepoint once.
 *
 *   loadgen [--rate CALLS_PER_S] [--count N] [--duration-ms MS] [--cpu CPU]
 *           [--wait-signal]
 *
 *   --rate 0 (default) calls as fast as it can; otherwise calls are paced in
 *     bursts of one millisecond's worth, sleeping between bursts, so a paced
 *     run leaves its CPU idle for the rest of each millisecond.
 *   --count / --duration-ms bound the loop; whichever comes first ends it
 *     (defaults: 1,000,000 calls, 2,000 ms; both are always bounded).
 *   --cpu pins the process to one CPU (sched_setaffinity), so the producer
 *     (this loop plus the BPF program, which runs in its context) and the
 *     consumer can be kept on different cores.
 *   --wait-signal blocks SIGUSR1, prints "ready <pid>" and waits for it
 *     before starting: the benchmark loads its BPF object for this pid first.
 *     Waiting is bounded too (10 s).
 *
 * Prints one line: "calls=N elapsed_ns=N rate=N cpu=N".
 */
#define _GNU_SOURCE
#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static uint64_t parse_u64(const char *flag, const char *s)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || *s == '\0' || *end != '\0') {
		fprintf(stderr, "loadgen: %s: not a number: %s\n", flag, s);
		exit(2);
	}
	return v;
}

static void usage(void)
{
	fprintf(stderr, "usage: loadgen [--rate CALLS_PER_S] [--count N] [--duration-ms MS] "
			"[--cpu CPU] [--wait-signal]\n");
	exit(2);
}

int main(int argc, char **argv)
{
	uint64_t rate = 0, count = 1000000, duration_ms = 2000;
	int cpu = -1, wait_signal = 0;
	uint64_t calls = 0, start, deadline, end;

	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		const char *v = i + 1 < argc ? argv[i + 1] : NULL;

		if (!strcmp(a, "--wait-signal")) {
			wait_signal = 1;
			continue;
		}
		if (!v)
			usage();
		if (!strcmp(a, "--rate"))
			rate = parse_u64(a, v);
		else if (!strcmp(a, "--count"))
			count = parse_u64(a, v);
		else if (!strcmp(a, "--duration-ms"))
			duration_ms = parse_u64(a, v);
		else if (!strcmp(a, "--cpu"))
			cpu = (int)parse_u64(a, v);
		else
			usage();
		i++;
	}
	if (duration_ms == 0 || duration_ms > 60000) {
		fprintf(stderr, "loadgen: --duration-ms must be 1..60000\n");
		return 2;
	}

	if (cpu >= 0) {
		cpu_set_t set;

		CPU_ZERO(&set);
		CPU_SET(cpu, &set);
		if (sched_setaffinity(0, sizeof(set), &set)) {
			fprintf(stderr, "loadgen: sched_setaffinity(cpu %d): %s\n", cpu, strerror(errno));
			return 1;
		}
	}

	if (wait_signal) {
		sigset_t set;
		uint64_t give_up = now_ns() + 10000000000ull;
		int sig = -1;

		sigemptyset(&set);
		sigaddset(&set, SIGUSR1);
		sigprocmask(SIG_BLOCK, &set, NULL);
		printf("ready %d\n", (int)getpid());
		fflush(stdout);
		/* A tracer attaching (strace -p) stops us, and a stopped
		 * sigtimedwait returns EINTR: wait again for what is left. */
		while (sig != SIGUSR1) {
			uint64_t t = now_ns();
			struct timespec left;

			if (t >= give_up) {
				fprintf(stderr, "loadgen: no start signal within 10 s\n");
				return 1;
			}
			left.tv_sec = (time_t)((give_up - t) / 1000000000ull);
			left.tv_nsec = (long)((give_up - t) % 1000000000ull);
			sig = sigtimedwait(&set, NULL, &left);
			if (sig < 0 && errno != EINTR && errno != EAGAIN) {
				fprintf(stderr, "loadgen: sigtimedwait: %s\n", strerror(errno));
				return 1;
			}
		}
	}

	start = now_ns();
	deadline = start + duration_ms * 1000000ull;
	end = start;
	if (rate == 0) {
		/* Check the clock every 1024 calls: cheap next to the syscalls. */
		while (calls < count) {
			uint64_t burst = count - calls < 1024 ? count - calls : 1024;

			for (uint64_t j = 0; j < burst; j++)
				syscall(SYS_getppid);
			calls += burst;
			end = now_ns();
			if (end >= deadline)
				break;
		}
	} else {
		/* Catch up to rate * elapsed in bursts, then sleep ~1 ms. */
		while (calls < count) {
			uint64_t t = now_ns();
			uint64_t due;

			if (t >= deadline)
				break;
			due = (uint64_t)((double)rate * (double)(t - start) / 1e9) + 1;
			if (due > count)
				due = count;
			while (calls < due) {
				syscall(SYS_getppid);
				calls++;
			}
			if (calls < count) {
				struct timespec nap = { .tv_nsec = 1000000 - (long)((now_ns() - start) % 1000000) };

				nanosleep(&nap, NULL);
			}
		}
		end = now_ns();
	}

	printf("calls=%llu elapsed_ns=%llu rate=%.0f cpu=%d\n", (unsigned long long)calls,
	       (unsigned long long)(end - start), (double)calls * 1e9 / (double)(end - start ? end - start : 1),
	       sched_getcpu());
	return 0;
}
