# daemon/: the writer side of a table (the event loop and shmcached itself
# arrive with the daemon issue).
noinst_LTLIBRARIES += daemon/libstore.la
daemon_libstore_la_SOURCES = \
	daemon/store.c daemon/store.h \
	daemon/evict.c
daemon_libstore_la_LIBADD = common/libshmcommon.la
