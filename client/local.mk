# SPDX-License-Identifier: MIT
# client/: libshmcache, the one installed library, and its one header.
lib_LTLIBRARIES = client/libshmcache.la
include_HEADERS = client/shmcache.h
client_libshmcache_la_SOURCES = \
	client/handle.h \
	client/open.c client/get.c client/write.c client/admin.c \
	client/error.c
client_libshmcache_la_CPPFLAGS = $(CLIENT_CPPFLAGS) -DSHMC_BUILDING
client_libshmcache_la_CFLAGS = $(AM_CFLAGS) -fvisibility=hidden -pthread
# -version-info is current:revision:age (libevent's rules): no interface
# change -> c:r+1:a; compatible addition -> c+1:0:a+1; incompatible
# change -> c+1:0:0.  History: 0:0:0 (0.1.0, first release); 1:0:1
# (shmc_mset, shmc_mget, shmc_get_or_load, shmc_mdel; struct shmc_info grew
# at its end; not yet released, so later additions join it).
client_libshmcache_la_LDFLAGS = -version-info 1:0:1 -no-undefined \
	-export-symbols-regex '^shmc_' -pthread
client_libshmcache_la_LIBADD = common/libshmcommon.la

pkgconfigdir = $(libdir)/pkgconfig
pkgconfig_DATA = client/libshmcache.pc

# The tool: public API only (client/shmcache.h), plus jansson for --json.
bin_PROGRAMS = client/tool/shmcachectl
client_tool_shmcachectl_SOURCES = client/tool/shmcachectl.c client/tool/ctl.h \
	client/tool/stats.c client/tool/load.c
client_tool_shmcachectl_CPPFLAGS = $(PATH_CPPFLAGS) -I$(top_srcdir)/client
client_tool_shmcachectl_CFLAGS = $(AM_CFLAGS) $(JANSSON_CFLAGS)
client_tool_shmcachectl_LDADD = client/libshmcache.la $(JANSSON_LIBS)
