# SPDX-License-Identifier: MIT
# daemon/: shmcached.  libstore.la is the writer side of a table, kept
# apart so the tests and the benchmark can drive it without the daemon.
# Logging and systemd glue: for the daemon and tools, never the library.
noinst_LTLIBRARIES += common/libshmcdaemon.la
common_libshmcdaemon_la_SOURCES = \
	common/log.c common/log.h \
	common/notify.c common/notify.h

noinst_LTLIBRARIES += daemon/libstore.la
daemon_libstore_la_SOURCES = \
	daemon/index.c daemon/index.h \
	daemon/verify.c daemon/verify.h \
	daemon/evict.c daemon/evict.h \
	daemon/store.c daemon/store.h \
	daemon/migrate.c daemon/migrate.h daemon/format_v1.h
daemon_libstore_la_LIBADD = common/libshmcommon.la common/libshmcdaemon.la

sbin_PROGRAMS = daemon/shmcached
daemon_shmcached_SOURCES = \
	daemon/main.c daemon/daemon.h \
	daemon/conf.c daemon/conf.h \
	daemon/tables.c daemon/tables.h \
	daemon/hints.c daemon/hints.h \
	daemon/control.c \
	daemon/command.c
daemon_shmcached_CFLAGS = $(AM_CFLAGS) $(LIBEVENT_CFLAGS) $(JANSSON_CFLAGS)
daemon_shmcached_LDADD = daemon/libstore.la \
	$(LIBEVENT_LIBS) $(JANSSON_LIBS)
