/*
 * What the module-loading Linux guests (drivers.c, net.c) share: the clock, the
 * start every /init makes, the loading of /modules and the setting of a network
 * interface's address and flags, and the end through isa-debug-exit.
 *
 * guest.c is compiled with each of them; the build defines EXIT_PORT,
 * EXIT_SUCCESS_CODE and EXIT_FAILURE_CODE for both.
 */
#ifndef LINUX_GUEST_GUEST_H
#define LINUX_GUEST_GUEST_H

#include <stdint.h>

/* CLOCK_MONOTONIC in nanoseconds. */
uint64_t now(void);

/* Prints `linux-guest init monotonic_ns=<n> tsc=<n>` and mounts /proc and devtmpfs on
 * /dev, finishing as a failure should either mount fail. */
void start(void);

/* Writes EXIT_SUCCESS_CODE (success nonzero) or EXIT_FAILURE_CODE to isa-debug-exit
 * at EXIT_PORT, powering off should that device be absent. */
_Noreturn void finish(int success);

/* Loads every module in /modules (files ending .ko) in name order; a module already
 * loaded is fine. 0, or -1 on failure. */
int load_modules(void);

/* Sets the address (SIOCSIFADDR) or netmask (SIOCSIFNETMASK), as `request` says, of
 * interface `name` to `text`, through the socket `socket_fd`. */
int set_address(int socket_fd, const char *name, unsigned long request, const char *text);

/* Brings interface `name` up. */
int bring_up(int socket_fd, const char *name);

#endif
