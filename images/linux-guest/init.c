/*
 * The Linux guest baseline's /init: the benchmarks of Ethos's `bench-client`
 * (images/programs/system-tests/src/bounce.rs), done the Linux way, in a guest
 * under the same emulator and machine as the Ethos kernel.
 *
 * At its start it prints
 *   linux-guest init monotonic_ns=<CLOCK_MONOTONIC> tsc=<time stamp counter>
 * With `bench=ipc` on the kernel command line (the kernel hands it to /init as
 * an environment variable) it then measures, as bench-client does, the median
 * of NULL_SAMPLES null system calls (getppid) and of ROUND_TRIP_SAMPLES round
 * trips of 64 B and of 4 KiB through a pair of pipes to a forked child that
 * sends back what it reads, each sample less the median time between two
 * clock reads with nothing between them, and prints
 *   linux-guest bench null_ns=<n> rtt64_ns=<n> rtt4k_ns=<n> samples=<n>
 * Last it writes EXIT_SUCCESS_CODE (or EXIT_FAILURE_CODE) to QEMU's
 * isa-debug-exit device at EXIT_PORT, the device the Ethos kernel ends its runs
 * with, and powers off should that device be absent.
 *
 * The build defines EXIT_PORT, EXIT_SUCCESS_CODE, EXIT_FAILURE_CODE,
 * NULL_SAMPLES and ROUND_TRIP_SAMPLES.
 */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/io.h>
#include <sys/reboot.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <x86intrin.h>

static uint64_t now(void)
{
    struct timespec time;
    clock_gettime(CLOCK_MONOTONIC, &time);
    return (uint64_t)time.tv_sec * 1000000000u + (uint64_t)time.tv_nsec;
}

static int compare(const void *left, const void *right)
{
    uint64_t a = *(const uint64_t *)left, b = *(const uint64_t *)right;
    return (a > b) - (a < b);
}

static uint64_t *times;

/* The median nanoseconds between two clock reads around `operation`, over
 * `samples` runs, as bench-client's `median_of`: the element at samples / 2 of
 * the sorted times. Returns 0 with *failed set when an operation failed. */
static uint64_t median_of(size_t samples, int (*operation)(void *), void *context, int *failed)
{
    for (size_t index = 0; index < samples; index++) {
        uint64_t start = now();
        if (operation(context) != 0) {
            *failed = 1;
            return 0;
        }
        uint64_t end = now();
        times[index] = end > start ? end - start : 0;
    }
    qsort(times, samples, sizeof *times, compare);
    return times[samples / 2];
}

static int nothing(void *context)
{
    (void)context;
    return 0;
}

static int null_call(void *context)
{
    (void)context;
    syscall(SYS_getppid);
    return 0;
}

struct bounce {
    int to_child, from_child;
    size_t size;
    unsigned char *payload, *reply;
};

static int read_exactly(int descriptor, unsigned char *buffer, size_t size)
{
    size_t done = 0;
    while (done < size) {
        ssize_t count = read(descriptor, buffer + done, size - done);
        if (count <= 0)
            return -1;
        done += (size_t)count;
    }
    return 0;
}

static int write_all(int descriptor, const unsigned char *buffer, size_t size)
{
    size_t done = 0;
    while (done < size) {
        ssize_t count = write(descriptor, buffer + done, size - done);
        if (count <= 0)
            return -1;
        done += (size_t)count;
    }
    return 0;
}

static int round_trip(void *context)
{
    struct bounce *bounce = context;
    if (write_all(bounce->to_child, bounce->payload, bounce->size) != 0)
        return -1;
    if (read_exactly(bounce->from_child, bounce->reply, bounce->size) != 0)
        return -1;
    return memcmp(bounce->payload, bounce->reply, bounce->size) == 0 ? 0 : -1;
}

/* The child: sends back what it reads until its input ends. */
static void echo(int input, int output)
{
    static unsigned char buffer[65536];
    for (;;) {
        ssize_t count = read(input, buffer, sizeof buffer);
        if (count <= 0)
            _exit(count == 0 ? 0 : 1);
        if (write_all(output, buffer, (size_t)count) != 0)
            _exit(1);
    }
}

static int bench(void)
{
    int down[2], up[2];
    if (pipe(down) != 0 || pipe(up) != 0) {
        perror("linux-guest: pipe");
        return -1;
    }
    pid_t child = fork();
    if (child < 0) {
        perror("linux-guest: fork");
        return -1;
    }
    if (child == 0) {
        close(down[1]);
        close(up[0]);
        echo(down[0], up[1]);
    }
    close(down[0]);
    close(up[1]);
    size_t most = NULL_SAMPLES > ROUND_TRIP_SAMPLES ? NULL_SAMPLES : ROUND_TRIP_SAMPLES;
    times = calloc(most, sizeof *times);
    static unsigned char payload[4096], reply[4096];
    memset(payload, 0x5a, sizeof payload);
    int failed = 0;
    uint64_t clock = median_of(NULL_SAMPLES, nothing, NULL, &failed);
    uint64_t null = median_of(NULL_SAMPLES, null_call, NULL, &failed);
    struct bounce small = {down[1], up[0], 64, payload, reply};
    uint64_t rtt64 = failed ? 0 : median_of(ROUND_TRIP_SAMPLES, round_trip, &small, &failed);
    struct bounce large = {down[1], up[0], 4096, payload, reply};
    uint64_t rtt4k = failed ? 0 : median_of(ROUND_TRIP_SAMPLES, round_trip, &large, &failed);
    close(down[1]);
    int status = 0;
    waitpid(child, &status, 0);
    if (failed) {
        printf("linux-guest: a round trip failed or came back changed\n");
        return -1;
    }
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        printf("linux-guest: the echo child ended with status %d\n", status);
        return -1;
    }
    printf("linux-guest bench null_ns=%llu rtt64_ns=%llu rtt4k_ns=%llu samples=%d\n",
           (unsigned long long)(null > clock ? null - clock : 0),
           (unsigned long long)(rtt64 > clock ? rtt64 - clock : 0),
           (unsigned long long)(rtt4k > clock ? rtt4k - clock : 0), ROUND_TRIP_SAMPLES);
    return 0;
}

static void end(int code)
{
    fflush(stdout);
    if (ioperm(EXIT_PORT, 4, 1) == 0)
        outl(code, EXIT_PORT);
    sync();
    reboot(RB_POWER_OFF);
    for (;;)
        pause();
}

int main(void)
{
    uint64_t monotonic = now();
    uint64_t tsc = __rdtsc();
    setvbuf(stdout, NULL, _IOLBF, 0);
    printf("linux-guest init monotonic_ns=%llu tsc=%llu\n", (unsigned long long)monotonic,
           (unsigned long long)tsc);
    const char *what = getenv("bench");
    int result = 0;
    if (what != NULL && strcmp(what, "ipc") == 0)
        result = bench();
    else if (what != NULL) {
        printf("linux-guest: unknown bench=%s\n", what);
        result = -1;
    }
    end(result == 0 ? EXIT_SUCCESS_CODE : EXIT_FAILURE_CODE);
    return 0;
}
