# SPDX-License-Identifier: MIT
"""shmcache: a host-local shared-memory key-value cache.

Reads are lock-free from a read-only mapping of the daemon's table (no
system call on a hit); writes go to the ``shmcached`` daemon over its Unix
socket::

    import shmcache
    with shmcache.Cache(table="default") as c:
        c.set(b"user:42", b"alice", ttl=60)
        c.get(b"user:42")             # b"alice"; None on a miss
        c.get_many([b"a", b"b"])      # {key: value} of the hits
        c.set_many({b"a": b"1", b"b": b"2"})
        c.delete_many([b"a", b"b"])   # the keys not there: []

Errors are ``shmcache.Error`` (with ``.code``) or one of its subclasses,
several of which are also the built-in exception that fits: ``NotFound``
(a ``KeyError``), ``NoDaemon`` (a ``ConnectionError``),
``PermissionDenied`` (a ``PermissionError``), ``TooBig`` and ``NotNumber``
(``ValueError``), ``NoTable`` (a ``LookupError``), ``Exists``, ``Busy``,
``Corrupt``, ``ReadOnly``, ``NoLoader``, ``LoaderError``, ``Timeout`` (a
``TimeoutError``).
"""

from ._shmcache import (  # noqa: F401
    NEGATIVE, TTL_NEVER, Busy, Corrupt, Error, Exists, LoaderError,
    NoDaemon, NoLoader, NoTable, NotFound, NotNumber, PermissionDenied,
    ReadOnly, Timeout, TooBig, library_version, strerror,
    ENOTFOUND, ENEGATIVE, EBUSY, ECORRUPT, EVERSION, EEXISTS, ETOOBIG,
    ENOSPACE, EPROTO, ENOTABLE, ENOTNUM, EREADONLY, ENOLOADER, ELOADER)
from ._shmcache import Cache as _Cache

__version__ = "0.1.0"

__all__ = [
    "Cache", "NEGATIVE", "TTL_NEVER", "Error", "NotFound", "Exists",
    "TooBig", "NoDaemon", "PermissionDenied", "Busy", "Corrupt", "ReadOnly",
    "NotNumber", "NoTable", "NoLoader", "LoaderError", "Timeout",
    "library_version", "strerror",
]


class Cache(_Cache):
    __doc__ = _Cache.__doc__
    __slots__ = ()

    def items(self):
        """Iterate over (key, value) of the table's live entries, read
        from the mapping.  Not a snapshot: an entry written meanwhile may
        be missed or seen twice.  Negative entries are left out."""
        cursor = 0
        while True:
            step = self._scan(cursor)
            if step is None:
                return
            cursor, key, value, _expiry_ms, negative = step
            if not negative:
                yield key, value

    def keys(self):
        """Iterate over the keys of items()."""
        for key, _value in self.items():
            yield key

    __iter__ = keys

    def __repr__(self):
        return _Cache.__repr__(self)
