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
#include "storm.h"
#include <sys/syscall.h>

static void usage(void)
{
	fprintf(stderr, "usage: loadgen [--rate CALLS_PER_S] [--count N] [--duration-ms MS] "
			"[--cpu CPU] [--wait-signal]\n");
	exit(2);
}

int main(int argc, char **argv)
{
	struct storm_opts o = { .count = 1000000, .duration_ms = 2000, .cpu = -1 };
	uint64_t rate = 0, count, calls = 0, start, deadline, end;

	for (int i = 1; i < argc; i++) {
		if (storm_flag("loadgen", &o, argc, argv, &i))
			continue;
		if (strcmp(argv[i], "--rate") || i + 1 >= argc)
			usage();
		rate = parse_u64("loadgen", argv[i], argv[i + 1]);
		i++;
	}
	if (o.duration_ms == 0 || o.duration_ms > 60000) {
		fprintf(stderr, "loadgen: --duration-ms must be 1..60000\n");
		return 2;
	}
	if (storm_pin("loadgen", o.cpu) || (o.wait_signal && storm_wait_start("loadgen", 10)))
		return 1;

	count = o.count;
	start = now_ns();
	deadline = start + o.duration_ms * 1000000ull;
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
