/*
 * The parts of the module-loading Linux guests' /init that are the same in each
 * (see guest.h).
 */
#define _GNU_SOURCE
#include "guest.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/io.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/reboot.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>
#include <x86intrin.h>

uint64_t now(void)
{
    struct timespec time;
    clock_gettime(CLOCK_MONOTONIC, &time);
    return (uint64_t)time.tv_sec * 1000000000u + (uint64_t)time.tv_nsec;
}

void start(void)
{
    printf("linux-guest init monotonic_ns=%llu tsc=%llu\n", (unsigned long long)now(),
           (unsigned long long)__rdtsc());
    mkdir("/proc", 0555);
    mkdir("/dev", 0755);
    if (mount("proc", "/proc", "proc", 0, NULL) != 0 ||
        mount("devtmpfs", "/dev", "devtmpfs", 0, NULL) != 0) {
        printf("linux-guest: mounting /proc and /dev: %s\n", strerror(errno));
        finish(0);
    }
}

void finish(int success)
{
    fflush(stdout);
    if (ioperm(EXIT_PORT, 4, 1) == 0)
        outl(success ? EXIT_SUCCESS_CODE : EXIT_FAILURE_CODE, EXIT_PORT);
    reboot(RB_POWER_OFF);
    for (;;)
        pause();
}

static int by_name(const struct dirent **left, const struct dirent **right)
{
    return strcmp((*left)->d_name, (*right)->d_name);
}

int load_modules(void)
{
    struct dirent **entries;
    int count = scandir("/modules", &entries, NULL, by_name);
    if (count < 0) {
        printf("linux-guest: /modules: %s\n", strerror(errno));
        return -1;
    }
    int failed = 0;
    for (int index = 0; index < count; index++) {
        const char *name = entries[index]->d_name;
        size_t length = strlen(name);
        if (length > 3 && strcmp(name + length - 3, ".ko") == 0 && !failed) {
            char path[512];
            snprintf(path, sizeof path, "/modules/%s", name);
            int file = open(path, O_RDONLY | O_CLOEXEC);
            if (file < 0 || (syscall(SYS_finit_module, file, "", 0) != 0 && errno != EEXIST)) {
                printf("linux-guest: loading %s: %s\n", path, strerror(errno));
                failed = 1;
            }
            if (file >= 0)
                close(file);
        }
        free(entries[index]);
    }
    free(entries);
    return failed ? -1 : 0;
}

int set_address(int socket_fd, const char *name, unsigned long request, const char *text)
{
    struct ifreq request_block;
    memset(&request_block, 0, sizeof request_block);
    strncpy(request_block.ifr_name, name, IFNAMSIZ - 1);
    struct sockaddr_in *address = (struct sockaddr_in *)&request_block.ifr_addr;
    address->sin_family = AF_INET;
    inet_pton(AF_INET, text, &address->sin_addr);
    return ioctl(socket_fd, request, &request_block);
}

int bring_up(int socket_fd, const char *name)
{
    struct ifreq request_block;
    memset(&request_block, 0, sizeof request_block);
    strncpy(request_block.ifr_name, name, IFNAMSIZ - 1);
    if (ioctl(socket_fd, SIOCGIFFLAGS, &request_block) != 0)
        return -1;
    request_block.ifr_flags |= IFF_UP | IFF_RUNNING;
    return ioctl(socket_fd, SIOCSIFFLAGS, &request_block);
}
