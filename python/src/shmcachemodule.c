/* SPDX-License-Identifier: MIT */
/*
 * shmcachemodule.c -- the CPython extension shmcache._shmcache: a thin type
 * over libshmcache's handle.
 *
 * Reads (get, get_many, lookup, in, [k]) keep the GIL: a hit costs a few
 * hundred nanoseconds, less than releasing and taking the GIL back, and
 * holding it is what makes the handle's reusable value buffer safe to
 * share.  Everything that talks to the daemon releases the GIL for the
 * round trip.  While any thread is inside such a call, close() only marks
 * the object closing; the last call out closes the handle, so a handle is
 * never freed under a running call.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <errno.h>
#include <stdint.h>
#include <string.h>

#include <shmcache.h>

#define BUF_START 4096u           /* the get buffer's first size */
#define MGET_SLOT_MIN 256u        /* get_many's room per value, at least */
#define MGET_SLOT_MAX (64u << 10) /* ... and at most (larger: one by one) */
#define RELEASE_GIL_KEYS 64       /* get_many releases the GIL from here */

typedef struct {
    PyObject_HEAD shmc_t *h;
    PyObject *socket; /* str or None, for repr */
    PyObject *table;  /* str, or the file path */
    unsigned busy;    /* calls running without the GIL */
    int closing;      /* close() called while busy */
    char *buf;        /* get's value buffer (the GIL guards it) */
    size_t cap;
    size_t slot; /* get_many's room per value: the largest seen */
} CacheObject;

/* Exceptions, by result code. */
static PyObject *Error, *NotFound, *Exists, *TooBig, *NoDaemon,
    *PermissionDenied, *Busy, *Corrupt, *ReadOnly, *NotNumber, *NoTable,
    *NoLoader, *LoaderError, *Timeout;
static PyObject *json_loads;
static PyObject *Negative; /* the NEGATIVE singleton */

/* ---- errors ----------------------------------------------------------- */

/* Raise the exception for result code rc of operation `what`; key (or
 * NULL) is the key it was about.  Always returns NULL. */
static PyObject *
raise_rc(int rc, const char *what, PyObject *key)
{
    PyObject *type = Error, *exc, *code;
    int os_errno = 0;

    switch (rc) {
    case SHMC_ENOTFOUND:
    case SHMC_ENEGATIVE:
        type = NotFound;
        break;
    case SHMC_EEXISTS:
        type = Exists;
        break;
    case SHMC_ETOOBIG:
    case SHMC_ENOSPACE:
        type = TooBig;
        break;
    case SHMC_EBUSY:
        type = Busy;
        break;
    case SHMC_ECORRUPT:
    case SHMC_EVERSION:
        type = Corrupt;
        break;
    case SHMC_EREADONLY:
        type = ReadOnly;
        break;
    case SHMC_ENOTNUM:
        type = NotNumber;
        break;
    case SHMC_ENOTABLE:
        type = NoTable;
        break;
    case SHMC_ENOLOADER:
        type = NoLoader;
        break;
    case SHMC_ELOADER:
        type = LoaderError;
        break;
    case -ETIMEDOUT:
        type = Timeout;
        os_errno = -rc;
        break;
    case -ENOMEM:
        return PyErr_NoMemory();
    case -ENOENT:
    case -ECONNREFUSED:
    case -ECONNRESET:
    case -EPIPE:
    case -ENOTCONN:
        type = NoDaemon;
        os_errno = -rc;
        break;
    case -EACCES:
    case -EPERM:
        type = PermissionDenied;
        os_errno = -rc;
        break;
    default:
        break;
    }
    if (type == NotFound && key != NULL)
        exc = PyObject_CallOneArg(type, key); /* as KeyError does */
    else if (os_errno != 0)
        exc = PyObject_CallFunction(type, "is", os_errno, shmc_strerror(rc));
    else
        exc = PyObject_CallFunction(
            type, "N", PyUnicode_FromFormat("%s: %s", what, shmc_strerror(rc)));
    if (exc == NULL)
        return NULL;
    code = PyLong_FromLong(rc);
    if (code == NULL || PyObject_SetAttrString(exc, "code", code) < 0) {
        Py_XDECREF(code);
        Py_DECREF(exc);
        return NULL;
    }
    Py_DECREF(code);
    PyErr_SetObject(type, exc);
    Py_DECREF(exc);
    return NULL;
}

/* ---- arguments -------------------------------------------------------- */

/* A key or value as bytes: bytes as they are, str as UTF-8.  The pointer
 * stays valid while o is alive. */
static int
bytes_of(PyObject *o, const char **p, Py_ssize_t *n, const char *what)
{
    if (PyBytes_Check(o)) {
        *p = PyBytes_AS_STRING(o);
        *n = PyBytes_GET_SIZE(o);
        return 0;
    }
    if (PyUnicode_Check(o)) {
        *p = PyUnicode_AsUTF8AndSize(o, n);
        return *p != NULL ? 0 : -1;
    }
    PyErr_Format(PyExc_TypeError, "%s must be bytes or str, not %.100s", what,
                 Py_TYPE(o)->tp_name);
    return -1;
}

/* A value: bytes, str, or anything with the buffer protocol (held in
 * *view, which the caller releases when view->obj != NULL). */
static int
value_of(PyObject *o, const char **p, Py_ssize_t *n, Py_buffer *view)
{
    view->obj = NULL;
    if (PyBytes_Check(o) || PyUnicode_Check(o))
        return bytes_of(o, p, n, "value");
    if (PyObject_CheckBuffer(o)) {
        if (PyObject_GetBuffer(o, view, PyBUF_CONTIG_RO) < 0)
            return -1;
        *p = view->buf;
        *n = view->len;
        return 0;
    }
    PyErr_Format(PyExc_TypeError,
                 "value must be bytes, str or a buffer, not %.100s",
                 Py_TYPE(o)->tp_name);
    return -1;
}

/* A TTL in seconds: 0 = the table's default, TTL_NEVER = none. */
static int
ttl_of(PyObject *o, uint32_t *ttl)
{
    unsigned long long v;

    if (o == NULL || o == Py_None) {
        *ttl = 0;
        return 0;
    }
    if (!PyLong_Check(o)) {
        PyErr_Format(PyExc_TypeError, "ttl must be an int, not %.100s",
                     Py_TYPE(o)->tp_name);
        return -1;
    }
    v = PyLong_AsUnsignedLongLong(o);
    if (v == (unsigned long long)-1 && PyErr_Occurred()) {
        PyErr_Clear();
        PyErr_SetString(PyExc_ValueError,
                        "ttl must be 0 .. TTL_NEVER (4294967295)");
        return -1;
    }
    if (v > SHMC_TTL_NEVER) {
        PyErr_SetString(PyExc_ValueError,
                        "ttl must be 0 .. TTL_NEVER (4294967295)");
        return -1;
    }
    *ttl = (uint32_t)v;
    return 0;
}

/* ---- the handle's life ------------------------------------------------ */

static int
check_open(CacheObject *self)
{
    if (self->h == NULL || self->closing) {
        PyErr_SetString(PyExc_ValueError, "operation on a closed Cache");
        return -1;
    }
    return 0;
}

static void
close_now(CacheObject *self)
{
    shmc_t *h = self->h;

    self->h = NULL;
    self->closing = 0;
    if (h != NULL) {
        Py_BEGIN_ALLOW_THREADS shmc_close(h);
        Py_END_ALLOW_THREADS
    }
}

/* Around a call that releases the GIL. */
static void
enter(CacheObject *self)
{
    self->busy++;
}

static void
leave(CacheObject *self)
{
    if (--self->busy == 0 && self->closing)
        close_now(self);
}

static PyObject *
Cache_new(PyTypeObject *type, PyObject *args, PyObject *kw)
{
    CacheObject *self = (CacheObject *)type->tp_alloc(type, 0);

    (void)args;
    (void)kw;
    if (self == NULL)
        return NULL;
    self->slot = MGET_SLOT_MIN;
    Py_INCREF(Py_None);
    self->socket = Py_None;
    Py_INCREF(Py_None);
    self->table = Py_None;
    return (PyObject *)self;
}

static int
Cache_init(CacheObject *self, PyObject *args, PyObject *kw)
{
    static char *names[] = {"socket", "table", NULL};
    PyObject *sock = Py_None, *tab = NULL, *sock_b = NULL;
    const char *table = "default", *path = NULL;
    shmc_t *h = NULL;
    int rc;

    if (!PyArg_ParseTupleAndKeywords(args, kw, "|OU:Cache", names, &sock, &tab))
        return -1;
    if (self->h != NULL || self->busy > 0) {
        PyErr_SetString(PyExc_RuntimeError, "Cache is already open");
        return -1;
    }
    if (tab != NULL && (table = PyUnicode_AsUTF8(tab)) == NULL)
        return -1;
    if (sock != Py_None) {
        if (!PyUnicode_FSConverter(sock, &sock_b))
            return -1;
        path = PyBytes_AS_STRING(sock_b);
    }
    Py_BEGIN_ALLOW_THREADS rc = shmc_open(path, table, 0, &h);
    Py_END_ALLOW_THREADS Py_XDECREF(sock_b);
    if (rc != 0) {
        raise_rc(rc, "open", NULL);
        return -1;
    }
    self->h = h;
    Py_INCREF(sock);
    Py_SETREF(self->socket, sock);
    if (tab == NULL)
        tab = PyUnicode_FromString(table);
    else
        Py_INCREF(tab);
    if (tab == NULL)
        return -1;
    Py_SETREF(self->table, tab);
    return 0;
}

static void
Cache_dealloc(CacheObject *self)
{
    if (self->h != NULL)
        shmc_close(self->h);
    PyMem_Free(self->buf);
    Py_XDECREF(self->socket);
    Py_XDECREF(self->table);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

PyDoc_STRVAR(open_file_doc,
             "open_file(path) -> Cache\n\n"
             "Open a table file read-only, without a daemon: lookups work,\n"
             "writes raise ReadOnly.");

static PyObject *
Cache_open_file(PyTypeObject *type, PyObject *arg)
{
    PyObject *path_b = NULL;
    CacheObject *self;
    shmc_t *h = NULL;
    int rc;

    if (!PyUnicode_FSConverter(arg, &path_b))
        return NULL;
    Py_BEGIN_ALLOW_THREADS rc =
        shmc_open_file(PyBytes_AS_STRING(path_b), 0, &h);
    Py_END_ALLOW_THREADS Py_DECREF(path_b);
    if (rc != 0)
        return raise_rc(rc, "open_file", NULL);
    self = (CacheObject *)Cache_new(type, NULL, NULL);
    if (self == NULL) {
        shmc_close(h);
        return NULL;
    }
    self->h = h;
    Py_INCREF(arg);
    Py_SETREF(self->table, arg);
    return (PyObject *)self;
}

PyDoc_STRVAR(close_doc, "close()\n\nClose the handle (again: no effect).");

static PyObject *
Cache_close(CacheObject *self, PyObject *unused)
{
    (void)unused;
    if (self->busy > 0)
        self->closing = 1; /* the last running call closes it */
    else
        close_now(self);
    Py_RETURN_NONE;
}

static PyObject *
Cache_enter(CacheObject *self, PyObject *unused)
{
    (void)unused;
    if (check_open(self) < 0)
        return NULL;
    Py_INCREF(self);
    return (PyObject *)self;
}

static PyObject *
Cache_exit(CacheObject *self, PyObject *args)
{
    (void)args;
    return Cache_close(self, NULL);
}

static PyObject *
Cache_get_closed(CacheObject *self, void *unused)
{
    (void)unused;
    return PyBool_FromLong(self->h == NULL || self->closing);
}

static PyObject *
Cache_repr(CacheObject *self)
{
    if (self->socket == Py_None)
        return PyUnicode_FromFormat("<shmcache.Cache table=%R%s>", self->table,
                                    self->h == NULL ? " closed" : "");
    return PyUnicode_FromFormat("<shmcache.Cache table=%R socket=%R%s>",
                                self->table, self->socket,
                                self->h == NULL ? " closed" : "");
}

/* ---- reads ------------------------------------------------------------ */

/* Look key up into self->buf, growing it on ERANGE.  Returns shmc_get()'s
 * code (0: the value is buf[0 .. *vlen)), or -ENOMEM with an exception. */
static int
lookup_buf(CacheObject *self, const char *k, Py_ssize_t klen, size_t *vlen)
{
    int rc;

    if (self->buf == NULL) {
        if ((self->buf = PyMem_Malloc(BUF_START)) == NULL) {
            PyErr_NoMemory();
            return -ENOMEM;
        }
        self->cap = BUF_START;
    }
    for (;;) {
        rc = shmc_get(self->h, k, (size_t)klen, self->buf, self->cap, vlen);
        if (rc != SHMC_ERANGE)
            return rc;
        {
            size_t cap = self->cap;
            char *nb;
            while (cap < *vlen)
                cap *= 2;
            nb = PyMem_Realloc(self->buf, cap);
            if (nb == NULL) {
                PyErr_NoMemory();
                return -ENOMEM;
            }
            self->buf = nb;
            self->cap = cap;
        }
    }
}

/* The value of key as bytes; NULL with *rc set to the miss code (no
 * exception) or NULL with an exception (*rc 1). */
static PyObject *
get_value(CacheObject *self, PyObject *key, int *rc)
{
    const char *k;
    Py_ssize_t klen;
    size_t vlen = 0;

    *rc = 1;
    if (check_open(self) < 0 || bytes_of(key, &k, &klen, "key") < 0)
        return NULL;
    *rc = lookup_buf(self, k, klen, &vlen);
    if (*rc == 0)
        return PyBytes_FromStringAndSize(self->buf, (Py_ssize_t)vlen);
    if (*rc == SHMC_ENOTFOUND || *rc == SHMC_ENEGATIVE)
        return NULL;
    if (*rc != -ENOMEM)
        raise_rc(*rc, "get", key);
    *rc = 1;
    return NULL;
}

PyDoc_STRVAR(get_doc, "get(key, default=None) -> bytes\n\n"
                      "The key's value, or default when it is absent,\n"
                      "expired or cached as known absent (set_negative).\n"
                      "Lock-free: no system call on a hit.");

static PyObject *
Cache_get(CacheObject *self, PyObject *const *args, Py_ssize_t nargs,
          PyObject *kwnames)
{
    PyObject *key = NULL, *dflt = Py_None, *v;
    Py_ssize_t i, nkw = kwnames ? PyTuple_GET_SIZE(kwnames) : 0;
    int rc;

    if (nargs > 2 || nargs + nkw > 2) {
        PyErr_SetString(PyExc_TypeError, "get() takes at most 2 arguments");
        return NULL;
    }
    if (nargs >= 1)
        key = args[0];
    if (nargs == 2)
        dflt = args[1];
    for (i = 0; i < nkw; i++) {
        const char *name = PyUnicode_AsUTF8(PyTuple_GET_ITEM(kwnames, i));
        if (name != NULL && strcmp(name, "key") == 0 && key == NULL)
            key = args[nargs + i];
        else if (name != NULL && strcmp(name, "default") == 0 && nargs < 2)
            dflt = args[nargs + i];
        else {
            PyErr_Format(PyExc_TypeError,
                         "get() got an unexpected keyword argument '%s'",
                         name ? name : "?");
            return NULL;
        }
    }
    if (key == NULL) {
        PyErr_SetString(PyExc_TypeError, "get() missing argument 'key'");
        return NULL;
    }
    v = get_value(self, key, &rc);
    if (v != NULL || rc == 1)
        return v;
    Py_INCREF(dflt);
    return dflt;
}

PyDoc_STRVAR(get_or_load_doc,
             "get_or_load(key, default=None) -> bytes\n\n"
             "get(), and on a miss have the daemon run the table's loader\n"
             "for the key (once, however many clients miss it at once) and\n"
             "return its value; default when the loader says the key does\n"
             "not exist.  Raises NoLoader, LoaderError, TimeoutError.");

static PyObject *
Cache_get_or_load(CacheObject *self, PyObject *args, PyObject *kw)
{
    static char *names[] = {"key", "default", NULL};
    PyObject *key, *dflt = Py_None, *v;
    const char *k;
    Py_ssize_t klen;
    size_t vlen = 0, cap = 65536;
    char *tmp;
    int rc;

    if (!PyArg_ParseTupleAndKeywords(args, kw, "O|O:get_or_load", names, &key,
                                     &dflt))
        return NULL;
    v = get_value(self, key, &rc); /* a hit: no round trip, GIL kept */
    if (v != NULL || rc == 1)
        return v;
    if (rc == SHMC_ENEGATIVE) {
        Py_INCREF(dflt);
        return dflt;
    }
    if (bytes_of(key, &k, &klen, "key") < 0)
        return NULL;
    /* A miss: the daemon loads it, which may take a while. */
    if ((tmp = PyMem_RawMalloc(cap)) == NULL)
        return PyErr_NoMemory();
    enter(self);
    Py_BEGIN_ALLOW_THREADS rc =
        shmc_get_or_load(self->h, k, (size_t)klen, tmp, cap, &vlen);
    Py_END_ALLOW_THREADS leave(self);
    if (rc == 0)
        v = PyBytes_FromStringAndSize(tmp, (Py_ssize_t)vlen);
    PyMem_RawFree(tmp);
    if (rc == 0)
        return v;
    if (rc == SHMC_ERANGE) { /* stored now: read it as a hit */
        v = get_value(self, key, &rc);
        if (v != NULL || rc == 1)
            return v;
    }
    if (rc == SHMC_ENEGATIVE) {
        Py_INCREF(dflt);
        return dflt;
    }
    return raise_rc(rc, "get_or_load", key);
}

PyDoc_STRVAR(lookup_doc,
             "lookup(key) -> bytes | NEGATIVE | None\n\n"
             "Like get(), but tells a miss (None) from a key cached as\n"
             "known absent (the NEGATIVE singleton, which is false).");

static PyObject *
Cache_lookup(CacheObject *self, PyObject *key)
{
    PyObject *v;
    int rc;

    v = get_value(self, key, &rc);
    if (v != NULL || rc == 1)
        return v;
    if (rc == SHMC_ENEGATIVE) {
        Py_INCREF(Negative);
        return Negative;
    }
    Py_RETURN_NONE;
}

static PyObject *
Cache_subscript(CacheObject *self, PyObject *key)
{
    PyObject *v;
    int rc;

    v = get_value(self, key, &rc);
    if (v != NULL || rc == 1)
        return v;
    return raise_rc(rc, "get", key);
}

static int
Cache_contains(CacheObject *self, PyObject *key)
{
    PyObject *v;
    int rc;

    v = get_value(self, key, &rc);
    if (v != NULL) {
        Py_DECREF(v);
        return 1;
    }
    return rc == 1 ? -1 : 0;
}

PyDoc_STRVAR(get_many_doc,
             "get_many(keys) -> dict\n\n"
             "Look every key up at once (one shmc_mget: the memory misses\n"
             "of all keys overlap) and return {key: value} for the hits.");

static PyObject *
Cache_get_many(CacheObject *self, PyObject *keys_in)
{
    PyObject *seq, *out = NULL, **items;
    const void **kp = NULL;
    void **bufs = NULL;
    size_t *kl = NULL, *sizes = NULL, *vlens = NULL, slot, i, n;
    char *arena = NULL;
    int *rcs = NULL, rc;

    if (check_open(self) < 0)
        return NULL;
    /* A tuple of our own: another thread may change a list the caller
     * gave while the GIL is released below. */
    seq = PySequence_Tuple(keys_in);
    if (seq == NULL)
        return NULL;
    n = (size_t)PySequence_Fast_GET_SIZE(seq);
    items = PySequence_Fast_ITEMS(seq);
    slot = self->slot;
    kp = PyMem_Malloc(sizeof(*kp) * (n + 1));
    bufs = PyMem_Malloc(sizeof(*bufs) * (n + 1));
    kl = PyMem_Malloc(sizeof(*kl) * (n + 1));
    sizes = PyMem_Malloc(sizeof(*sizes) * (n + 1));
    vlens = PyMem_Malloc(sizeof(*vlens) * (n + 1));
    rcs = PyMem_Malloc(sizeof(*rcs) * (n + 1));
    arena = n <= PY_SSIZE_T_MAX / slot ? PyMem_Malloc(n * slot + 1) : NULL;
    if (!kp || !bufs || !kl || !sizes || !vlens || !rcs || !arena) {
        PyErr_NoMemory();
        goto out;
    }
    for (i = 0; i < n; i++) {
        const char *k;
        Py_ssize_t klen;
        if (bytes_of(items[i], &k, &klen, "key") < 0)
            goto out;
        kp[i] = k;
        kl[i] = (size_t)klen;
        bufs[i] = arena + i * slot;
        sizes[i] = slot;
    }
    if (n >= RELEASE_GIL_KEYS) {
        enter(self);
        Py_BEGIN_ALLOW_THREADS rc =
            shmc_mget(self->h, n, (const void *const *)kp, kl,
                      (void *const *)bufs, sizes, vlens, rcs);
        Py_END_ALLOW_THREADS leave(self);
        if (self->h == NULL) { /* closed meanwhile */
            check_open(self);
            goto out;
        }
    } else {
        rc = shmc_mget(self->h, n, (const void *const *)kp, kl,
                       (void *const *)bufs, sizes, vlens, rcs);
    }
    if (rc != 0) {
        raise_rc(rc, "get_many", NULL);
        goto out;
    }
    if ((out = PyDict_New()) == NULL)
        goto out;
    for (i = 0; i < n; i++) {
        PyObject *v = NULL;
        if (rcs[i] == SHMC_ERANGE) { /* larger than a slot: on its own */
            if (vlens[i] > self->slot)
                self->slot =
                    vlens[i] < MGET_SLOT_MAX ? vlens[i] : MGET_SLOT_MAX;
            rcs[i] = lookup_buf(self, kp[i], (Py_ssize_t)kl[i], &vlens[i]);
            if (rcs[i] == -ENOMEM)
                goto fail;
            if (rcs[i] == 0)
                v = PyBytes_FromStringAndSize(self->buf, (Py_ssize_t)vlens[i]);
        } else if (rcs[i] == 0) {
            v = PyBytes_FromStringAndSize(bufs[i], (Py_ssize_t)vlens[i]);
        }
        if (rcs[i] == 0) {
            if (v == NULL || PyDict_SetItem(out, items[i], v) < 0) {
                Py_XDECREF(v);
                goto fail;
            }
            Py_DECREF(v);
        } else if (rcs[i] != SHMC_ENOTFOUND && rcs[i] != SHMC_ENEGATIVE) {
            raise_rc(rcs[i], "get_many", items[i]);
            goto fail;
        }
    }
    goto out;
fail:
    Py_CLEAR(out);
out:
    PyMem_Free(kp);
    PyMem_Free(bufs);
    PyMem_Free(kl);
    PyMem_Free(sizes);
    PyMem_Free(vlens);
    PyMem_Free(rcs);
    PyMem_Free(arena);
    Py_DECREF(seq);
    return out;
}

/* ---- writes ----------------------------------------------------------- */

enum wop { W_SET, W_ADD, W_REPLACE };

static PyObject *
write_kv(CacheObject *self, PyObject *args, PyObject *kw, enum wop op,
         const char *fmt)
{
    static char *names[] = {"key", "value", "ttl", NULL};
    PyObject *key, *val, *ttl_o = NULL;
    const char *k, *v;
    Py_ssize_t klen, vlen;
    Py_buffer view;
    uint32_t ttl;
    int rc;

    if (!PyArg_ParseTupleAndKeywords(args, kw, fmt, names, &key, &val, &ttl_o))
        return NULL;
    if (check_open(self) < 0 || bytes_of(key, &k, &klen, "key") < 0 ||
        ttl_of(ttl_o, &ttl) < 0 || value_of(val, &v, &vlen, &view) < 0)
        return NULL;
    enter(self);
    Py_BEGIN_ALLOW_THREADS switch (op)
    {
    case W_SET:
        rc = shmc_set(self->h, k, (size_t)klen, v, (size_t)vlen, ttl);
        break;
    case W_ADD:
        rc = shmc_add(self->h, k, (size_t)klen, v, (size_t)vlen, ttl);
        break;
    default:
        rc = shmc_replace(self->h, k, (size_t)klen, v, (size_t)vlen, ttl);
        break;
    }
    Py_END_ALLOW_THREADS leave(self);
    if (view.obj != NULL)
        PyBuffer_Release(&view);
    if (rc != 0)
        return raise_rc(rc,
                        op == W_SET   ? "set"
                        : op == W_ADD ? "add"
                                      : "replace",
                        key);
    Py_RETURN_NONE;
}

PyDoc_STRVAR(set_doc, "set(key, value, ttl=0)\n\n"
                      "Store key -> value through the daemon.  ttl: seconds;\n"
                      "0 = the table's default TTL; TTL_NEVER = no expiry.");

static PyObject *
Cache_set(CacheObject *self, PyObject *args, PyObject *kw)
{
    return write_kv(self, args, kw, W_SET, "OO|O:set");
}

PyDoc_STRVAR(add_doc, "add(key, value, ttl=0)\n\n"
                      "Store only if the key is absent; raises Exists.");

static PyObject *
Cache_add(CacheObject *self, PyObject *args, PyObject *kw)
{
    return write_kv(self, args, kw, W_ADD, "OO|O:add");
}

PyDoc_STRVAR(replace_doc, "replace(key, value, ttl=0)\n\n"
                          "Store only if the key is present; raises NotFound.");

static PyObject *
Cache_replace(CacheObject *self, PyObject *args, PyObject *kw)
{
    return write_kv(self, args, kw, W_REPLACE, "OO|O:replace");
}

static int
Cache_ass_subscript(CacheObject *self, PyObject *key, PyObject *val)
{
    const char *k, *v;
    Py_ssize_t klen, vlen;
    Py_buffer view;
    int rc;

    if (check_open(self) < 0 || bytes_of(key, &k, &klen, "key") < 0)
        return -1;
    view.obj = NULL;
    if (val != NULL && value_of(val, &v, &vlen, &view) < 0)
        return -1;
    enter(self);
    Py_BEGIN_ALLOW_THREADS if (val != NULL) rc =
        shmc_set(self->h, k, (size_t)klen, v, (size_t)vlen, 0);
    else rc = shmc_del(self->h, k, (size_t)klen);
    Py_END_ALLOW_THREADS leave(self);
    if (view.obj != NULL)
        PyBuffer_Release(&view);
    if (rc != 0) {
        raise_rc(rc, val != NULL ? "set" : "delete", key);
        return -1;
    }
    return 0;
}

/* A call about one key whose "absent" answer is False. */
static PyObject *
key_call(CacheObject *self, PyObject *key, PyObject *ttl_o, int touch)
{
    const char *k;
    Py_ssize_t klen;
    uint32_t ttl = 0;
    int rc;

    if (check_open(self) < 0 || bytes_of(key, &k, &klen, "key") < 0 ||
        (touch && ttl_of(ttl_o, &ttl) < 0))
        return NULL;
    enter(self);
    Py_BEGIN_ALLOW_THREADS rc = touch
                                    ? shmc_touch(self->h, k, (size_t)klen, ttl)
                                    : shmc_del(self->h, k, (size_t)klen);
    Py_END_ALLOW_THREADS leave(self);
    if (rc == SHMC_ENOTFOUND)
        Py_RETURN_FALSE;
    if (rc != 0)
        return raise_rc(rc, touch ? "touch" : "delete", key);
    Py_RETURN_TRUE;
}

PyDoc_STRVAR(delete_doc, "delete(key) -> bool\n\n"
                         "Remove the key; False when it was not there.");

static PyObject *
Cache_delete(CacheObject *self, PyObject *key)
{
    return key_call(self, key, NULL, 0);
}

PyDoc_STRVAR(touch_doc, "touch(key, ttl=0) -> bool\n\n"
                        "Give the key a new TTL; False when it is not there.");

static PyObject *
Cache_touch(CacheObject *self, PyObject *args, PyObject *kw)
{
    static char *names[] = {"key", "ttl", NULL};
    PyObject *key, *ttl_o = NULL;

    if (!PyArg_ParseTupleAndKeywords(args, kw, "O|O:touch", names, &key,
                                     &ttl_o))
        return NULL;
    return key_call(self, key, ttl_o, 1);
}

PyDoc_STRVAR(set_negative_doc,
             "set_negative(key, ttl=0)\n\n"
             "Cache \"key is known absent\": get() returns the default,\n"
             "lookup() returns NEGATIVE.");

static PyObject *
Cache_set_negative(CacheObject *self, PyObject *args, PyObject *kw)
{
    static char *names[] = {"key", "ttl", NULL};
    PyObject *key, *ttl_o = NULL;
    const char *k;
    Py_ssize_t klen;
    uint32_t ttl;
    int rc;

    if (!PyArg_ParseTupleAndKeywords(args, kw, "O|O:set_negative", names, &key,
                                     &ttl_o))
        return NULL;
    if (check_open(self) < 0 || bytes_of(key, &k, &klen, "key") < 0 ||
        ttl_of(ttl_o, &ttl) < 0)
        return NULL;
    enter(self);
    Py_BEGIN_ALLOW_THREADS rc =
        shmc_set_negative(self->h, k, (size_t)klen, ttl);
    Py_END_ALLOW_THREADS leave(self);
    if (rc != 0)
        return raise_rc(rc, "set_negative", key);
    Py_RETURN_NONE;
}

static PyObject *
incr_decr(CacheObject *self, PyObject *args, PyObject *kw, int sign,
          const char *fmt)
{
    static char *names[] = {"key", "delta", NULL};
    PyObject *key;
    long long delta = 1;
    const char *k;
    Py_ssize_t klen;
    uint64_t value = 0;
    int rc;

    if (!PyArg_ParseTupleAndKeywords(args, kw, fmt, names, &key, &delta))
        return NULL;
    if (delta < 0) {
        PyErr_SetString(PyExc_ValueError, "delta must be >= 0");
        return NULL;
    }
    if (check_open(self) < 0 || bytes_of(key, &k, &klen, "key") < 0)
        return NULL;
    enter(self);
    Py_BEGIN_ALLOW_THREADS rc =
        shmc_incr(self->h, k, (size_t)klen, sign * (int64_t)delta, &value);
    Py_END_ALLOW_THREADS leave(self);
    if (rc != 0)
        return raise_rc(rc, sign > 0 ? "incr" : "decr", key);
    return PyLong_FromUnsignedLongLong(value);
}

PyDoc_STRVAR(incr_doc,
             "incr(key, delta=1) -> int\n\n"
             "Add delta to a decimal value (wraps at 2**64) and return it;\n"
             "raises NotFound, or NotNumber for a value that is not one.");

static PyObject *
Cache_incr(CacheObject *self, PyObject *args, PyObject *kw)
{
    return incr_decr(self, args, kw, 1, "O|L:incr");
}

PyDoc_STRVAR(decr_doc, "decr(key, delta=1) -> int\n\n"
                       "Subtract delta, stopping at 0, and return the value.");

static PyObject *
Cache_decr(CacheObject *self, PyObject *args, PyObject *kw)
{
    return incr_decr(self, args, kw, -1, "O|L:decr");
}

/* flush(), sync(). */
static PyObject *
table_call(CacheObject *self, int (*fn)(shmc_t *), const char *what)
{
    int rc;

    if (check_open(self) < 0)
        return NULL;
    enter(self);
    Py_BEGIN_ALLOW_THREADS rc = fn(self->h);
    Py_END_ALLOW_THREADS leave(self);
    if (rc != 0)
        return raise_rc(rc, what, NULL);
    Py_RETURN_NONE;
}

PyDoc_STRVAR(flush_doc, "flush()\n\nDrop every entry of the table.");

static PyObject *
Cache_flush(CacheObject *self, PyObject *unused)
{
    (void)unused;
    return table_call(self, shmc_flush, "flush");
}

PyDoc_STRVAR(sync_doc, "sync()\n\nHave the daemon write a disk table to its "
                       "file now.");

static PyObject *
Cache_sync(CacheObject *self, PyObject *unused)
{
    (void)unused;
    return table_call(self, shmc_sync, "sync");
}

PyDoc_STRVAR(set_many_doc,
             "set_many(items, ttl=0) -> list\n\n"
             "Store every (key, value) of a mapping or an iterable of pairs\n"
             "in as few round trips as the daemon's limits allow (one\n"
             "shmc_mset).  Returns the keys that were not stored (empty when\n"
             "all were); raises only when the whole call failed.");

static PyObject *
Cache_set_many(CacheObject *self, PyObject *args, PyObject *kw)
{
    static char *names[] = {"items", "ttl", NULL};
    PyObject *in, *src, *ttl_o = NULL, *pairs, *failed = NULL, **items;
    const void **kp = NULL, **vp = NULL;
    size_t *kl = NULL, *vl = NULL, i, n = 0, nviews = 0;
    Py_buffer *views = NULL;
    uint32_t ttl;
    int *rcs = NULL, rc;

    if (!PyArg_ParseTupleAndKeywords(args, kw, "O|O:set_many", names, &in,
                                     &ttl_o))
        return NULL;
    if (check_open(self) < 0 || ttl_of(ttl_o, &ttl) < 0)
        return NULL;
    if (PyDict_Check(in))
        src = PyDict_Items(in);
    else if (PyMapping_Check(in) && PyObject_HasAttrString(in, "items"))
        src = PyMapping_Items(in);
    else {
        Py_INCREF(in);
        src = in;
    }
    if (src == NULL)
        return NULL;
    /* A tuple of our own: another thread may change a list the caller
     * gave while the GIL is released below. */
    pairs = PySequence_Tuple(src);
    Py_DECREF(src);
    if (pairs == NULL)
        return NULL;
    n = (size_t)PySequence_Fast_GET_SIZE(pairs);
    items = PySequence_Fast_ITEMS(pairs);
    kp = PyMem_Malloc(sizeof(*kp) * (n + 1));
    vp = PyMem_Malloc(sizeof(*vp) * (n + 1));
    kl = PyMem_Malloc(sizeof(*kl) * (n + 1));
    vl = PyMem_Malloc(sizeof(*vl) * (n + 1));
    rcs = PyMem_Malloc(sizeof(*rcs) * (n + 1));
    views = PyMem_Malloc(sizeof(*views) * (n + 1));
    if (!kp || !vp || !kl || !vl || !rcs || !views) {
        PyErr_NoMemory();
        goto out;
    }
    for (i = 0; i < n; i++) {
        PyObject *pair = items[i];
        const char *k, *v;
        Py_ssize_t klen, vlen;
        if (!PyTuple_Check(pair) || PyTuple_GET_SIZE(pair) != 2) {
            PyErr_SetString(PyExc_TypeError,
                            "set_many() wants (key, value) tuples");
            goto out;
        }
        if (bytes_of(PyTuple_GET_ITEM(pair, 0), &k, &klen, "key") < 0 ||
            value_of(PyTuple_GET_ITEM(pair, 1), &v, &vlen, &views[nviews]) < 0)
            goto out;
        if (views[nviews].obj != NULL)
            nviews++;
        kp[i] = k;
        kl[i] = (size_t)klen;
        vp[i] = v;
        vl[i] = (size_t)vlen;
    }
    enter(self);
    Py_BEGIN_ALLOW_THREADS rc =
        shmc_mset(self->h, n, (const void *const *)kp, kl,
                  (const void *const *)vp, vl, ttl, rcs);
    Py_END_ALLOW_THREADS leave(self);
    if (rc != 0) {
        raise_rc(rc, "set_many", NULL);
        goto out;
    }
    if ((failed = PyList_New(0)) == NULL)
        goto out;
    for (i = 0; i < n; i++)
        if (rcs[i] != 0 &&
            PyList_Append(failed, PyTuple_GET_ITEM(items[i], 0)) < 0) {
            Py_CLEAR(failed);
            break;
        }
out:
    for (i = 0; i < nviews; i++)
        PyBuffer_Release(&views[i]);
    PyMem_Free(kp);
    PyMem_Free(vp);
    PyMem_Free(kl);
    PyMem_Free(vl);
    PyMem_Free(rcs);
    PyMem_Free(views);
    Py_DECREF(pairs);
    return failed;
}

PyDoc_STRVAR(delete_many_doc,
             "delete_many(keys) -> list\n\n"
             "Delete every key of an iterable in as few round trips as the\n"
             "daemon's limits allow (one shmc_mdel).  Returns the keys that\n"
             "were not deleted (not there, or refused: too long; empty when\n"
             "all were); raises only when the whole call failed.");

static PyObject *
Cache_delete_many(CacheObject *self, PyObject *keys_in)
{
    PyObject *seq, *failed = NULL, **items;
    const void **kp = NULL;
    size_t *kl = NULL, i, n;
    int *rcs = NULL, rc;

    if (check_open(self) < 0)
        return NULL;
    /* A tuple of our own: another thread may change a list the caller
     * gave while the GIL is released below. */
    seq = PySequence_Tuple(keys_in);
    if (seq == NULL)
        return NULL;
    n = (size_t)PySequence_Fast_GET_SIZE(seq);
    items = PySequence_Fast_ITEMS(seq);
    kp = PyMem_Malloc(sizeof(*kp) * (n + 1));
    kl = PyMem_Malloc(sizeof(*kl) * (n + 1));
    rcs = PyMem_Malloc(sizeof(*rcs) * (n + 1));
    if (!kp || !kl || !rcs) {
        PyErr_NoMemory();
        goto out;
    }
    for (i = 0; i < n; i++) {
        const char *k;
        Py_ssize_t klen;
        if (bytes_of(items[i], &k, &klen, "key") < 0)
            goto out;
        kp[i] = k;
        kl[i] = (size_t)klen;
    }
    enter(self);
    Py_BEGIN_ALLOW_THREADS rc =
        shmc_mdel(self->h, n, (const void *const *)kp, kl, rcs);
    Py_END_ALLOW_THREADS leave(self);
    if (rc != 0) {
        raise_rc(rc, "delete_many", NULL);
        goto out;
    }
    if ((failed = PyList_New(0)) == NULL)
        goto out;
    for (i = 0; i < n; i++)
        if (rcs[i] != 0 && PyList_Append(failed, items[i]) < 0) {
            Py_CLEAR(failed);
            break;
        }
out:
    PyMem_Free(kp);
    PyMem_Free(kl);
    PyMem_Free(rcs);
    Py_DECREF(seq);
    return failed;
}

/* ---- introspection ---------------------------------------------------- */

static PyObject *
stats_call(CacheObject *self, int which)
{
    char *json = NULL;
    PyObject *text, *out;
    int rc;

    if (check_open(self) < 0)
        return NULL;
    enter(self);
    Py_BEGIN_ALLOW_THREADS rc = shmc_stats_json(self->h, which, &json);
    Py_END_ALLOW_THREADS leave(self);
    if (rc != 0)
        return raise_rc(rc, "stats", NULL);
    text = PyUnicode_FromString(json);
    free(json);
    if (text == NULL)
        return NULL;
    out = PyObject_CallOneArg(json_loads, text);
    Py_DECREF(text);
    return out;
}

PyDoc_STRVAR(stats_doc,
             "stats(all=False) -> dict\n\n"
             "The daemon's statistics for this table, or (all=True) for the\n"
             "daemon and every table.");

static PyObject *
Cache_stats(CacheObject *self, PyObject *args, PyObject *kw)
{
    static char *names[] = {"all", NULL};
    int all = 0;

    if (!PyArg_ParseTupleAndKeywords(args, kw, "|p:stats", names, &all))
        return NULL;
    return stats_call(self, all ? SHMC_STATS_ALL : SHMC_STATS_TABLE);
}

PyDoc_STRVAR(tables_doc, "tables() -> list\n\nThe daemon's tables.");

static PyObject *
Cache_tables(CacheObject *self, PyObject *unused)
{
    (void)unused;
    return stats_call(self, SHMC_LIST_TABLES);
}

PyDoc_STRVAR(info_doc, "info() -> dict\n\n"
                       "The table's header, read from the mapping (no daemon "
                       "needed).");

static PyObject *
Cache_info(CacheObject *self, PyObject *unused)
{
    struct shmc_info i;
    int rc;

    (void)unused;
    if (check_open(self) < 0)
        return NULL;
    if ((rc = shmc_info(self->h, &i, sizeof(i))) != 0)
        return raise_rc(rc, "info", NULL);
    return Py_BuildValue(
        "{sKsKsKsKsKsKsKsKsKsKsKsKsKsKsKsIsOsOsKsKsK}", "file_size",
        (unsigned long long)i.file_size, "arena_bytes",
        (unsigned long long)i.arena_bytes, "used_bytes",
        (unsigned long long)i.used_bytes, "buckets",
        (unsigned long long)i.buckets, "max_key_bytes",
        (unsigned long long)i.max_key_bytes, "max_value_bytes",
        (unsigned long long)i.max_value_bytes, "generation",
        (unsigned long long)i.generation, "created_ms",
        (unsigned long long)i.created_ms, "heartbeat_ms",
        (unsigned long long)i.heartbeat_ms, "entries",
        (unsigned long long)i.entries, "sets", (unsigned long long)i.sets,
        "deletes", (unsigned long long)i.deletes, "evictions",
        (unsigned long long)i.evictions, "expirations",
        (unsigned long long)i.expirations, "relocations",
        (unsigned long long)i.relocations, "format_version",
        (unsigned)i.format_version, "retired", i.retired ? Py_True : Py_False,
        "clean", i.clean ? Py_True : Py_False, "live_bytes",
        (unsigned long long)i.live_bytes, "moves", (unsigned long long)i.moves,
        "evictions_index", (unsigned long long)i.evictions_index);
}

PyDoc_STRVAR(counters_doc, "counters() -> (hits, misses)\n\n"
                           "This handle's lookups (hits never reach the "
                           "daemon).");

static PyObject *
Cache_counters(CacheObject *self, PyObject *unused)
{
    uint64_t hits = 0, misses = 0;

    (void)unused;
    if (check_open(self) < 0)
        return NULL;
    shmc_counters(self->h, &hits, &misses);
    return Py_BuildValue("(KK)", (unsigned long long)hits,
                         (unsigned long long)misses);
}

PyDoc_STRVAR(scan_doc,
             "_scan(cursor) -> (cursor, key, value, expiry_ms, negative) | "
             "None\n\n"
             "One step of a walk over the table (see items()); None at the "
             "end.");

static PyObject *
Cache_scan(CacheObject *self, PyObject *arg)
{
    unsigned long long c = PyLong_AsUnsignedLongLong(arg);
    uint64_t cursor = c, expiry = 0;
    size_t klen = 0, vlen = 0;
    char kbuf[4096];
    int rc, neg = 0;

    if (c == (unsigned long long)-1 && PyErr_Occurred())
        return NULL;
    if (check_open(self) < 0)
        return NULL;
    if (self->buf == NULL) {
        if ((self->buf = PyMem_Malloc(BUF_START)) == NULL)
            return PyErr_NoMemory();
        self->cap = BUF_START;
    }
    for (;;) {
        rc = shmc_scan(self->h, &cursor, kbuf, sizeof(kbuf), &klen, self->buf,
                       self->cap, &vlen, &expiry, &neg);
        if (rc == SHMC_ECORRUPT)
            continue; /* skipped: the cursor moved past it */
        if (rc != SHMC_ERANGE || vlen <= self->cap)
            break;
        {
            char *nb = PyMem_Realloc(self->buf, vlen);
            if (nb == NULL)
                return PyErr_NoMemory();
            self->buf = nb;
            self->cap = vlen;
        }
    }
    if (rc == SHMC_ENOTFOUND)
        Py_RETURN_NONE;
    if (rc != 0)
        return raise_rc(rc, "scan", NULL);
    return Py_BuildValue("(Ky#y#KO)", (unsigned long long)cursor, kbuf,
                         (Py_ssize_t)klen, self->buf, (Py_ssize_t)vlen,
                         (unsigned long long)expiry, neg ? Py_True : Py_False);
}

/* ---- the type --------------------------------------------------------- */

static PyMethodDef Cache_methods[] = {
    {"open_file", (PyCFunction)Cache_open_file, METH_O | METH_CLASS,
     open_file_doc},
    {"close", (PyCFunction)Cache_close, METH_NOARGS, close_doc},
    {"__enter__", (PyCFunction)Cache_enter, METH_NOARGS, NULL},
    {"__exit__", (PyCFunction)Cache_exit, METH_VARARGS, NULL},
    {"get", (PyCFunction)(void (*)(void))Cache_get,
     METH_FASTCALL | METH_KEYWORDS, get_doc},
    {"lookup", (PyCFunction)Cache_lookup, METH_O, lookup_doc},
    {"get_or_load", (PyCFunction)(void (*)(void))Cache_get_or_load,
     METH_VARARGS | METH_KEYWORDS, get_or_load_doc},
    {"get_many", (PyCFunction)Cache_get_many, METH_O, get_many_doc},
    {"set", (PyCFunction)(void (*)(void))Cache_set,
     METH_VARARGS | METH_KEYWORDS, set_doc},
    {"add", (PyCFunction)(void (*)(void))Cache_add,
     METH_VARARGS | METH_KEYWORDS, add_doc},
    {"replace", (PyCFunction)(void (*)(void))Cache_replace,
     METH_VARARGS | METH_KEYWORDS, replace_doc},
    {"delete", (PyCFunction)Cache_delete, METH_O, delete_doc},
    {"touch", (PyCFunction)(void (*)(void))Cache_touch,
     METH_VARARGS | METH_KEYWORDS, touch_doc},
    {"incr", (PyCFunction)(void (*)(void))Cache_incr,
     METH_VARARGS | METH_KEYWORDS, incr_doc},
    {"decr", (PyCFunction)(void (*)(void))Cache_decr,
     METH_VARARGS | METH_KEYWORDS, decr_doc},
    {"set_negative", (PyCFunction)(void (*)(void))Cache_set_negative,
     METH_VARARGS | METH_KEYWORDS, set_negative_doc},
    {"set_many", (PyCFunction)(void (*)(void))Cache_set_many,
     METH_VARARGS | METH_KEYWORDS, set_many_doc},
    {"delete_many", (PyCFunction)Cache_delete_many, METH_O, delete_many_doc},
    {"flush", (PyCFunction)Cache_flush, METH_NOARGS, flush_doc},
    {"sync", (PyCFunction)Cache_sync, METH_NOARGS, sync_doc},
    {"stats", (PyCFunction)(void (*)(void))Cache_stats,
     METH_VARARGS | METH_KEYWORDS, stats_doc},
    {"tables", (PyCFunction)Cache_tables, METH_NOARGS, tables_doc},
    {"info", (PyCFunction)Cache_info, METH_NOARGS, info_doc},
    {"counters", (PyCFunction)Cache_counters, METH_NOARGS, counters_doc},
    {"_scan", (PyCFunction)Cache_scan, METH_O, scan_doc},
    {NULL, NULL, 0, NULL}};

static PyGetSetDef Cache_getset[] = {
    {"closed", (getter)Cache_get_closed, NULL, "True once close()d.", NULL},
    {NULL, NULL, NULL, NULL, NULL}};

static PyMappingMethods Cache_as_mapping = {NULL, (binaryfunc)Cache_subscript,
                                            (objobjargproc)Cache_ass_subscript};

static PySequenceMethods Cache_as_sequence = {.sq_contains =
                                                  (objobjproc)Cache_contains};

PyDoc_STRVAR(
    Cache_doc,
    "Cache(socket=None, table=\"default\")\n\n"
    "A table of a shmcached daemon.  socket: the daemon's control socket\n"
    "(None: $SHMCACHE_SOCKET, else /run/shmcached/control.sock).  Reads\n"
    "are lock-free from a read-only mapping; writes go to the daemon.\n"
    "Keys and values are bytes (str is encoded as UTF-8); values may be\n"
    "any buffer.  Safe to share between threads; a forked child keeps\n"
    "working.  A context manager: the handle is closed on exit.");

static PyTypeObject CacheType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "shmcache._shmcache.Cache",
    .tp_basicsize = sizeof(CacheObject),
    .tp_dealloc = (destructor)Cache_dealloc,
    .tp_repr = (reprfunc)Cache_repr,
    .tp_as_sequence = &Cache_as_sequence,
    .tp_as_mapping = &Cache_as_mapping,
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE,
    .tp_doc = Cache_doc,
    .tp_methods = Cache_methods,
    .tp_getset = Cache_getset,
    .tp_init = (initproc)Cache_init,
    .tp_new = Cache_new,
};

/* NEGATIVE: a false singleton with a readable repr. */
static PyObject *
Negative_repr(PyObject *self)
{
    (void)self;
    return PyUnicode_FromString("shmcache.NEGATIVE");
}

static int
Negative_bool(PyObject *self)
{
    (void)self;
    return 0;
}

static PyNumberMethods Negative_as_number = {.nb_bool = Negative_bool};

static PyTypeObject NegativeType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "shmcache._shmcache.NegativeType",
    .tp_basicsize = sizeof(PyObject),
    .tp_repr = Negative_repr,
    .tp_as_number = &Negative_as_number,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "The type of NEGATIVE: a key cached as known absent.",
};

/* ---- the module ------------------------------------------------------- */

static int
add_exc(PyObject *m, PyObject **slot, const char *name, const char *doc,
        PyObject *bases)
{
    char full[64];

    snprintf(full, sizeof(full), "shmcache.%s", name);
    *slot = PyErr_NewExceptionWithDoc(full, doc, bases, NULL);
    Py_XDECREF(bases);
    if (*slot == NULL)
        return -1;
    Py_INCREF(*slot);
    return PyModule_AddObject(m, name, *slot) < 0 ? -1 : 0;
}

/* (Error, builtin) as a base tuple. */
static PyObject *
with(PyObject *builtin)
{
    return builtin ? PyTuple_Pack(2, Error, builtin) : PyTuple_Pack(1, Error);
}

static PyObject *
version(PyObject *m, PyObject *unused)
{
    (void)m;
    (void)unused;
    return PyUnicode_FromString(shmc_version());
}

static PyObject *
strerror_(PyObject *m, PyObject *arg)
{
    long code = PyLong_AsLong(arg);

    (void)m;
    if (code == -1 && PyErr_Occurred())
        return NULL;
    return PyUnicode_FromString(shmc_strerror((int)code));
}

static PyMethodDef module_methods[] = {
    {"library_version", version, METH_NOARGS,
     "library_version() -> str: the libshmcache in use."},
    {"strerror", strerror_, METH_O,
     "strerror(code) -> str: describe a result code."},
    {NULL, NULL, 0, NULL}};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT,
    "shmcache._shmcache",
    "The C core of the shmcache module (import shmcache instead).",
    -1,
    module_methods,
    NULL,
    NULL,
    NULL,
    NULL};

PyMODINIT_FUNC PyInit__shmcache(void);

PyMODINIT_FUNC
PyInit__shmcache(void)
{
    PyObject *m, *json;

    if (PyType_Ready(&CacheType) < 0 || PyType_Ready(&NegativeType) < 0)
        return NULL;
    m = PyModule_Create(&module);
    if (m == NULL)
        return NULL;
    json = PyImport_ImportModule("json");
    if (json == NULL)
        goto fail;
    json_loads = PyObject_GetAttrString(json, "loads");
    Py_DECREF(json);
    if (json_loads == NULL)
        goto fail;
    Error = PyErr_NewExceptionWithDoc(
        "shmcache.Error", "A shmcache error; .code is the library's code.",
        PyExc_Exception, NULL);
    if (Error == NULL)
        goto fail;
    Py_INCREF(Error);
    if (PyModule_AddObject(m, "Error", Error) < 0 ||
        add_exc(m, &NotFound, "NotFound", "No such key (also a KeyError).",
                with(PyExc_KeyError)) < 0 ||
        add_exc(m, &Exists, "Exists", "add(): the key is already there.",
                with(NULL)) < 0 ||
        add_exc(m, &TooBig, "TooBig",
                "Key or value over the table's limits (also a ValueError).",
                with(PyExc_ValueError)) < 0 ||
        add_exc(m, &NoDaemon, "NoDaemon",
                "The daemon cannot be reached (also a ConnectionError).",
                with(PyExc_ConnectionError)) < 0 ||
        add_exc(m, &PermissionDenied, "PermissionDenied",
                "The table's ACL refuses (also a PermissionError).",
                with(PyExc_PermissionError)) < 0 ||
        add_exc(m, &Busy, "Busy",
                "An entry stayed busy: the daemon died "
                "mid-write.",
                with(NULL)) < 0 ||
        add_exc(m, &Corrupt, "Corrupt",
                "The table file is damaged or of an unknown format.",
                with(NULL)) < 0 ||
        add_exc(m, &ReadOnly, "ReadOnly",
                "A write through a handle from open_file().", with(NULL)) < 0 ||
        add_exc(m, &NotNumber, "NotNumber",
                "incr/decr of a value that is not a decimal number (also a "
                "ValueError).",
                with(PyExc_ValueError)) < 0 ||
        add_exc(m, &NoTable, "NoTable",
                "The daemon has no table of that name (also a LookupError).",
                with(PyExc_LookupError)) < 0 ||
        add_exc(m, &NoLoader, "NoLoader",
                "get_or_load(): the table has no "
                "loader.",
                with(NULL)) < 0 ||
        add_exc(m, &LoaderError, "LoaderError",
                "get_or_load(): the table's loader failed.", with(NULL)) < 0 ||
        add_exc(m, &Timeout, "Timeout",
                "No answer in time: the daemon, or a loader that ran past "
                "its timeout (also a TimeoutError).",
                with(PyExc_TimeoutError)) < 0)
        goto fail;
    Negative = PyObject_New(PyObject, &NegativeType);
    if (Negative == NULL)
        goto fail;
    Py_INCREF(Negative);
    Py_INCREF(&CacheType);
    if (PyModule_AddObject(m, "NEGATIVE", Negative) < 0 ||
        PyModule_AddObject(m, "Cache", (PyObject *)&CacheType) < 0 ||
        PyModule_AddIntConstant(m, "TTL_NEVER", (long)SHMC_TTL_NEVER) < 0 ||
        PyModule_AddIntConstant(m, "ENOTFOUND", SHMC_ENOTFOUND) < 0 ||
        PyModule_AddIntConstant(m, "ENEGATIVE", SHMC_ENEGATIVE) < 0 ||
        PyModule_AddIntConstant(m, "EBUSY", SHMC_EBUSY) < 0 ||
        PyModule_AddIntConstant(m, "ECORRUPT", SHMC_ECORRUPT) < 0 ||
        PyModule_AddIntConstant(m, "EVERSION", SHMC_EVERSION) < 0 ||
        PyModule_AddIntConstant(m, "EEXISTS", SHMC_EEXISTS) < 0 ||
        PyModule_AddIntConstant(m, "ETOOBIG", SHMC_ETOOBIG) < 0 ||
        PyModule_AddIntConstant(m, "ENOSPACE", SHMC_ENOSPACE) < 0 ||
        PyModule_AddIntConstant(m, "EPROTO", SHMC_EPROTO) < 0 ||
        PyModule_AddIntConstant(m, "ENOTABLE", SHMC_ENOTABLE) < 0 ||
        PyModule_AddIntConstant(m, "ENOTNUM", SHMC_ENOTNUM) < 0 ||
        PyModule_AddIntConstant(m, "EREADONLY", SHMC_EREADONLY) < 0 ||
        PyModule_AddIntConstant(m, "ENOLOADER", SHMC_ENOLOADER) < 0 ||
        PyModule_AddIntConstant(m, "ELOADER", SHMC_ELOADER) < 0)
        goto fail;
    return m;
fail:
    Py_DECREF(m);
    return NULL;
}
