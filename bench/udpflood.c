// SPDX-License-Identifier: Apache-2.0
/* A bounded UDP flood for the XDP firewall benchmark (bench/xdp.ts).
 *
 *   udpflood SRC DST PORT SECONDS [PAYLOAD_BYTES] [BATCH]
 *
 * Sends datagrams from SRC to DST:PORT with sendmmsg(2), BATCH (default 64)
 * per call, for SECONDS (at most 30), then prints
 *   sent <datagrams> <elapsed ns> <errors> <own CPU ns (user + system)>
 * The benchmark runs it only inside a network namespace it made, towards
 * the other end of a veth pair it made. Send errors (a full queue: ENOBUFS,
 * EAGAIN) are counted, not fatal.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_BATCH 256

static unsigned long long now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (unsigned long long)ts.tv_sec * 1000000000ull + ts.tv_nsec;
}

int main(int argc, char **argv)
{
	struct sockaddr_in src = { .sin_family = AF_INET }, dst = { .sin_family = AF_INET };
	static struct mmsghdr msgs[MAX_BATCH];
	static struct iovec iov[MAX_BATCH];
	static char payload[1472];
	unsigned long long sent = 0, errors = 0, start, end, deadline;
	double seconds;
	int payload_len = 18, batch = 64, fd;

	if (argc < 5) {
		fprintf(stderr, "usage: %s SRC DST PORT SECONDS [PAYLOAD_BYTES] [BATCH]\n", argv[0]);
		return 2;
	}
	if (inet_pton(AF_INET, argv[1], &src.sin_addr) != 1 || inet_pton(AF_INET, argv[2], &dst.sin_addr) != 1) {
		fprintf(stderr, "udpflood: bad IPv4 address\n");
		return 2;
	}
	dst.sin_port = htons((unsigned short)atoi(argv[3]));
	seconds = atof(argv[4]);
	if (seconds <= 0 || seconds > 30) {
		fprintf(stderr, "udpflood: SECONDS must be in (0, 30]\n");
		return 2;
	}
	if (argc > 5)
		payload_len = atoi(argv[5]);
	if (argc > 6)
		batch = atoi(argv[6]);
	if (payload_len < 0 || payload_len > (int)sizeof(payload) || batch < 1 || batch > MAX_BATCH) {
		fprintf(stderr, "udpflood: PAYLOAD_BYTES in 0..%zu, BATCH in 1..%d\n", sizeof(payload), MAX_BATCH);
		return 2;
	}
	memset(payload, 'v', sizeof(payload));

	fd = socket(AF_INET, SOCK_DGRAM, 0);
	if (fd < 0 || bind(fd, (struct sockaddr *)&src, sizeof(src)) < 0) {
		perror("udpflood: socket/bind");
		return 1;
	}
	for (int i = 0; i < batch; i++) {
		iov[i].iov_base = payload;
		iov[i].iov_len = payload_len;
		msgs[i].msg_hdr.msg_iov = &iov[i];
		msgs[i].msg_hdr.msg_iovlen = 1;
		msgs[i].msg_hdr.msg_name = &dst;
		msgs[i].msg_hdr.msg_namelen = sizeof(dst);
	}

	start = now_ns();
	deadline = start + (unsigned long long)(seconds * 1e9);
	do {
		/* Check the clock every 16 calls: cheap, and the bound stays within a few ms. */
		for (int k = 0; k < 16; k++) {
			int n = sendmmsg(fd, msgs, batch, 0);

			if (n < 0) {
				if (errno != ENOBUFS && errno != EAGAIN && errno != ECONNREFUSED && errno != EINTR) {
					perror("udpflood: sendmmsg");
					return 1;
				}
				errors++;
				continue;
			}
			sent += n;
		}
		end = now_ns();
	} while (end < deadline);

	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	printf("sent %llu %llu %llu %llu\n", sent, end - start, errors,
	       (unsigned long long)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000000ull +
		       (unsigned long long)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) * 1000ull);
	close(fd);
	return 0;
}
