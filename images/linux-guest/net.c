/*
 * The Linux guests of `cargo xtask bench net`: plain UDP between two Linux guests,
 * with the payloads and counts of Ethos's net-bench-client and net-bench-server,
 * on the same emulator, machine, device model and socket network.
 *
 * Debian's kernel builds virtio as modules: the initramfs holds them under
 * /modules in load order (virtio_mmio among them, for microvm's devices), and this
 * /init loads them all, then configures eth0 itself (SIOCSIFADDR, SIOCSIFNETMASK,
 * SIOCSIFFLAGS) with 10.0.7.N/24, N being the host's number as on the Ethos side.
 *
 * `net=server` (host 2, 10.0.7.2) prints `linux-guest net-server ready` once its
 * socket is bound to NET_PORT, echoes every datagram until an empty one, which it
 * echoes and after which it only counts datagrams until NET_END; it answers that
 * with `counted=<n> bytes=<b>` (again for each NET_END during a short linger) and
 * prints `linux-guest net-server echoed=<n> counted=<n> bytes=<b>`.
 * `net=client` (host 1, 10.0.7.1) times, with CLOCK_MONOTONIC:
 *   setup: its first datagram (64 bytes) to the first reply, an ARP exchange
 *     included; sent again every 200 ms until answered (tries counted);
 *   round trips: the median of ROUND_TRIPS exchanges of 64 and of 4096 bytes, less
 *     the median cost of reading the clock;
 *   bulk: BULK_VALUES datagrams of 4096 bytes sent back to back, from the first
 *     to the server's answer to NET_END (sent again every 100 ms until answered);
 *     UDP has no flow control, so the server's count says how many arrived.
 * and prints
 *   linux-guest net setup_ns=<n> connect_tries=<n> rtt64_ns=<n> rtt4k_ns=<n>
 *     samples=<n> bulk_values=<n> bulk_bytes=<n> bulk_ns=<n> bulk_received=<n>
 * (on one line). Each run starts with `linux-guest init monotonic_ns=<n> tsc=<n>`
 * and ends by writing EXIT_SUCCESS_CODE or EXIT_FAILURE_CODE to isa-debug-exit at
 * EXIT_PORT.
 *
 * It is compiled with guest.c (the start, the modules, the interface calls and the
 * end). The build defines EXIT_PORT, EXIT_SUCCESS_CODE, EXIT_FAILURE_CODE, NET_PORT,
 * ROUND_TRIPS, BULK_VALUES, SMALL_PAYLOAD and LARGE_PAYLOAD.
 */
#define _GNU_SOURCE
#include "guest.h"

#include <arpa/inet.h>
#include <errno.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#define NET_END "net-bench-end"
#define CLIENT_ADDRESS "10.0.7.1"
#define SERVER_ADDRESS "10.0.7.2"

/* Gives eth0 `address`/24 and brings it up; the device may appear a moment after its module loads. */
static int configure(const char *address)
{
    int control = socket(AF_INET, SOCK_DGRAM, 0);
    if (control < 0)
        return -1;
    struct ifreq probe;
    memset(&probe, 0, sizeof probe);
    strncpy(probe.ifr_name, "eth0", IFNAMSIZ - 1);
    for (int tries = 0; tries < 500 && ioctl(control, SIOCGIFFLAGS, &probe) != 0; tries++)
        usleep(10000);
    if (bring_up(control, "lo") != 0 || set_address(control, "eth0", SIOCSIFADDR, address) != 0 ||
        set_address(control, "eth0", SIOCSIFNETMASK, "255.255.255.0") != 0 ||
        bring_up(control, "eth0") != 0) {
        printf("linux-guest: configuring eth0 as %s: %s\n", address, strerror(errno));
        close(control);
        return -1;
    }
    close(control);
    return 0;
}

static int bound_socket(const char *address_text)
{
    int socket_fd = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in address = {.sin_family = AF_INET, .sin_port = htons(NET_PORT)};
    inet_pton(AF_INET, address_text, &address.sin_addr);
    int buffer = 8 << 20;
    if (socket_fd < 0 ||
        setsockopt(socket_fd, SOL_SOCKET, SO_RCVBUFFORCE, &buffer, sizeof buffer) != 0 ||
        setsockopt(socket_fd, SOL_SOCKET, SO_SNDBUFFORCE, &buffer, sizeof buffer) != 0 ||
        bind(socket_fd, (struct sockaddr *)&address, sizeof address) != 0) {
        printf("linux-guest: UDP port %d on %s: %s\n", NET_PORT, address_text, strerror(errno));
        return -1;
    }
    return socket_fd;
}

static void receive_timeout(int socket_fd, uint64_t nanoseconds)
{
    struct timeval timeout = {.tv_sec = (time_t)(nanoseconds / 1000000000u),
                              .tv_usec = (suseconds_t)(nanoseconds % 1000000000u / 1000)};
    setsockopt(socket_fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
}

static char buffer[65536];

static int server(void)
{
    if (configure(SERVER_ADDRESS) != 0)
        return -1;
    int service = bound_socket(SERVER_ADDRESS);
    if (service < 0)
        return -1;
    printf("linux-guest net-server ready\n");
    fflush(stdout);
    uint64_t echoed = 0, counted = 0, bytes = 0;
    int counting = 0, answered_end = 0;
    for (;;) {
        struct sockaddr_in from;
        socklen_t from_length = sizeof from;
        ssize_t length = recvfrom(service, buffer, sizeof buffer, 0, (struct sockaddr *)&from,
                                  &from_length);
        if (length < 0 && answered_end && (errno == EAGAIN || errno == EWOULDBLOCK))
            break;
        if (length < 0) {
            printf("linux-guest: recvfrom: %s\n", strerror(errno));
            return -1;
        }
        if (counting && (size_t)length == strlen(NET_END) &&
            memcmp(buffer, NET_END, (size_t)length) == 0) {
            char answer[128];
            int answer_length = snprintf(answer, sizeof answer, "counted=%llu bytes=%llu",
                                         (unsigned long long)counted, (unsigned long long)bytes);
            sendto(service, answer, (size_t)answer_length, 0, (struct sockaddr *)&from,
                   from_length);
            /* Linger, answering again should the answer be lost. */
            answered_end = 1;
            receive_timeout(service, 1000000000u);
            continue;
        }
        if (counting) {
            counted++;
            bytes += (uint64_t)length;
            continue;
        }
        if (sendto(service, buffer, (size_t)length, 0, (struct sockaddr *)&from, from_length) !=
            length) {
            printf("linux-guest: sendto: %s\n", strerror(errno));
            return -1;
        }
        echoed++;
        counting = length == 0;
    }
    printf("linux-guest net-server echoed=%llu counted=%llu bytes=%llu\n",
           (unsigned long long)echoed, (unsigned long long)counted, (unsigned long long)bytes);
    return 0;
}

static int compare_times(const void *left, const void *right)
{
    uint64_t a = *(const uint64_t *)left, b = *(const uint64_t *)right;
    return a < b ? -1 : a > b;
}

static uint64_t median(uint64_t *times, int count)
{
    qsort(times, (size_t)count, sizeof *times, compare_times);
    return times[count / 2];
}

/* Sends `length` bytes and waits for the same back; 0, or -1 on failure. */
static int exchange(int socket_fd, const struct sockaddr_in *server_address,
                    const unsigned char *message, size_t length)
{
    if (sendto(socket_fd, message, length, 0, (const struct sockaddr *)server_address,
               sizeof *server_address) != (ssize_t)length) {
        printf("linux-guest: sendto: %s\n", strerror(errno));
        return -1;
    }
    ssize_t received = recv(socket_fd, buffer, sizeof buffer, 0);
    if (received != (ssize_t)length || memcmp(buffer, message, length) != 0) {
        printf("linux-guest: a round trip of %zu bytes came back as %zd bytes (%s)\n", length,
               received, received < 0 ? strerror(errno) : "changed");
        return -1;
    }
    return 0;
}

static int client(void)
{
    if (configure(CLIENT_ADDRESS) != 0)
        return -1;
    int socket_fd = bound_socket(CLIENT_ADDRESS);
    if (socket_fd < 0)
        return -1;
    struct sockaddr_in server_address = {.sin_family = AF_INET, .sin_port = htons(NET_PORT)};
    inet_pton(AF_INET, SERVER_ADDRESS, &server_address.sin_addr);
    static unsigned char small[SMALL_PAYLOAD], large[LARGE_PAYLOAD];
    memset(small, 0x5a, sizeof small);
    memset(large, 0x5a, sizeof large);

    /* Setup: the first datagram to the first reply, sent again every 200 ms. */
    receive_timeout(socket_fd, 200000000u);
    uint64_t started = now();
    uint64_t tries = 0;
    for (;;) {
        tries++;
        sendto(socket_fd, small, sizeof small, 0, (struct sockaddr *)&server_address,
               sizeof server_address);
        ssize_t received = recv(socket_fd, buffer, sizeof buffer, 0);
        if (received == (ssize_t)sizeof small)
            break;
        if (now() - started > 20000000000u) {
            printf("linux-guest: no answer from %s in 20 s\n", SERVER_ADDRESS);
            return -1;
        }
    }
    uint64_t setup = now() - started;
    /* Replies to datagrams sent again may follow: they must not pass for later ones. */
    usleep(300000);
    while (recv(socket_fd, buffer, sizeof buffer, MSG_DONTWAIT) >= 0)
        ;
    receive_timeout(socket_fd, 5000000000u);

    static uint64_t times[ROUND_TRIPS];
    for (int index = 0; index < ROUND_TRIPS; index++) {
        uint64_t start = now();
        times[index] = now() - start;
    }
    uint64_t clock = median(times, ROUND_TRIPS);
    uint64_t round_trip[2];
    for (int size = 0; size < 2; size++) {
        const unsigned char *message = size == 0 ? small : large;
        size_t length = size == 0 ? sizeof small : sizeof large;
        for (int index = 0; index < ROUND_TRIPS; index++) {
            uint64_t start = now();
            if (exchange(socket_fd, &server_address, message, length) != 0)
                return -1;
            times[index] = now() - start;
        }
        uint64_t middle = median(times, ROUND_TRIPS);
        round_trip[size] = middle > clock ? middle - clock : 0;
    }

    /* Bulk: the empty datagram turns the server to counting. */
    if (exchange(socket_fd, &server_address, small, 0) != 0)
        return -1;
    memset(large, 0xa5, sizeof large);
    started = now();
    for (int index = 0; index < BULK_VALUES; index++) {
        if (sendto(socket_fd, large, sizeof large, 0, (struct sockaddr *)&server_address,
                   sizeof server_address) != (ssize_t)sizeof large) {
            printf("linux-guest: bulk datagram %d: %s\n", index, strerror(errno));
            return -1;
        }
    }
    receive_timeout(socket_fd, 100000000u);
    unsigned long long counted = 0, bytes = 0;
    for (int attempt = 0;; attempt++) {
        sendto(socket_fd, NET_END, strlen(NET_END), 0, (struct sockaddr *)&server_address,
               sizeof server_address);
        ssize_t received = recv(socket_fd, buffer, sizeof buffer - 1, 0);
        if (received > 0) {
            buffer[received] = 0;
            if (sscanf(buffer, "counted=%llu bytes=%llu", &counted, &bytes) == 2)
                break;
        }
        if (attempt == 100) {
            printf("linux-guest: the server did not answer the bulk's end\n");
            return -1;
        }
    }
    uint64_t bulk = now() - started;
    printf("linux-guest net setup_ns=%llu connect_tries=%llu rtt64_ns=%llu rtt4k_ns=%llu "
           "samples=%d bulk_values=%d bulk_bytes=%llu bulk_ns=%llu bulk_received=%llu\n",
           (unsigned long long)setup, (unsigned long long)tries,
           (unsigned long long)round_trip[0], (unsigned long long)round_trip[1], ROUND_TRIPS,
           BULK_VALUES, (unsigned long long)BULK_VALUES * LARGE_PAYLOAD,
           (unsigned long long)bulk, bytes);
    return 0;
}

int main(void)
{
    start();
    const char *mode = getenv("net");
    if (mode == NULL) {
        printf("linux-guest: no net= word on the command line\n");
        finish(0);
    }
    if (load_modules() != 0)
        finish(0);
    if (strcmp(mode, "server") == 0)
        finish(server() == 0);
    if (strcmp(mode, "client") == 0)
        finish(client() == 0);
    printf("linux-guest: unknown net=%s (client, server)\n", mode);
    finish(0);
}
