# SPDX-License-Identifier: MIT
# python/: the CPython extension over libshmcache.  `make python` builds it
# with setuptools into python/build/ (against the library just built);
# make check runs its pytest suite (tests/check-python.sh); make install
# puts the package in $(shmc_pythondir).  All only when configured
# --with-python; `pip install ./python` builds it against an installed
# library instead.
EXTRA_DIST += python/setup.py python/shmcache/__init__.py \
	python/src/shmcachemodule.c python/tests/test_shmcache.py \
	tests/check-python.sh
TESTS += tests/check-python.sh
.PHONY: python

if WITH_PYTHON
PY_BUILD = python/build
PY_STAMP = $(PY_BUILD)/shmcache/__init__.py

python: $(PY_STAMP)
all-local: python

$(PY_STAMP): client/libshmcache.la $(srcdir)/client/shmcache.h \
		$(srcdir)/python/setup.py $(srcdir)/python/shmcache/__init__.py \
		$(srcdir)/python/src/shmcachemodule.c
	$(AM_V_GEN)rm -rf $(PY_BUILD) python/tmp && \
	SHMCACHE_CFLAGS="-I$(abs_top_srcdir)/client $(WARN_CFLAGS) $(CFLAGS)" \
	SHMCACHE_LIBS="-L$(abs_top_builddir)/client/.libs -lshmcache $(LDFLAGS)" \
	$(PYTHON) $(abs_top_srcdir)/python/setup.py -q build_ext \
		-b $(abs_top_builddir)/$(PY_BUILD) \
		-t $(abs_top_builddir)/python/tmp && \
	cp $(srcdir)/python/shmcache/__init__.py $(PY_STAMP)

install-exec-local: $(PY_STAMP)
	$(MKDIR_P) $(DESTDIR)$(shmc_pythondir)/shmcache
	$(INSTALL_DATA) $(PY_STAMP) $(PY_BUILD)/shmcache/_shmcache*.so \
		$(DESTDIR)$(shmc_pythondir)/shmcache/

uninstall-local:
	rm -f $(DESTDIR)$(shmc_pythondir)/shmcache/__init__.py \
		$(DESTDIR)$(shmc_pythondir)/shmcache/_shmcache*.so
	-rmdir $(DESTDIR)$(shmc_pythondir)/shmcache

clean-local:
	rm -rf $(PY_BUILD) python/tmp
else
python:
	@echo "make python: configure --with-python first" >&2; exit 1
endif
