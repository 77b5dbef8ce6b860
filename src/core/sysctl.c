/* SPDX-License-Identifier: Apache-2.0 */
/* Ensuring a sysctl's value; see sysctl.h. */
#include "core/sysctl.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

int sysctl_ensure_at(const char *root, const char *name, const char *value, bool *changed)
{
	char path[512], cur[64];
	size_t len = strlen(value);
	ssize_t n;
	int fd, r = 0;

	*changed = false;
	if ((size_t)snprintf(path, sizeof(path), "%s/%s", root, name) >= sizeof(path))
		return -ENAMETOOLONG;
	fd = open(path, O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	n = read(fd, cur, sizeof(cur) - 1);
	if (n < 0) {
		r = -errno;
		goto out;
	}
	cur[n] = '\0';
	cur[strcspn(cur, "\n")] = '\0';
	if (strcmp(cur, value) == 0)
		goto out;
	if (pwrite(fd, value, len, 0) != (ssize_t)len) {
		r = errno ? -errno : -EIO;
		goto out;
	}
	*changed = true;
out:
	close(fd);
	return r;
}

int sysctl_ensure(const char *name, const char *value, bool *changed)
{
	return sysctl_ensure_at("/proc/sys", name, value, changed);
}

int sysctl_read(const char *name, char *buf, size_t size)
{
	char path[512];
	ssize_t n;
	int fd;

	if (!size)
		return -EINVAL;
	if ((size_t)snprintf(path, sizeof(path), "/proc/sys/%s", name) >= sizeof(path))
		return -ENAMETOOLONG;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	n = read(fd, buf, size - 1);
	if (n < 0) {
		int r = -errno;

		close(fd);
		return r;
	}
	close(fd);
	buf[n] = '\0';
	buf[strcspn(buf, "\n")] = '\0';
	return 0;
}
