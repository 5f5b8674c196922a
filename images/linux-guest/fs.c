/*
 * The Linux guest baseline of `cargo xtask bench fs`: the work of Ethos's `fs-bench`
 * (images/programs/system-tests/src/fs_bench.rs) on ext4, by Linux's own virtio-blk
 * driver on the same device model, in a guest under the same emulator and machine.
 *
 * The initramfs holds virtio_mmio, virtio_blk, ext4 and what they need under
 * /modules in load order; this /init loads them, mounts /dev/vda (an ext4 file
 * system the host made with mke2fs) on /mnt and, in /mnt/bench, times each call
 * on its own with CLOCK_MONOTONIC:
 * - SAMPLES replacements of a SMALL_VALUE-byte file, REPLACED_FILES files in turn
 *   (made beforehand, untimed): open(O_TRUNC), write, fsync, close;
 * - SAMPLES creates of a new SMALL_VALUE-byte file: open(O_CREAT | O_EXCL), write,
 *   fsync, close (ext4's fsync commits the journal, which holds the new name too);
 * - SAMPLES reads of those new files, in the order they were made: open(O_DIRECT),
 *   read, close. O_DIRECT reads from the disk each time, as Ethos's readVar does
 *   (its store keeps directories in memory, never values), where a read through
 *   the page cache would return what the write left there;
 * - LARGE_SAMPLES replacements of a LARGE_VALUE-byte file, two files in turn, then
 *   as many O_DIRECT reads of them.
 * Each read is checked after its time is taken. It prints, each figure the median
 * over its samples in nanoseconds,
 *   linux-guest fs write_small_ns=<n> create_small_ns=<n> read_small_ns=<n>
 *     write_large_ns=<n> read_large_ns=<n> small_bytes=<n> large_bytes=<n>
 *     samples=<n> large_samples=<n>
 * (one line). Each run starts with `linux-guest init monotonic_ns=<n> tsc=<n>` and
 * ends by writing EXIT_SUCCESS_CODE or EXIT_FAILURE_CODE to isa-debug-exit.
 *
 * It is compiled with guest.c. The build defines EXIT_PORT, EXIT_SUCCESS_CODE,
 * EXIT_FAILURE_CODE, SAMPLES, LARGE_SAMPLES, SMALL_VALUE, LARGE_VALUE and
 * REPLACED_FILES.
 */
#define _GNU_SOURCE
#include "guest.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

/* A pattern of `sequence` in `length` bytes, as Ethos's fs-bench fills its values'
 * data (the bytes need not be the same: neither store looks at them). */
static void fill(unsigned char *bytes, size_t length, uint64_t sequence)
{
    for (size_t index = 0; index < length; index++)
        bytes[index] = (unsigned char)(sequence ^ (index * 13));
}

/* Writes `length` bytes of `data` to `path` opened with `flags`, then fsync. */
static int write_file(const char *path, int flags, const unsigned char *data, size_t length)
{
    int file = open(path, O_WRONLY | O_CLOEXEC | flags, 0644);
    if (file < 0) {
        printf("linux-guest: opening %s: %s\n", path, strerror(errno));
        return -1;
    }
    size_t done = 0;
    while (done < length) {
        ssize_t written = write(file, data + done, length - done);
        if (written <= 0) {
            printf("linux-guest: writing %s: %s\n", path, strerror(errno));
            close(file);
            return -1;
        }
        done += (size_t)written;
    }
    if (fsync(file) != 0) {
        printf("linux-guest: fsync of %s: %s\n", path, strerror(errno));
        close(file);
        return -1;
    }
    return close(file);
}

/* Reads the `length`-byte file `path` with O_DIRECT into `buffer` (aligned). */
static int read_file(const char *path, unsigned char *buffer, size_t length)
{
    int file = open(path, O_RDONLY | O_DIRECT | O_CLOEXEC);
    if (file < 0) {
        printf("linux-guest: opening %s: %s\n", path, strerror(errno));
        return -1;
    }
    size_t done = 0;
    while (done < length) {
        ssize_t got = read(file, buffer + done, length - done);
        if (got <= 0) {
            printf("linux-guest: reading %s: %s\n", path, got < 0 ? strerror(errno) : "short");
            close(file);
            return -1;
        }
        done += (size_t)got;
    }
    return close(file);
}

static int by_value(const void *left, const void *right)
{
    uint64_t a = *(const uint64_t *)left, b = *(const uint64_t *)right;
    return (a > b) - (a < b);
}

static uint64_t median(uint64_t *times, size_t count)
{
    qsort(times, count, sizeof *times, by_value);
    return times[count / 2];
}

/* Waits up to a second for the disk's node, which devtmpfs makes as the driver
 * finds the device. */
static int wait_for(const char *path)
{
    for (int tries = 0; tries < 100; tries++) {
        struct stat status;
        if (stat(path, &status) == 0)
            return 0;
        usleep(10000);
    }
    printf("linux-guest: %s never appeared\n", path);
    return -1;
}

static int bench(void)
{
    if (load_modules() != 0 || wait_for("/dev/vda") != 0)
        return -1;
    mkdir("/mnt", 0755);
    if (mount("/dev/vda", "/mnt", "ext4", 0, NULL) != 0) {
        printf("linux-guest: mounting /dev/vda as ext4: %s\n", strerror(errno));
        return -1;
    }
    if (mkdir("/mnt/bench", 0755) != 0 && errno != EEXIST) {
        printf("linux-guest: /mnt/bench: %s\n", strerror(errno));
        return -1;
    }
    unsigned char *small = aligned_alloc(4096, SMALL_VALUE);
    unsigned char *large = aligned_alloc(4096, LARGE_VALUE);
    unsigned char *buffer = aligned_alloc(4096, LARGE_VALUE);
    static uint64_t times[SAMPLES > LARGE_SAMPLES ? SAMPLES : LARGE_SAMPLES];
    if (small == NULL || large == NULL || buffer == NULL) {
        printf("linux-guest: no memory for the values\n");
        return -1;
    }
    fill(small, SMALL_VALUE, 1);
    fill(large, LARGE_VALUE, 2);
    char path[64];
    for (int index = 0; index < REPLACED_FILES; index++) {
        snprintf(path, sizeof path, "/mnt/bench/replaced-%d", index);
        if (write_file(path, O_CREAT | O_TRUNC, small, SMALL_VALUE) != 0)
            return -1;
    }
    for (int index = 0; index < SAMPLES; index++) {
        snprintf(path, sizeof path, "/mnt/bench/replaced-%d", index % REPLACED_FILES);
        uint64_t started = now();
        if (write_file(path, O_TRUNC, small, SMALL_VALUE) != 0)
            return -1;
        times[index] = now() - started;
    }
    uint64_t write_small = median(times, SAMPLES);
    for (int index = 0; index < SAMPLES; index++) {
        snprintf(path, sizeof path, "/mnt/bench/created-%04d", index);
        uint64_t started = now();
        if (write_file(path, O_CREAT | O_EXCL, small, SMALL_VALUE) != 0)
            return -1;
        times[index] = now() - started;
    }
    uint64_t create_small = median(times, SAMPLES);
    int differed = 0;
    for (int index = 0; index < SAMPLES; index++) {
        snprintf(path, sizeof path, "/mnt/bench/created-%04d", index);
        uint64_t started = now();
        if (read_file(path, buffer, SMALL_VALUE) != 0)
            return -1;
        times[index] = now() - started;
        differed |= memcmp(buffer, small, SMALL_VALUE) != 0;
    }
    uint64_t read_small = median(times, SAMPLES);
    for (int index = 0; index < LARGE_SAMPLES; index++) {
        snprintf(path, sizeof path, "/mnt/bench/large-%d", index % 2);
        uint64_t started = now();
        if (write_file(path, O_CREAT | O_TRUNC, large, LARGE_VALUE) != 0)
            return -1;
        times[index] = now() - started;
    }
    uint64_t write_large = median(times, LARGE_SAMPLES);
    for (int index = 0; index < LARGE_SAMPLES; index++) {
        snprintf(path, sizeof path, "/mnt/bench/large-%d", index % 2);
        uint64_t started = now();
        if (read_file(path, buffer, LARGE_VALUE) != 0)
            return -1;
        times[index] = now() - started;
        differed |= memcmp(buffer, large, LARGE_VALUE) != 0;
    }
    uint64_t read_large = median(times, LARGE_SAMPLES);
    if (differed) {
        printf("linux-guest: a file read back differed from the one written\n");
        return -1;
    }
    printf("linux-guest fs write_small_ns=%llu create_small_ns=%llu read_small_ns=%llu "
           "write_large_ns=%llu read_large_ns=%llu small_bytes=%d large_bytes=%d samples=%d "
           "large_samples=%d\n",
           (unsigned long long)write_small, (unsigned long long)create_small,
           (unsigned long long)read_small, (unsigned long long)write_large,
           (unsigned long long)read_large, SMALL_VALUE, LARGE_VALUE, SAMPLES, LARGE_SAMPLES);
    if (umount("/mnt") != 0) {
        printf("linux-guest: unmounting /mnt: %s\n", strerror(errno));
        return -1;
    }
    return 0;
}

int main(void)
{
    start();
    finish(bench() == 0);
}
