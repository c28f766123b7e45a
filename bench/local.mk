# SPDX-License-Identifier: MIT
# bench/: speed is measured here, never in timed unit tests.
noinst_PROGRAMS += bench/bench
bench_bench_SOURCES = bench/bench.c bench/ref.c bench/ref.h
bench_bench_LDADD = daemon/libstore.la common/libshmcommon.la
EXTRA_DIST += bench/run.sh bench/memory.sh bench/memory.py bench/hits.sh bench/latency.sh \
	bench/profile.sh

noinst_PROGRAMS += bench/bench_set
bench_bench_set_SOURCES = bench/bench_set.c
bench_bench_set_LDADD = common/libshmcommon.la

noinst_PROGRAMS += bench/bench_restart
bench_bench_restart_SOURCES = bench/bench_restart.c
bench_bench_restart_LDADD = common/libshmcommon.la

noinst_PROGRAMS += bench/bench_fill
bench_bench_fill_SOURCES = bench/bench_fill.c
bench_bench_fill_LDADD = daemon/libstore.la common/libshmcommon.la

noinst_PROGRAMS += bench/bench_hits
bench_bench_hits_SOURCES = bench/bench_hits.c
bench_bench_hits_LDADD = client/libshmcache.la -lm

noinst_PROGRAMS += bench/bench_load
bench_bench_load_SOURCES = bench/bench_load.c
bench_bench_load_LDADD = client/libshmcache.la

noinst_PROGRAMS += bench/bench_get
bench_bench_get_SOURCES = bench/bench_get.c
bench_bench_get_LDADD = client/libshmcache.la
EXTRA_DIST += bench/python.py

noinst_PROGRAMS += bench/bench_nss
bench_bench_nss_SOURCES = bench/bench_nss.c
EXTRA_DIST += bench/nss.sh

# The side-by-side benchmark (bench/run.sh).  Redis (hiredis) and LMDB
# are linked when configure found them; without them it still builds and
# runs the others.
noinst_PROGRAMS += bench/bench_vs
bench_bench_vs_SOURCES = bench/bench_vs.c bench/ref.c bench/ref.h \
	bench/workload.c bench/workload.h
bench_bench_vs_CFLAGS = $(AM_CFLAGS) $(JANSSON_CFLAGS)
bench_bench_vs_LDADD = client/libshmcache.la $(JANSSON_LIBS) -lm
if HAVE_HIREDIS
bench_bench_vs_CFLAGS += $(HIREDIS_CFLAGS)
bench_bench_vs_LDADD += $(HIREDIS_LIBS)
endif
if HAVE_LMDB
bench_bench_vs_CFLAGS += $(LMDB_CFLAGS)
bench_bench_vs_LDADD += $(LMDB_LIBS)
endif

# Issue 16: shmcache as a near cache in front of Redis, against Redis
# itself and a per-process client-side cache (bench/near.sh).  Needs
# hiredis for all three.
EXTRA_DIST += bench/near.sh
if HAVE_HIREDIS
noinst_PROGRAMS += bench/bench_near
bench_bench_near_SOURCES = bench/bench_near.c bench/ref.c bench/ref.h \
	bench/workload.c bench/workload.h
bench_bench_near_CFLAGS = $(AM_CFLAGS) $(JANSSON_CFLAGS) $(HIREDIS_CFLAGS) \
	-pthread
bench_bench_near_LDADD = client/libshmcache.la $(JANSSON_LIBS) \
	$(HIREDIS_LIBS) -lpthread -lm
endif
