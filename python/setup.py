# SPDX-License-Identifier: MIT
"""Build the shmcache extension against an installed libshmcache.

The library is found with pkg-config (libshmcache.pc).  To build against
an uninstalled tree instead, set SHMCACHE_CFLAGS and SHMCACHE_LIBS (as
`make python` does).
"""
import os
import shlex
import subprocess

from setuptools import Extension, setup


def flags(var, pkg_args):
    if var in os.environ:
        return shlex.split(os.environ[var])
    try:
        out = subprocess.run(["pkg-config"] + pkg_args + ["libshmcache"],
                             check=True, capture_output=True, text=True)
    except (OSError, subprocess.CalledProcessError) as e:
        raise SystemExit(
            "shmcache: libshmcache not found by pkg-config (install "
            "libshmcache-dev, or set PKG_CONFIG_PATH, or SHMCACHE_CFLAGS "
            "and SHMCACHE_LIBS): %s" % e)
    return shlex.split(out.stdout)


cflags = flags("SHMCACHE_CFLAGS", ["--cflags"])
libs = flags("SHMCACHE_LIBS", ["--libs"])
here = os.path.dirname(os.path.abspath(__file__))

setup(
    name="shmcache",
    version="0.1.0",
    description="Python binding of shmcache, a shared-memory key-value cache",
    license="MIT",
    packages=["shmcache"],
    package_dir={"shmcache": os.path.join(here, "shmcache")},
    ext_modules=[
        Extension(
            "shmcache._shmcache",
            sources=[os.path.join(here, "src", "shmcachemodule.c")],
            include_dirs=[f[2:] for f in cflags if f.startswith("-I")],
            extra_compile_args=[f for f in cflags if not f.startswith("-I")],
            library_dirs=[f[2:] for f in libs if f.startswith("-L")],
            libraries=[f[2:] for f in libs if f.startswith("-l")],
            extra_link_args=[f for f in libs
                             if not f.startswith(("-L", "-l"))],
        )
    ],
    python_requires=">=3.9",
)
