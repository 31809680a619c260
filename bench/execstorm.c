// SPDX-License-Identifier: Apache-2.0
/* Exec storm: spawns a program (default /bin/true) one after another,
 * fork + execve + waitpid, in a bounded loop: the workload of the
 * process-tracing benchmark.
 *
 *   execstorm [--program PATH] [--count N] [--duration-ms MS] [--cpu CPU] [--wait-signal]
 *
 * Defaults: 20,000 spawns, 2,000 ms, whichever comes first; the clock is read
 * after every spawn. Children inherit the CPU pinning. Prints the line of
 * storm_report() (bench/storm.h); iterations counts spawns whose child exited
 * 0 (anything else ends the run with status 1).
 */
#include "storm.h"
#include <sys/wait.h>

#define MAX_COUNT 10000000ull

extern char **environ;

int main(int argc, char **argv)
{
	struct storm_opts o = { .count = 20000, .duration_ms = 2000, .cpu = -1 };
	const char *program = "/bin/true";
	struct storm_clock *clock;
	uint64_t n = 0, deadline, end;
	int rc;

	for (int i = 1; i < argc; i++) {
		if (storm_flag("execstorm", &o, argc, argv, &i) ||
		    storm_str_flag("--program", &program, argc, argv, &i))
			continue;
		fprintf(stderr, "usage: execstorm [--program PATH] [--count N] [--duration-ms MS] [--cpu CPU] "
				"[--wait-signal]\n");
		return 2;
	}
	rc = storm_prepare("execstorm", &o, MAX_COUNT);
	if (rc)
		return rc;

	/* Slices of 16 spawns (~10 ms). */
	clock = storm_clock_start(16);
	deadline = clock->start_ns + o.duration_ms * 1000000ull;
	end = clock->start_ns;
	while (n < o.count && end < deadline) {
		char *const child_argv[] = { (char *)program, NULL };
		int status;
		pid_t pid = fork();

		if (pid < 0) {
			fprintf(stderr, "execstorm: fork: %s\n", strerror(errno));
			storm_report(clock, n, now_ns());
			return 1;
		}
		if (pid == 0) {
			execve(program, child_argv, environ);
			_exit(127);
		}
		if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
			fprintf(stderr, "execstorm: %s did not exit 0 (status 0x%x)\n", program, status);
			storm_report(clock, n, now_ns());
			return 1;
		}
		storm_tick(clock, ++n);
		end = now_ns();
	}
	storm_report(clock, n, end);
	return 0;
}
