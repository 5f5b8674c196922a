/*
 * The Linux guest baseline of `cargo xtask bench drivers`: the work of the Ethos
 * kernel's `test=udp-echo` and `test=block`, done by Linux's own drivers on the
 * same virtio device models, in a guest under the same emulator and machine.
 *
 * Debian's kernel builds virtio as modules: the initramfs holds them under
 * /modules, named so that their order is the load order (the build orders them by
 * each module's `depends=`), and this /init loads them all first.
 *
 * `bench=udp`: eth0 gets 10.0.2.15/24 (the address QEMU's user network forwards
 * to), and a UDP echo service on UDP_ECHO_PORT sends back every datagram until one
 * is exactly UDP_ECHO_STOP; then it prints `linux-guest udp-echo done`.
 * `bench=block`: the whole of /dev/vda is written with the pattern of Ethos's
 * block test (fill_sector_pattern, BLOCK_PATTERN_SEED, 64 KiB chunks, O_DIRECT),
 * flushed, read back and checked; it prints
 *   linux-guest block write_kib_s=<n> read_kib_s=<n> bytes=<n>
 * Each run starts with `linux-guest init monotonic_ns=<n> tsc=<n>` and ends by writing
 * EXIT_SUCCESS_CODE or EXIT_FAILURE_CODE to isa-debug-exit at EXIT_PORT, powering
 * off should that device be absent.
 *
 * It is compiled with guest.c (the start, the modules, the interface calls and the
 * end). The build defines EXIT_PORT, EXIT_SUCCESS_CODE, EXIT_FAILURE_CODE,
 * UDP_ECHO_PORT, UDP_ECHO_STOP (a string), BLOCK_PATTERN_SEED and CHUNK_BYTES.
 */
#define _GNU_SOURCE
#include "guest.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

static int udp_echo(void)
{
    int control = socket(AF_INET, SOCK_DGRAM, 0);
    if (control < 0 || bring_up(control, "lo") != 0 ||
        set_address(control, "eth0", SIOCSIFADDR, "10.0.2.15") != 0 ||
        set_address(control, "eth0", SIOCSIFNETMASK, "255.255.255.0") != 0 ||
        bring_up(control, "eth0") != 0) {
        printf("linux-guest: configuring eth0: %s\n", strerror(errno));
        return -1;
    }
    close(control);
    int service = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in address = {.sin_family = AF_INET,
                                  .sin_port = htons(UDP_ECHO_PORT),
                                  .sin_addr.s_addr = htonl(INADDR_ANY)};
    if (service < 0 || bind(service, (struct sockaddr *)&address, sizeof address) != 0) {
        printf("linux-guest: UDP port %d: %s\n", UDP_ECHO_PORT, strerror(errno));
        return -1;
    }
    printf("linux-guest udp-echo serving port=%d\n", UDP_ECHO_PORT);
    fflush(stdout);
    static char buffer[65536];
    uint64_t echoed = 0;
    for (;;) {
        struct sockaddr_in from;
        socklen_t from_length = sizeof from;
        ssize_t length = recvfrom(service, buffer, sizeof buffer, 0, (struct sockaddr *)&from,
                                  &from_length);
        if (length < 0) {
            printf("linux-guest: recvfrom: %s\n", strerror(errno));
            return -1;
        }
        if ((size_t)length == strlen(UDP_ECHO_STOP) &&
            memcmp(buffer, UDP_ECHO_STOP, (size_t)length) == 0)
            break;
        if (sendto(service, buffer, (size_t)length, 0, (struct sockaddr *)&from, from_length) !=
            length) {
            printf("linux-guest: sendto: %s\n", strerror(errno));
            return -1;
        }
        echoed++;
    }
    printf("linux-guest udp-echo done echoed=%llu\n", (unsigned long long)echoed);
    return 0;
}

/* Ethos's fill_sector_pattern (kernel/abi/src/drivers.rs), sector by sector. */
static void fill_sector_pattern(uint64_t sector, unsigned char *out)
{
    uint64_t state =
        BLOCK_PATTERN_SEED ^ (sector * UINT64_C(0x9e3779b97f4a7c15)) ^ UINT64_C(0x2545f4914f6cdd1d);
    if (state == 0)
        state = 1;
    for (int offset = 0; offset < 512; offset += 8) {
        state ^= state >> 12;
        state ^= state << 25;
        state ^= state >> 27;
        uint64_t word = state * UINT64_C(0x2545f4914f6cdd1d);
        memcpy(out + offset, &word, 8); /* little-endian, as to_le_bytes */
    }
}

static void fill_chunk(uint64_t first_sector, unsigned char *chunk, size_t bytes)
{
    for (size_t offset = 0; offset < bytes; offset += 512)
        fill_sector_pattern(first_sector + offset / 512, chunk + offset);
}

static int block(void)
{
    const char *path = "/dev/vda";
    int disk = -1;
    /* devtmpfs creates the node from its own thread: give it a moment. */
    for (int tries = 0; tries < 500 && disk < 0; tries++) {
        disk = open(path, O_RDWR | O_DIRECT | O_CLOEXEC);
        if (disk < 0)
            usleep(10000);
    }
    uint64_t size = 0;
    if (disk < 0 || ioctl(disk, BLKGETSIZE64, &size) != 0) {
        printf("linux-guest: %s: %s\n", path, strerror(errno));
        return -1;
    }
    unsigned char *chunk, *expected;
    if (posix_memalign((void **)&chunk, 4096, CHUNK_BYTES) != 0 ||
        posix_memalign((void **)&expected, 4096, CHUNK_BYTES) != 0) {
        printf("linux-guest: no memory for the chunks\n");
        return -1;
    }
    uint64_t start = now();
    for (uint64_t offset = 0; offset < size; offset += CHUNK_BYTES) {
        size_t bytes = size - offset < CHUNK_BYTES ? (size_t)(size - offset) : CHUNK_BYTES;
        fill_chunk(offset / 512, chunk, bytes);
        if (pwrite(disk, chunk, bytes, (off_t)offset) != (ssize_t)bytes) {
            printf("linux-guest: writing %s at %llu: %s\n", path, (unsigned long long)offset,
                   strerror(errno));
            return -1;
        }
    }
    if (fsync(disk) != 0) {
        printf("linux-guest: fsync %s: %s\n", path, strerror(errno));
        return -1;
    }
    uint64_t write_ns = now() - start;
    start = now();
    for (uint64_t offset = 0; offset < size; offset += CHUNK_BYTES) {
        size_t bytes = size - offset < CHUNK_BYTES ? (size_t)(size - offset) : CHUNK_BYTES;
        if (pread(disk, chunk, bytes, (off_t)offset) != (ssize_t)bytes) {
            printf("linux-guest: reading %s at %llu: %s\n", path, (unsigned long long)offset,
                   strerror(errno));
            return -1;
        }
        fill_chunk(offset / 512, expected, bytes);
        if (memcmp(chunk, expected, bytes) != 0) {
            printf("linux-guest: %s at %llu does not hold the pattern written\n", path,
                   (unsigned long long)offset);
            return -1;
        }
    }
    uint64_t read_ns = now() - start;
    /* KiB/s as the Ethos test reports it: bytes * 1000 / 1024 / milliseconds. */
    uint64_t write_ms = write_ns / 1000000 ? write_ns / 1000000 : 1;
    uint64_t read_ms = read_ns / 1000000 ? read_ns / 1000000 : 1;
    printf("linux-guest block write_kib_s=%llu read_kib_s=%llu bytes=%llu\n",
           (unsigned long long)(size * 1000 / 1024 / write_ms),
           (unsigned long long)(size * 1000 / 1024 / read_ms), (unsigned long long)size);
    return 0;
}

int main(void)
{
    start();
    const char *mode = getenv("bench");
    if (mode == NULL) {
        printf("linux-guest: no bench= word on the command line\n");
        finish(0);
    }
    if (load_modules() != 0)
        finish(0);
    if (strcmp(mode, "udp") == 0)
        finish(udp_echo() == 0);
    if (strcmp(mode, "block") == 0)
        finish(block() == 0);
    printf("linux-guest: unknown bench=%s (udp, block)\n", mode);
    finish(0);
}
