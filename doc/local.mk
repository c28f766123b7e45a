# SPDX-License-Identifier: MIT
# doc/: the man pages.  Pages that name paths or the version are built
# from doc/*.in with configure's choices, so they say what this build
# really uses (ECOSYSTEM.md: "pages that mention paths are .in files");
# libshmcache.3 ships as it is.
dist_man_MANS = doc/libshmcache.3
man_MANS = doc/shmcached.8 doc/shmcached.json.5 doc/shmcachectl.1
EXTRA_DIST += doc/shmcached.8.in doc/shmcached.json.5.in doc/shmcachectl.1.in \
	doc/protocol.md doc/design.md doc/security.md
CLEANFILES += $(man_MANS)

doc/shmcached.8: $(srcdir)/doc/shmcached.8.in
doc/shmcached.json.5: $(srcdir)/doc/shmcached.json.5.in
doc/shmcachectl.1: $(srcdir)/doc/shmcachectl.1.in
$(man_MANS): Makefile
	$(AM_V_GEN)$(MKDIR_P) doc && \
	sed -e 's|@sysconfdir[@]|$(sysconfdir)|g' \
	    -e 's|@runstatedir[@]|$(runstatedir)|g' \
	    -e 's|@statedir[@]|$(shmc_statedir)|g' \
	    -e 's|@pkglibexecdir[@]|$(pkglibexecdir)|g' \
	    -e 's|@VERSION[@]|$(VERSION)|g' \
	    $(srcdir)/$@.in >$@

# make check: every page lints clean and documents what --help lists.
TESTS += tests/check-man.sh
EXTRA_DIST += tests/check-man.sh
