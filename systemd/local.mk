# SPDX-License-Identifier: MIT
# systemd/: the service and socket units, sysusers.d and tmpfiles.d entries.
# Directories come from systemd.pc; distcheck installs them under its own
# prefix so it never writes into the live /lib/systemd.
AM_DISTCHECK_CONFIGURE_FLAGS = \
	--with-systemdsystemunitdir=$$dc_install_base/lib/systemd/system \
	--with-tmpfilesdir=$$dc_install_base/lib/tmpfiles.d \
	--with-sysusersdir=$$dc_install_base/lib/sysusers.d --with-python

EXTRA_DIST += systemd/shmcached.service.in systemd/shmcached.socket \
	systemd/shmcached.sysusers systemd/shmcached.tmpfiles
CLEANFILES = systemd/shmcached.service

# Paths in the unit follow configure's choices.
systemd/shmcached.service: $(srcdir)/systemd/shmcached.service.in Makefile
	$(AM_V_GEN)$(MKDIR_P) systemd && \
	sed -e 's|@sbindir[@]|$(sbindir)|g' $(srcdir)/systemd/shmcached.service.in > $@

if HAVE_SYSTEMD
systemdsystemunit_DATA = systemd/shmcached.service systemd/shmcached.socket
endif

if HAVE_TMPFILES
install-data-local: install-tmpfiles
uninstall-local: uninstall-tmpfiles
endif
if HAVE_SYSUSERS
install-data-local: install-sysusers
uninstall-local: uninstall-sysusers
endif

# Both entries are installed as shmcached.conf in their directories.
install-tmpfiles:
	$(MKDIR_P) $(DESTDIR)$(tmpfilesdir)
	$(INSTALL_DATA) $(srcdir)/systemd/shmcached.tmpfiles \
		$(DESTDIR)$(tmpfilesdir)/shmcached.conf
uninstall-tmpfiles:
	rm -f $(DESTDIR)$(tmpfilesdir)/shmcached.conf
install-sysusers:
	$(MKDIR_P) $(DESTDIR)$(sysusersdir)
	$(INSTALL_DATA) $(srcdir)/systemd/shmcached.sysusers \
		$(DESTDIR)$(sysusersdir)/shmcached.conf
uninstall-sysusers:
	rm -f $(DESTDIR)$(sysusersdir)/shmcached.conf

# make check: the unit's exposure score (<= 2.0) and systemd-analyze
# verify of the units as installed into a scratch DESTDIR.
check_SCRIPTS = systemd/shmcached.service
TESTS += tests/check-systemd.sh
EXTRA_DIST += tests/check-systemd.sh
