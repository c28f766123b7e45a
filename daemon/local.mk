# SPDX-License-Identifier: MIT
# daemon/: shmcached.  libstore.la is the writer side of a table, kept
# apart so the tests and the benchmark can drive it without the daemon.
# Logging and systemd glue: for the daemon and tools, never the library.
noinst_LTLIBRARIES += daemon/libdaemonutil.la
daemon_libdaemonutil_la_SOURCES = \
	daemon/log.c daemon/log.h \
	daemon/notify.c daemon/notify.h
daemon_libdaemonutil_la_CPPFLAGS = $(DAEMON_CPPFLAGS)

noinst_LTLIBRARIES += daemon/libstore.la
daemon_libstore_la_SOURCES = \
	daemon/index.c daemon/index.h \
	daemon/verify.c daemon/verify.h \
	daemon/evict.c daemon/evict.h \
	daemon/store.c daemon/store.h \
	daemon/migrate.c daemon/migrate.h daemon/format_v1.h \
	daemon/residency.c daemon/residency.h
daemon_libstore_la_CPPFLAGS = $(DAEMON_CPPFLAGS)
daemon_libstore_la_LIBADD = common/libshmcommon.la daemon/libdaemonutil.la

sbin_PROGRAMS = daemon/shmcached
daemon_shmcached_SOURCES = \
	daemon/main.c daemon/daemon.h \
	daemon/conf.c daemon/conf.h \
	daemon/tables.c daemon/tables.h \
	daemon/guard.c daemon/guard.h \
	daemon/hints.c daemon/hints.h \
	daemon/loader.c daemon/loader.h \
	daemon/child.c daemon/child.h \
	daemon/worker.c daemon/worker.h \
	daemon/watch.c daemon/watch.h \
	daemon/pidfile.c daemon/pidfile.h \
	daemon/redis.h \
	daemon/control.c \
	daemon/command.c
# The redis loader only when configure found hiredis (redis.h has stubs).
if HAVE_HIREDIS
daemon_shmcached_SOURCES += daemon/redis.c
endif
daemon_shmcached_CPPFLAGS = $(DAEMON_CPPFLAGS)
daemon_shmcached_CFLAGS = $(AM_CFLAGS) $(LIBEVENT_CFLAGS) $(JANSSON_CFLAGS) \
	$(HIREDIS_CFLAGS)
daemon_shmcached_LDADD = daemon/libstore.la \
	$(LIBEVENT_LIBS) $(JANSSON_LIBS) $(HIREDIS_LIBS)
