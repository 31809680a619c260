// SPDX-License-Identifier: Apache-2.0
/* Open storm: opens and closes one file in a bounded loop, the workload of
 * the file-tracing benchmark (every iteration is one openat(2), the syscall
 * the tracers watch, and one close(2)).
 *
 *   openstorm --path FILE [--rate OPENS_PER_S] [--count N] [--duration-ms MS] [--cpu CPU]
 *             [--wait-signal]
 *
 * Defaults: unpaced (--rate 0), 200,000 iterations, 2,000 ms, whichever comes
 * first; unpaced, the clock is read every 256 iterations. With --rate the
 * opens are paced in bursts of one millisecond's worth, sleeping between
 * bursts. Prints the line of storm_report() (bench/storm.h); iterations is
 * exactly the number of successful opens made (a failed open ends the run
 * with status 1).
 */
#include "storm.h"
#include <fcntl.h>

#define MAX_COUNT 100000000ull

static const char *path;

static int open_close(void)
{
	int fd = open(path, O_RDONLY);

	if (fd < 0) {
		fprintf(stderr, "openstorm: open %s: %s\n", path, strerror(errno));
		return -1;
	}
	close(fd);
	return 0;
}

int main(int argc, char **argv)
{
	struct storm_opts o = { .count = 200000, .duration_ms = 2000, .cpu = -1 };
	struct storm_clock *clock;
	uint64_t n = 0, rate = 0, deadline, end;
	int rc;

	for (int i = 1; i < argc; i++) {
		if (storm_flag("openstorm", &o, argc, argv, &i) || storm_str_flag("--path", &path, argc, argv, &i))
			continue;
		if (!strcmp(argv[i], "--rate") && i + 1 < argc) {
			rate = parse_u64("openstorm", argv[i], argv[i + 1]);
			i++;
			continue;
		}
		fprintf(stderr, "usage: openstorm --path FILE [--rate OPENS_PER_S] [--count N] [--duration-ms MS] "
				"[--cpu CPU] [--wait-signal]\n");
		return 2;
	}
	if (!path) {
		fprintf(stderr, "openstorm: --path is required\n");
		return 2;
	}
	rc = storm_prepare("openstorm", &o, MAX_COUNT);
	if (rc)
		return rc;

	/* Slices of ~5 ms unpaced, ~50 ms paced. */
	clock = storm_clock_start(rate ? (rate / 20 ? rate / 20 : 1) : 4096);
	deadline = clock->start_ns + o.duration_ms * 1000000ull;
	end = clock->start_ns;
	if (rate == 0) {
		while (n < o.count) {
			uint64_t burst = o.count - n < 256 ? o.count - n : 256;

			for (uint64_t j = 0; j < burst; j++) {
				if (open_close()) {
					storm_report(clock, n, now_ns());
					return 1;
				}
				storm_tick(clock, ++n);
			}
			end = now_ns();
			if (end >= deadline)
				break;
		}
	} else {
		/* Catch up to rate * elapsed, then sleep to the next millisecond. */
		while (n < o.count) {
			uint64_t t = now_ns();
			uint64_t due;

			if (t >= deadline)
				break;
			due = (uint64_t)((double)rate * (double)(t - clock->start_ns) / 1e9) + 1;
			if (due > o.count)
				due = o.count;
			while (n < due) {
				if (open_close()) {
					storm_report(clock, n, now_ns());
					return 1;
				}
				storm_tick(clock, ++n);
			}
			if (n < o.count) {
				struct timespec nap = {
					.tv_nsec = 1000000 - (long)((now_ns() - clock->start_ns) % 1000000) };

				nanosleep(&nap, NULL);
			}
		}
		end = now_ns();
	}
	storm_report(clock, n, end);
	return 0;
}
