/*
 * A remote client of a rump kernel, built on upstream's librumpclient: every rump_sys_*
 * call below travels over RUMP_SERVER to the rump kernel serving it. It makes a
 * directory and a file there, writes, reads back, and prints what it saw.
 */
#include <sys/types.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <rump/rumpclient.h>
#include <rump/rump_syscalls.h>
#include <rump/rumpdefs.h>

#define MESSAGE "written through the system call proxy"

static int
fail(const char *what)
{
	printf("client: %s failed: errno %d\n", what, errno);
	return 1;
}

int
main(void)
{
	char back[64];
	ssize_t count;
	int fd;

	if (rumpclient_init() != 0)
		return fail("rumpclient_init");
	printf("client: host pid %d, pid inside the rump kernel %d\n", (int)getpid(),
	    (int)rump_sys_getpid());
	if (rump_sys_mkdir("/remote", 0755) == -1)
		return fail("mkdir");
	fd = rump_sys_open("/remote/file", RUMP_O_RDWR | RUMP_O_CREAT, 0644);
	if (fd == -1)
		return fail("open");
	if (rump_sys_write(fd, MESSAGE, strlen(MESSAGE)) != (ssize_t)strlen(MESSAGE))
		return fail("write");
	if (rump_sys_lseek(fd, 0, 0) != 0)
		return fail("lseek");
	memset(back, 0, sizeof(back));
	count = rump_sys_read(fd, back, sizeof(back) - 1);
	if (count == -1)
		return fail("read");
	printf("client: read back %zd bytes: %s\n", count, back);
	if (rump_sys_close(fd) == -1)
		return fail("close");
	fd = rump_sys_open("/remote/done", RUMP_O_RDWR | RUMP_O_CREAT, 0644);
	if (fd == -1)
		return fail("open done");
	rump_sys_close(fd);
	printf("client: done\n");
	return 0;
}
