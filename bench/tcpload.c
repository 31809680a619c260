// SPDX-License-Identifier: Apache-2.0
/* Loopback TCP load for the flow-tracking benchmark (bench/flows.ts).
 *
 *   tcpload serve PORT MAX_SECONDS
 *       accepts on 127.0.0.1:PORT for at most MAX_SECONDS; prints "listening PORT"
 *       (PORT 0: the kernel picks). One thread per connection; the first byte
 *       says what the connection does: 'S' stream (read and discard),
 *       'R' request/response (read 64 bytes, write 64 bytes back, until EOF).
 *   tcpload stream PORT SECONDS         one connection, 64 KiB writes
 *   tcpload rr PORT SECONDS CONNS       CONNS connections (threads), each
 *                                       64-byte request -> 64-byte response
 *   tcpload crr PORT SECONDS CONNS      the same with a new connection per
 *                                       request (connect, send, receive, close
 *                                       with RST: SO_LINGER 0, no TIME_WAIT)
 * Clients print "done <operations> <bytes> <elapsed ns> <errors> <own CPU ns> <connections>"
 * (connections: every connect that succeeded, each a flow of its own);
 * they stop at SECONDS (at most 30). The server prints "cpu <own CPU ns>"
 * (every thread, ended ones too) on SIGUSR1. Loopback only.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MSG 64
#define CHUNK (64 * 1024)
#define MAX_CONNS 64

static unsigned long long now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (unsigned long long)ts.tv_sec * 1000000000ull + ts.tv_nsec;
}

/* Moves all n bytes through fd, reading or writing, again after EINTR: 0,
 * or -1 on an error or the end of the stream. */
static int transfer_full(int fd, char *buf, size_t n, int writing)
{
	size_t done = 0;

	while (done < n) {
		ssize_t r = writing ? write(fd, buf + done, n - done) : read(fd, buf + done, n - done);

		if (r <= 0) {
			if (r < 0 && errno == EINTR)
				continue;
			return -1;
		}
		done += r;
	}
	return 0;
}

static int read_full(int fd, char *buf, size_t n)
{
	return transfer_full(fd, buf, n, 0);
}

static int write_full(int fd, const char *buf, size_t n)
{
	return transfer_full(fd, (char *)buf, n, 1);
}

static unsigned long long cpu_ns(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return (unsigned long long)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000000ull +
	       (unsigned long long)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) * 1000ull;
}

/* Answers SIGUSR1 with the process's CPU time (a thread of its own: accept() keeps the main one). */
static void *cpu_reporter(void *arg)
{
	sigset_t *set = arg;
	int sig;

	while (sigwait(set, &sig) == 0) {
		printf("cpu %llu\n", cpu_ns());
		fflush(stdout);
	}
	return NULL;
}

static void *serve_conn(void *arg)
{
	int fd = (int)(long)arg;
	static char sink[CHUNK];
	char kind, msg[MSG];

	if (read_full(fd, &kind, 1) == 0) {
		if (kind == 'S') {
			while (read(fd, sink, sizeof(sink)) > 0)
				;
		} else {
			while (read_full(fd, msg, MSG) == 0 && write_full(fd, msg, MSG) == 0)
				;
		}
	}
	close(fd);
	return NULL;
}

static struct sockaddr_in loopback(int port)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(port) };

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	return a;
}

static int serve(int port, int max_seconds)
{
	struct sockaddr_in a = loopback(port);
	socklen_t len = sizeof(a);
	int one = 1, fd = socket(AF_INET, SOCK_STREAM, 0);
	pthread_attr_t attr;
	static sigset_t usr1;
	pthread_t reporter;

	sigemptyset(&usr1);
	sigaddset(&usr1, SIGUSR1);
	pthread_sigmask(SIG_BLOCK, &usr1, NULL); /* every thread made from here on blocks it too */
	pthread_create(&reporter, NULL, cpu_reporter, &usr1);
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&a, sizeof(a)) || listen(fd, 4096) ||
	    getsockname(fd, (struct sockaddr *)&a, &len)) {
		perror("tcpload serve");
		return 1;
	}
	alarm(max_seconds); /* the bound: SIGALRM ends the server */
	printf("listening %d\n", ntohs(a.sin_port));
	fflush(stdout);
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	pthread_attr_setstacksize(&attr, 256 * 1024);
	for (;;) {
		pthread_t t;
		int c = accept(fd, NULL, NULL);

		if (c < 0) {
			if (errno == EINTR || errno == ECONNABORTED || errno == EMFILE)
				continue;
			perror("accept");
			return 1;
		}
		setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		if (pthread_create(&t, &attr, serve_conn, (void *)(long)c))
			close(c);
	}
}

struct client {
	int port;
	unsigned long long deadline;
	int crr;
	unsigned long long ops, errors, conns;
};

static int dial(int port, char kind)
{
	struct sockaddr_in a = loopback(port);
	int one = 1, fd = socket(AF_INET, SOCK_STREAM, 0);

	if (fd < 0)
		return -1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (connect(fd, (struct sockaddr *)&a, sizeof(a)) || write_full(fd, &kind, 1)) {
		close(fd);
		return -1;
	}
	return fd;
}

static void *rr_client(void *arg)
{
	struct client *c = arg;
	char msg[MSG];
	int fd = -1;

	memset(msg, 'q', sizeof(msg));
	while (now_ns() < c->deadline) {
		if (fd < 0) {
			if ((fd = dial(c->port, 'R')) < 0) {
				c->errors++;
				continue;
			}
			c->conns++;
		}
		for (int i = 0; i < 8; i++) {
			if (write_full(fd, msg, MSG) || read_full(fd, msg, MSG)) {
				c->errors++;
				close(fd);
				fd = -1;
				break;
			}
			c->ops++;
			if (c->crr) {
				/* RST instead of FIN: no TIME_WAIT, so ephemeral ports do not run out. */
				struct linger lg = { .l_onoff = 1, .l_linger = 0 };

				setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
				close(fd);
				fd = -1;
				break;
			}
		}
	}
	if (fd >= 0)
		close(fd);
	return NULL;
}

int main(int argc, char **argv)
{
	unsigned long long start, ops = 0, errors = 0, bytes = 0, dialed = 0;
	double seconds;
	int port;

	signal(SIGPIPE, SIG_IGN);
	if (argc >= 4 && !strcmp(argv[1], "serve"))
		return serve(atoi(argv[2]), atoi(argv[3]));
	if (argc < 4) {
		fprintf(stderr, "usage: tcpload serve PORT MAX_SECONDS | stream PORT SECONDS | rr|crr PORT SECONDS CONNS\n");
		return 2;
	}
	port = atoi(argv[2]);
	seconds = atof(argv[3]);
	if (seconds <= 0 || seconds > 30) {
		fprintf(stderr, "tcpload: SECONDS must be in (0, 30]\n");
		return 2;
	}
	start = now_ns();
	if (!strcmp(argv[1], "stream")) {
		static char chunk[CHUNK];
		unsigned long long deadline = start + (unsigned long long)(seconds * 1e9);
		int fd = dial(port, 'S');

		if (fd < 0) {
			perror("tcpload stream");
			return 1;
		}
		dialed = 1;
		memset(chunk, 's', sizeof(chunk));
		while (now_ns() < deadline) {
			if (write_full(fd, chunk, sizeof(chunk))) {
				errors++;
				break;
			}
			bytes += sizeof(chunk);
			ops++;
		}
		close(fd);
	} else if (!strcmp(argv[1], "rr") || !strcmp(argv[1], "crr")) {
		int conns = argc > 4 ? atoi(argv[4]) : 1;
		struct client cl[MAX_CONNS];
		pthread_t th[MAX_CONNS];

		if (conns < 1 || conns > MAX_CONNS) {
			fprintf(stderr, "tcpload: CONNS in 1..%d\n", MAX_CONNS);
			return 2;
		}
		for (int i = 0; i < conns; i++) {
			cl[i] = (struct client){ .port = port, .deadline = start + (unsigned long long)(seconds * 1e9),
						 .crr = !strcmp(argv[1], "crr") };
			pthread_create(&th[i], NULL, rr_client, &cl[i]);
		}
		for (int i = 0; i < conns; i++) {
			pthread_join(th[i], NULL);
			ops += cl[i].ops;
			errors += cl[i].errors;
			dialed += cl[i].conns;
		}
		bytes = ops * 2 * MSG;
	} else {
		fprintf(stderr, "tcpload: unknown mode %s\n", argv[1]);
		return 2;
	}
	printf("done %llu %llu %llu %llu %llu %llu\n", ops, bytes, now_ns() - start, errors, cpu_ns(), dialed);
	return 0;
}
