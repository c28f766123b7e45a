# SPDX-License-Identifier: MIT
# nss/: shmcache as the host's name-service cache.  libnss_shmcache.so.2
# answers glibc's passwd/group/hosts lookups from the daemon's tables
# (libshmcache's code compiled in: the module needs nothing but libc);
# shmcache-nss-load is the "nss" loader those tables run on a miss.
lib_LTLIBRARIES += nss/libnss_shmcache.la
nss_libnss_shmcache_la_SOURCES = nss/nss_shmcache.c nss/nsswire.h \
	$(client_libshmcache_la_SOURCES)
nss_libnss_shmcache_la_CPPFLAGS = $(CLIENT_CPPFLAGS) -DSHMC_BUILDING
nss_libnss_shmcache_la_CFLAGS = $(AM_CFLAGS) -fvisibility=hidden -pthread
# glibc loads "libnss_<service>.so.2": -version-info 2:0:0 names it so.
nss_libnss_shmcache_la_LDFLAGS = -version-info 2:0:0 -no-undefined \
	-export-symbols-regex '^_nss_shmcache_' -pthread
nss_libnss_shmcache_la_LIBADD = common/libshmcommon.la

pkglibexec_PROGRAMS = nss/shmcache-nss-load
nss_shmcache_nss_load_SOURCES = nss/nss-load.c nss/nsswire.h
nss_shmcache_nss_load_CPPFLAGS = $(COMMON_CPPFLAGS)

# glibc opens the module by its soname only: the unversioned .so is of no
# use to anyone (the .la stays: libtool's uninstall works from it).
install-exec-hook:
	rm -f $(DESTDIR)$(libdir)/libnss_shmcache.so
