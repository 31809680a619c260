// SPDX-License-Identifier: Apache-2.0
/* CPU-bound workload for the profiler benchmark (bench/profile.ts): THREADS
 * threads each run ITERATIONS rounds of a three-deep call chain of pure
 * arithmetic (frame pointers kept, so a profiler walks real stacks). Prints
 * the wall time of the whole run and the CPU time its threads used: a
 * profiler's overhead is how much longer (and how much more CPU) the same
 * work takes while it samples; sampling interrupts are charged to the
 * interrupted threads.
 *
 *   cpuwork THREADS ITERATIONS   ->   "elapsed_ns N" and "cpu_ns N"
 */
#include <pthread.h>
#include <sys/resource.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static unsigned long iterations;

__attribute__((noinline)) static unsigned long leaf(unsigned long x)
{
	volatile unsigned long acc = x;

	for (int i = 0; i < 1000; i++)
		acc = acc * 6364136223846793005UL + 1442695040888963407UL;
	return acc;
}

__attribute__((noinline)) static unsigned long middle(unsigned long x)
{
	return leaf(x) ^ leaf(x + 1);
}

__attribute__((noinline)) static unsigned long outer(unsigned long x)
{
	return middle(x) + middle(x >> 1);
}

static void *worker(void *arg)
{
	unsigned long sum = (unsigned long)arg;

	for (unsigned long i = 0; i < iterations; i++)
		sum += outer(sum + i);
	return (void *)sum;
}

static long long now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

int main(int argc, char **argv)
{
	pthread_t th[256];
	unsigned long sink = 0;
	long long t0;
	int n;

	if (argc != 3) {
		fprintf(stderr, "usage: %s THREADS ITERATIONS\n", argv[0]);
		return 2;
	}
	n = atoi(argv[1]);
	iterations = strtoul(argv[2], NULL, 10);
	if (n < 1 || n > 256 || iterations < 1 || iterations > 100000000UL) {
		fprintf(stderr, "THREADS in 1..256, ITERATIONS in 1..1e8\n");
		return 2;
	}
	t0 = now_ns();
	for (int i = 0; i < n; i++) {
		if (pthread_create(&th[i], NULL, worker, (void *)(unsigned long)i)) {
			perror("pthread_create");
			return 1;
		}
	}
	for (int i = 0; i < n; i++) {
		void *r;

		pthread_join(th[i], &r);
		sink += (unsigned long)r;
	}
	{
		long long elapsed = now_ns() - t0;
		struct rusage ru;

		getrusage(RUSAGE_SELF, &ru);
		printf("elapsed_ns %lld\ncpu_ns %lld\nsink %lu\n", elapsed,
		       (ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000000LL +
		       (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) * 1000LL, sink & 1);
	}
	return 0;
}
