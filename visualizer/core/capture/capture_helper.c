/* capture-helper: the only code of Packet Visualizer that holds CAP_NET_RAW.
 *
 * `visualizer setup-capture` compiles this file and gives the program
 * cap_net_raw for one group, as Debian does with Wireshark's dumpcap. The
 * capture process (`python -m visualizer capture`, run by the user without
 * any privilege) starts it when it cannot open a packet socket itself
 * (visualizer/core/capture/loop.py, _HelperReader). It does only this:
 *
 *   capture-helper --check
 *       Opens a packet socket and closes it: exit 0, or 3 if not permitted.
 *
 *   capture-helper IFACE [PROGRAM]
 *       Opens a packet socket for no protocol, attaches PROGRAM (a classic
 *       BPF program as hex, 16 digits an instruction: code, jt, jf, k), sets
 *       up a TPACKET_V3 receive ring, binds the socket to IFACE for all
 *       protocols, and then gives up every capability for good. It says
 *       "ready" on stderr and copies every frame the kernel puts in the ring
 *       to stdout as a pcap record (16 bytes, little-endian: seconds,
 *       nanoseconds, captured length, original length; then the frame).
 *       About once a second it says "stats DROPPED" on stderr (the kernel's
 *       drops so far). When stdin ends (or brings a byte) it takes what the
 *       ring still holds, says "stats DROPPED" and exits 0; when stdout's
 *       reader goes away it exits 0. On failure it says "error CODE MESSAGE"
 *       and exits CODE: 2 bad usage or no such interface, 3 not permitted,
 *       1 anything else.
 *
 * What a member of the group can do with it: capture, with any filter, on
 * any interface of the network namespace it runs in. Not more:
 *   - it has no code that sends: nothing here writes to the socket;
 *   - it never hands the socket on: it closes every inherited descriptor,
 *     execs nothing, and stays non-dumpable (the kernel makes a program
 *     that gained capabilities at exec non-dumpable; it says so again), so
 *     even its own user can neither ptrace it nor take the socket through
 *     /proc/PID/fd or pidfd_getfd();
 *   - the loader runs it in secure mode (AT_SECURE): LD_PRELOAD and the
 *     like are ignored, and it reads no environment variable itself;
 *   - before it reads a single frame it has no capability left and
 *     no_new_privs set.
 * The ring is 64 MiB of kernel memory per running helper (see RING_* in
 * loop.py, passed in by the compiler's -D options).
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <linux/filter.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#ifndef RING_BLOCK_BYTES
#define RING_BLOCK_BYTES 131072 /* 128 KiB */
#endif
#ifndef RING_BLOCKS
#define RING_BLOCKS 512
#endif
#ifndef RING_FRAME_BYTES
#define RING_FRAME_BYTES 2048
#endif
#ifndef RING_BLOCK_TIMEOUT_MS
#define RING_BLOCK_TIMEOUT_MS 10
#endif
#define MAX_INSNS 4096
#define OUT_BYTES (RING_BLOCK_BYTES + (1 << 20))
#define STATS_EVERY_MS 1000

#ifndef PR_CAP_AMBIENT
#define PR_CAP_AMBIENT 47
#define PR_CAP_AMBIENT_CLEAR_ALL 4
#endif

static unsigned long long dropped;

static void fail(int code, const char *format, ...) {
    char message[512];
    va_list args;
    va_start(args, format);
    vsnprintf(message, sizeof message, format, args);
    va_end(args);
    dprintf(2, "error %d %s\n", code, message);
    exit(code);
}

static long long now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000LL + ts.tv_nsec / 1000000;
}

static void close_inherited(void) {
#ifdef SYS_close_range
    if (syscall(SYS_close_range, 3U, ~0U, 0U) == 0)
        return;
#endif
    long max = sysconf(_SC_OPEN_MAX);
    if (max < 0 || max > 65536)
        max = 65536;
    for (int fd = 3; fd < max; fd++)
        close(fd);
}

static int open_socket(void) {
    int sock = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0);
    if (sock < 0) {
        if (errno == EPERM || errno == EACCES)
            fail(3, "opening a packet socket needs CAP_NET_RAW, which this program lacks");
        fail(1, "cannot open a packet socket: %s", strerror(errno));
    }
    return sock;
}

static int hex_digit(char c) {
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

static uint32_t hex_field(const char *text, int digits) {
    uint32_t value = 0;
    for (int i = 0; i < digits; i++) {
        int d = hex_digit(text[i]);
        if (d < 0)
            fail(2, "the filter program is not hexadecimal");
        value = value << 4 | (uint32_t)d;
    }
    return value;
}

static void attach_filter(int sock, const char *hex) {
    static struct sock_filter insns[MAX_INSNS];
    size_t length = strlen(hex);
    if (length == 0 || length % 16 != 0 || length / 16 > MAX_INSNS)
        fail(2, "the filter program must be 1 to %d instructions of 16 hex digits", MAX_INSNS);
    unsigned short count = (unsigned short)(length / 16);
    for (unsigned short i = 0; i < count; i++) {
        const char *insn = hex + 16 * (size_t)i;
        insns[i].code = (uint16_t)hex_field(insn, 4);
        insns[i].jt = (uint8_t)hex_field(insn + 4, 2);
        insns[i].jf = (uint8_t)hex_field(insn + 6, 2);
        insns[i].k = hex_field(insn + 8, 8);
    }
    struct sock_fprog program = {count, insns};
    if (setsockopt(sock, SOL_SOCKET, SO_ATTACH_FILTER, &program, sizeof program) != 0)
        fail(2, "the kernel rejected the filter program: %s", strerror(errno));
    int lock = 1;
    setsockopt(sock, SOL_SOCKET, SO_LOCK_FILTER, &lock, sizeof lock);
}

static uint8_t *set_up_ring(int sock) {
    int version = TPACKET_V3;
    if (setsockopt(sock, SOL_PACKET, PACKET_VERSION, &version, sizeof version) != 0)
        fail(1, "cannot use TPACKET_V3: %s", strerror(errno));
    struct tpacket_req3 req;
    memset(&req, 0, sizeof req);
    req.tp_block_size = RING_BLOCK_BYTES;
    req.tp_block_nr = RING_BLOCKS;
    req.tp_frame_size = RING_FRAME_BYTES;
    req.tp_frame_nr = RING_BLOCK_BYTES / RING_FRAME_BYTES * RING_BLOCKS;
    req.tp_retire_blk_tov = RING_BLOCK_TIMEOUT_MS;
    if (setsockopt(sock, SOL_PACKET, PACKET_RX_RING, &req, sizeof req) != 0)
        fail(1, "cannot set up the capture ring: %s", strerror(errno));
    void *ring = mmap(NULL, (size_t)RING_BLOCK_BYTES * RING_BLOCKS, PROT_READ | PROT_WRITE,
                      MAP_SHARED, sock, 0);
    if (ring == MAP_FAILED)
        fail(1, "cannot map the capture ring: %s", strerror(errno));
    return ring;
}

static void bind_to(int sock, const char *interface) {
    unsigned int index = if_nametoindex(interface);
    if (index == 0)
        fail(2, "no such interface '%s'", interface);
    struct sockaddr_ll address;
    memset(&address, 0, sizeof address);
    address.sll_family = AF_PACKET;
    address.sll_protocol = htons(ETH_P_ALL);
    address.sll_ifindex = (int)index;
    if (bind(sock, (struct sockaddr *)&address, sizeof address) != 0) {
        if (errno == ENODEV || errno == ENXIO)
            fail(2, "no such interface '%s'", interface);
        if (errno == EPERM || errno == EACCES)
            fail(3, "binding to '%s' is not permitted", interface);
        fail(1, "cannot bind to interface '%s': %s", interface, strerror(errno));
    }
}

static int last_capability(void) {
    int last = 63;
    FILE *f = fopen("/proc/sys/kernel/cap_last_cap", "re");
    if (f != NULL) {
        if (fscanf(f, "%d", &last) != 1)
            last = 63;
        fclose(f);
    }
    return last;
}

static void give_up_capabilities(void) {
    struct __user_cap_header_struct header = {_LINUX_CAPABILITY_VERSION_3, 0};
    struct __user_cap_data_struct data[2];
    memset(data, 0, sizeof data);
    if (syscall(SYS_capget, &header, data) != 0)
        fail(1, "cannot read capabilities: %s", strerror(errno));
    prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
    if (data[0].effective & (1U << CAP_SETPCAP)) { /* run by root: the bounding set too */
        for (int cap = 0; cap <= last_capability(); cap++)
            prctl(PR_CAPBSET_DROP, cap, 0, 0, 0);
    }
    memset(data, 0, sizeof data);
    if (syscall(SYS_capset, &header, data) != 0)
        fail(1, "cannot give up capabilities: %s", strerror(errno));
    if (syscall(SYS_capget, &header, data) != 0 || data[0].effective || data[0].permitted ||
        data[0].inheritable || data[1].effective || data[1].permitted || data[1].inheritable)
        fail(1, "capabilities are left after giving them all up");
}

static void write_all(const uint8_t *data, size_t length) {
    while (length > 0) {
        ssize_t written = write(1, data, length);
        if (written < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EPIPE)
                exit(0); /* the capture process stopped reading */
            fail(1, "cannot write the frames: %s", strerror(errno));
        }
        data += written;
        length -= (size_t)written;
    }
}

static void put32(uint8_t *at, uint32_t value) {
    value = htole32(value);
    memcpy(at, &value, 4);
}

/* Copies every block the kernel has handed over to stdout, in order. */
static unsigned int drain(uint8_t *ring, unsigned int block) {
    static uint8_t out[OUT_BYTES];
    size_t used = 0;
    for (;;) {
        struct tpacket_block_desc *desc =
            (struct tpacket_block_desc *)(ring + (size_t)block * RING_BLOCK_BYTES);
        uint32_t status = __atomic_load_n(&desc->hdr.bh1.block_status, __ATOMIC_ACQUIRE);
        if (!(status & TP_STATUS_USER))
            break;
        uint32_t frames = desc->hdr.bh1.num_pkts;
        uint8_t *frame = (uint8_t *)desc + desc->hdr.bh1.offset_to_first_pkt;
        for (uint32_t n = 0; n < frames; n++) {
            struct tpacket3_hdr *hdr = (struct tpacket3_hdr *)frame;
            uint32_t caplen = hdr->tp_snaplen;
            if (used + 16 + caplen > sizeof out) {
                write_all(out, used);
                used = 0;
            }
            put32(out + used, hdr->tp_sec);
            put32(out + used + 4, hdr->tp_nsec);
            put32(out + used + 8, caplen);
            put32(out + used + 12, hdr->tp_len);
            memcpy(out + used + 16, frame + hdr->tp_mac, caplen);
            used += 16 + caplen;
            frame += hdr->tp_next_offset;
        }
        __atomic_store_n(&desc->hdr.bh1.block_status, TP_STATUS_KERNEL, __ATOMIC_RELEASE);
        block = (block + 1) % RING_BLOCKS;
        if (used >= sizeof out / 2) {
            write_all(out, used);
            used = 0;
        }
    }
    write_all(out, used);
    return block;
}

static void report_stats(int sock) {
    struct tpacket_stats_v3 stats;
    socklen_t length = sizeof stats;
    if (getsockopt(sock, SOL_PACKET, PACKET_STATISTICS, &stats, &length) == 0)
        dropped += stats.tp_drops; /* the kernel resets it on each read */
    dprintf(2, "stats %llu\n", dropped);
}

static void check_socket(int sock) {
    int error = 0;
    socklen_t length = sizeof error;
    if (getsockopt(sock, SOL_SOCKET, SO_ERROR, &error, &length) == 0 && error != 0)
        fail(1, "capture failed: %s", strerror(error));
}

int main(int argc, char **argv) {
    close_inherited();
    prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0)
        fail(1, "cannot set no_new_privs: %s", strerror(errno));
    signal(SIGPIPE, SIG_IGN);
    signal(SIGINT, SIG_IGN); /* a terminal's Ctrl-C: the capture process stops us */

    if (argc == 2 && strcmp(argv[1], "--check") == 0) {
        close(open_socket());
        return 0;
    }
    if (argc < 2 || argc > 3)
        fail(2, "usage: capture-helper --check | capture-helper IFACE [PROGRAM]");
    const char *interface = argv[1];
    size_t length = strlen(interface);
    if (length == 0 || length >= IF_NAMESIZE || interface[0] == '-' || strchr(interface, '/'))
        fail(2, "'%.32s' is not an interface name", interface);

    int sock = open_socket();
    if (argc == 3)
        attach_filter(sock, argv[2]);
    uint8_t *ring = set_up_ring(sock);
    bind_to(sock, interface);
    give_up_capabilities();
    fcntl(1, F_SETPIPE_SZ, 1 << 20); /* the most an unprivileged pipe may hold */
    dprintf(2, "ready\n");

    unsigned int block = 0;
    long long next_stats = now_ms() + STATS_EVERY_MS;
    for (;;) {
        struct pollfd fds[2] = {{sock, POLLIN, 0}, {0, POLLIN, 0}};
        long long wait = next_stats - now_ms();
        int ready = poll(fds, 2, wait < 0 ? 0 : (int)wait);
        if (ready < 0 && errno != EINTR)
            fail(1, "poll: %s", strerror(errno));
        if (fds[0].revents & POLLERR)
            check_socket(sock);
        block = drain(ring, block);
        if (fds[1].revents)
            break; /* stdin: end of file, a byte or an error all mean stop */
        if (now_ms() >= next_stats) {
            report_stats(sock);
            next_stats = now_ms() + STATS_EVERY_MS;
        }
    }
    /* What the kernel still holds, and the block it is filling, which
     * becomes ours when it times out. */
    block = drain(ring, block);
    struct pollfd last = {sock, POLLIN, 0};
    poll(&last, 1, 3 * RING_BLOCK_TIMEOUT_MS);
    drain(ring, block);
    report_stats(sock);
    return 0;
}
