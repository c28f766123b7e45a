/* SPDX-License-Identifier: MIT */
/*
 * notify.h -- the systemd notify and socket-activation protocols, without
 * libsystemd.  Both are no-ops when systemd did not ask for them.
 */
#ifndef SHMC_NOTIFY_H
#define SHMC_NOTIFY_H

#include <stdint.h>

int notify_send(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
uint64_t notify_watchdog_usec(void);
int notify_listen_fd(char *err, unsigned errlen);

#endif /* SHMC_NOTIFY_H */
