# SPDX-License-Identifier: MIT
# tests/: one Check suite per concept, run through the TAP driver so every
# Check test is one line of `make check` output.
LOG_DRIVER = env AM_TAP_AWK='$(AWK)' $(SHELL) $(top_srcdir)/build-aux/tap-driver.sh
AM_TESTS_ENVIRONMENT = CK_TAP_LOG_FILE_NAME=-; CK_VERBOSITY=silent; \
	export CK_TAP_LOG_FILE_NAME CK_VERBOSITY; \
	top_srcdir=$(top_srcdir); export top_srcdir; \
	SHMCACHED=$(abs_top_builddir)/daemon/shmcached; export SHMCACHED; \
	SHMCACHECTL=$(abs_top_builddir)/client/tool/shmcachectl; \
	export SHMCACHECTL; \
	LOGSINK=$(abs_top_builddir)/tests/logsink; export LOGSINK; \
	LOAD_FAULT=$(abs_top_builddir)/tests/load_fault; export LOAD_FAULT; \
	LOAD_WORKER=$(abs_top_builddir)/tests/load_worker; export LOAD_WORKER; \
	CLOCKSHIFT=$(abs_top_builddir)/tests/.libs/libclockshift.so; \
	export CLOCKSHIFT; \
	MAKE='$(MAKE)'; CC='$(CC)'; CFLAGS='$(CFLAGS)'; LDFLAGS='$(LDFLAGS)'; \
	export MAKE CC CFLAGS LDFLAGS; \
	PYTHON='$(PYTHON)'; export PYTHON;

# Test helpers; the demo client uses them too, so they are always built.
noinst_LTLIBRARIES += tests/libtestutil.la
tests_libtestutil_la_SOURCES = tests/testutil.c tests/testutil.h \
	tests/client.c tests/client.h
tests_libtestutil_la_LIBADD = common/libshmcommon.la

# The writer again, with a crash point at every store to shared memory
# (SEQ_CRASH_POINT in common/seqlock.h), for check_crash only.
check_LTLIBRARIES = tests/libstore_crash.la
tests_libstore_crash_la_SOURCES = $(daemon_libstore_la_SOURCES)
tests_libstore_crash_la_CPPFLAGS = $(AM_CPPFLAGS) -DSHMC_CRASH_TEST
tests_libstore_crash_la_LIBADD = common/libshmcommon.la daemon/libdaemonutil.la

TEST_LIBS = tests/libtestutil.la daemon/libstore.la common/libshmcommon.la \
	$(CHECK_LIBS)

check_PROGRAMS += tests/check_format tests/check_hash tests/check_entry \
	tests/check_crash \
	tests/check_seqlock \
	tests/check_table tests/check_torture tests/check_hostile \
	tests/check_proto tests/check_daemon tests/check_client \
	tests/check_persist tests/check_loader tests/check_redis
TESTS += $(check_PROGRAMS)

tests_check_format_CFLAGS = $(AM_CFLAGS) $(CHECK_CFLAGS)
tests_check_format_LDADD = $(TEST_LIBS)
tests_check_crash_CPPFLAGS = $(AM_CPPFLAGS) -DSHMC_CRASH_TEST
tests_check_crash_CFLAGS = $(AM_CFLAGS) $(CHECK_CFLAGS)
tests_check_crash_LDADD = tests/libtestutil.la tests/libstore_crash.la \
	common/libshmcommon.la $(CHECK_LIBS)
tests_check_entry_CFLAGS = $(AM_CFLAGS) $(CHECK_CFLAGS)
tests_check_entry_LDADD = $(TEST_LIBS)
tests_check_hash_CFLAGS = $(AM_CFLAGS) $(CHECK_CFLAGS)
tests_check_hash_LDADD = $(TEST_LIBS)
tests_check_seqlock_CFLAGS = $(AM_CFLAGS) $(CHECK_CFLAGS)
tests_check_seqlock_LDADD = $(TEST_LIBS)
tests_check_table_CFLAGS = $(AM_CFLAGS) $(CHECK_CFLAGS)
tests_check_table_LDADD = $(TEST_LIBS)
tests_check_torture_CFLAGS = $(AM_CFLAGS) $(CHECK_CFLAGS)
tests_check_torture_LDADD = $(TEST_LIBS)
tests_check_hostile_CFLAGS = $(AM_CFLAGS) $(CHECK_CFLAGS)
tests_check_hostile_LDADD = $(TEST_LIBS)
tests_check_proto_CFLAGS = $(AM_CFLAGS) $(CHECK_CFLAGS)
tests_check_proto_LDADD = $(TEST_LIBS)
tests_check_client_CFLAGS = $(AM_CFLAGS) $(CHECK_CFLAGS) -pthread
tests_check_client_LDADD = client/libshmcache.la $(TEST_LIBS) -lpthread
tests_check_persist_CFLAGS = $(AM_CFLAGS) $(CHECK_CFLAGS)
tests_check_persist_LDADD = client/libshmcache.la $(TEST_LIBS)
tests_check_loader_CFLAGS = $(AM_CFLAGS) $(CHECK_CFLAGS) -pthread
tests_check_loader_LDADD = client/libshmcache.la $(TEST_LIBS) -lpthread
# Skips itself without hiredis (HAVE_HIREDIS) or redis-server.
tests_check_redis_CFLAGS = $(AM_CFLAGS) $(CHECK_CFLAGS) $(HIREDIS_CFLAGS) \
	-pthread
tests_check_redis_LDADD = client/libshmcache.la $(TEST_LIBS) $(HIREDIS_LIBS) \
	-lpthread
tests_check_daemon_CFLAGS = $(AM_CFLAGS) $(CHECK_CFLAGS)
tests_check_daemon_LDADD = $(TEST_LIBS)

EXTRA_DIST += tests/fuzz tests/README.md tests/check-exports.sh tests/check-installed.sh \
	tests/check-cli.sh tests/check-nss.sh tests/check-werror.sh tests/check-daemon-log.sh \
	tests/check-config.sh tests/data tests/check-prometheus.sh \
	tests/promcheck.py tests/check-load.sh tests/valgrind.sh
TESTS += tests/check-exports.sh tests/check-installed.sh tests/check-cli.sh \
	tests/check-nss.sh \
	tests/check-werror.sh tests/check-daemon-log.sh tests/check-config.sh \
	tests/check-prometheus.sh tests/check-load.sh

# A stand-in for syslogd's /dev/log, for check-daemon-log.sh.  Not a
# check program: those are all tests here (TESTS += $(check_PROGRAMS)).
noinst_PROGRAMS += tests/logsink
tests_logsink_SOURCES = tests/logsink.c

# The load and fault test (tests/check-load.sh runs it) and the clock
# shim its clock-jump case preloads: a module, never installed.
noinst_PROGRAMS += tests/load_fault
tests_load_fault_SOURCES = tests/load_fault.c
tests_load_fault_LDADD = client/libshmcache.la tests/libtestutil.la
noinst_LTLIBRARIES += tests/libclockshift.la
tests_libclockshift_la_SOURCES = tests/clockshift.c
tests_libclockshift_la_LDFLAGS = -module -avoid-version -shared -rpath /nowhere
tests_libclockshift_la_LIBADD = -ldl

# A persistent loader that answers well or badly as each key says, for
# check_loader's workers (and check-nss.sh, as the nss loader's command).
noinst_PROGRAMS += tests/load_worker
tests_load_worker_SOURCES = tests/load_worker.c

# The client side of scripts/demo.sh.
noinst_PROGRAMS += tests/daemon_demo
tests_daemon_demo_SOURCES = tests/daemon_demo.c
tests_daemon_demo_LDADD = tests/libtestutil.la
