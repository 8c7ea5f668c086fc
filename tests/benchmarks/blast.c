/* A rate-controlled sender of small UDP datagrams or TCP segments on 127.0.0.1.
 *
 *     blast udp|tcp PORT RATE SECONDS SIZE
 *
 * Compiled at run time by the capture benchmarks (tests/benchmarks/senders.py):
 * a Python loop cannot offer the hundreds of thousands of packets a second
 * that a capture must keep up with. It sends SIZE-byte payloads at RATE
 * packets a second for SECONDS (fewer if it cannot keep up: the result says
 * so) and prints one JSON line:
 *
 *     udp: {"sent": N, "failed": F, "seconds": S}
 *          every datagram accepted by sendmmsg() crosses lo once; a bound
 *          socket that is never read takes them (and drops them, cheaply).
 *     tcp: {"sent": N, "seconds": S, "segments": K, "data_segments": D}
 *          N writes of SIZE bytes with TCP_NODELAY to a reader in a child
 *          process; K = segs_out of both sockets (TCP_INFO) once the
 *          connection is closed, plus the SYN-ACK: exactly the packets on
 *          the wire with this port, handshake, ACKs and FINs included.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <linux/tcp.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define BATCH 64
#define STATE_CLOSED 7 /* TCP_CLOSE in include/net/tcp_states.h */
#define SPIN_NS 50000
/* The SYN-ACK is sent by the listener's request socket, not by the accepted
 * socket, so neither socket's segs_out counts it. */
#define SYNACK 1 /* sleep only when the next packet is further away than this */

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void sleep_until(double t) {
    struct timespec ts;
    ts.tv_sec = (time_t)t;
    ts.tv_nsec = (long)((t - ts.tv_sec) * 1e9);
    clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL);
}

static struct sockaddr_in loopback(int port) {
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    return a;
}

static void die(const char *what) {
    fprintf(stderr, "blast: %s: %s\n", what, strerror(errno));
    exit(1);
}

/* How many packets are due by now; waits (sleeping or spinning) until at
 * least one is, unless the deadline comes first. */
static uint64_t due(double start, double rate, uint64_t sent, uint64_t total, double deadline) {
    for (;;) {
        double t = now();
        if (t >= deadline)
            return 0;
        uint64_t n = (uint64_t)((t - start) * rate) + 1;
        if (n > total)
            n = total;
        if (n > sent)
            return n - sent;
        double next = start + (double)sent / rate;
        if (next - t > SPIN_NS / 1e9)
            sleep_until(next < deadline ? next : deadline);
    }
}

static int run_udp(int port, double rate, double seconds, int size) {
    struct sockaddr_in addr = loopback(port);
    int sink = socket(AF_INET, SOCK_DGRAM, 0);
    int small = 4096;
    setsockopt(sink, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
    if (bind(sink, (struct sockaddr *)&addr, sizeof addr) < 0)
        die("bind");
    int s = socket(AF_INET, SOCK_DGRAM, 0);
    if (connect(s, (struct sockaddr *)&addr, sizeof addr) < 0)
        die("connect");
    char *payload = calloc(1, size);
    struct iovec iov[BATCH];
    struct mmsghdr msgs[BATCH];
    memset(msgs, 0, sizeof msgs);
    for (int i = 0; i < BATCH; i++) {
        iov[i].iov_base = payload;
        iov[i].iov_len = size;
        msgs[i].msg_hdr.msg_iov = &iov[i];
        msgs[i].msg_hdr.msg_iovlen = 1;
    }
    uint64_t total = (uint64_t)(rate * seconds), sent = 0, failed = 0;
    double start = now(), deadline = start + seconds;
    while (sent < total) {
        uint64_t n = due(start, rate, sent, total, deadline);
        if (n == 0)
            break;
        if (n > BATCH)
            n = BATCH;
        int k = sendmmsg(s, msgs, (unsigned)n, 0);
        if (k < 0) {
            if (errno != ENOBUFS && errno != EAGAIN && errno != ECONNREFUSED)
                die("sendmmsg");
            failed++;
            continue;
        }
        sent += (uint64_t)k;
    }
    double elapsed = now() - start;
    printf("{\"sent\": %llu, \"failed\": %llu, \"seconds\": %.6f}\n",
           (unsigned long long)sent, (unsigned long long)failed, elapsed);
    close(s);
    close(sink);
    return 0;
}

static struct tcp_info info_when_closed(int s) {
    struct tcp_info ti;
    socklen_t len = sizeof ti;
    for (int i = 0; i < 2000; i++) { /* the last ACK may still be on its way */
        memset(&ti, 0, sizeof ti);
        len = sizeof ti;
        getsockopt(s, IPPROTO_TCP, TCP_INFO, &ti, &len);
        if (ti.tcpi_state == STATE_CLOSED)
            break;
        usleep(1000);
    }
    return ti;
}

static int run_tcp(int port, double rate, double seconds, int size) {
    struct sockaddr_in addr = loopback(port);
    int lsock = socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    setsockopt(lsock, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (bind(lsock, (struct sockaddr *)&addr, sizeof addr) < 0)
        die("bind");
    listen(lsock, 1);
    int report[2];
    if (pipe(report) < 0)
        die("pipe");
    pid_t child = fork();
    if (child == 0) { /* the reader: drains, closes after the sender, reports */
        int c = accept(lsock, NULL, NULL);
        if (c < 0)
            die("accept");
        static char buf[1 << 20];
        while (read(c, buf, sizeof buf) > 0)
            ;
        shutdown(c, SHUT_WR);
        struct tcp_info ti = info_when_closed(c);
        unsigned out = ti.tcpi_segs_out;
        if (write(report[1], &out, sizeof out) != sizeof out)
            die("write");
        _exit(0);
    }
    close(lsock);
    int s = socket(AF_INET, SOCK_STREAM, 0);
    setsockopt(s, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (connect(s, (struct sockaddr *)&addr, sizeof addr) < 0)
        die("connect");
    char *payload = calloc(1, size);
    uint64_t total = (uint64_t)(rate * seconds), sent = 0;
    double start = now(), deadline = start + seconds;
    while (sent < total) {
        uint64_t n = due(start, rate, sent, total, deadline);
        if (n == 0)
            break;
        for (uint64_t i = 0; i < n; i++) {
            if (write(s, payload, size) != size)
                die("write");
        }
        sent += n;
    }
    double elapsed = now() - start;
    shutdown(s, SHUT_WR);
    char buf[64];
    while (read(s, buf, sizeof buf) > 0)
        ;
    struct tcp_info ti = info_when_closed(s);
    unsigned theirs = 0;
    if (read(report[0], &theirs, sizeof theirs) != sizeof theirs)
        die("read report");
    waitpid(child, NULL, 0);
    printf("{\"sent\": %llu, \"seconds\": %.6f, \"segments\": %u, \"data_segments\": %u}\n",
           (unsigned long long)sent, elapsed, ti.tcpi_segs_out + theirs + SYNACK,
           ti.tcpi_data_segs_out);
    close(s);
    return 0;
}

int main(int argc, char **argv) {
    if (argc != 6) {
        fprintf(stderr, "usage: blast udp|tcp PORT RATE SECONDS SIZE\n");
        return 2;
    }
    int port = atoi(argv[2]), size = atoi(argv[5]);
    double rate = atof(argv[3]), seconds = atof(argv[4]);
    if (port <= 0 || rate <= 0 || seconds <= 0 || size <= 0) {
        fprintf(stderr, "blast: PORT, RATE, SECONDS and SIZE must be positive\n");
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    if (strcmp(argv[1], "udp") == 0)
        return run_udp(port, rate, seconds, size);
    if (strcmp(argv[1], "tcp") == 0)
        return run_tcp(port, rate, seconds, size);
    fprintf(stderr, "blast: the protocol is udp or tcp\n");
    return 2;
}
