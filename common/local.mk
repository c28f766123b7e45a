# SPDX-License-Identifier: MIT
# common/: what the daemon and the library must agree on.  libc only.
noinst_LTLIBRARIES += common/libshmcommon.la
common_libshmcommon_la_SOURCES = \
	common/crc32c.c common/crc32c.h \
	common/entry.c common/entry.h \
	common/error.c common/error.h \
	common/fdpass.h \
	common/loadwire.h \
	common/format.h \
	common/hash.c common/hash.h \
	common/mapping.c common/mapping.h \
	common/proto.c common/proto.h \
	common/seqlock.h \
	common/table.c common/table.h
common_libshmcommon_la_CPPFLAGS = $(COMMON_CPPFLAGS)
