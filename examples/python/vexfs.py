# SPDX-License-Identifier: Apache-2.0
"""VexFS from Python: a small binding of libvexfs (the C client library) through ctypes.

    import vexfs
    with vexfs.Client(identity="acme-app") as c:        # any key of the client's configuration
        c.emit({"type": "filesystem_write", "path": "/data/a.txt", "content": {"size": "4096"}})
        c.flush()                                         # acknowledged by propagation
        status, rules = c.call("routing", "GET", "/v1/rules")

Settings are the library's configuration keys (client, security and transport sections, see
the README); the environment variables of the suite apply as for every program
(VEXFS_SECURITY_KEYS_DIR, VEXFS_CLIENT_INGEST_ENDPOINT, VEXFS_ROUTING_URL, ...). The library is
found through $VEXFS_LIB (a path), else the system's linker paths (libvexfs.so.1).

Errors raise VexfsError, an OSError whose errno is the library's (ENOBUFS: the buffer stayed
full; ETIMEDOUT: not acknowledged in time, still being delivered; EINVAL: a bad event, nothing
taken) and whose message is the library's own. A Client may be used from several threads."""

import ctypes
import ctypes.util
import errno
import json
import os

__all__ = ["Client", "Tap", "VexfsError", "load"]

_lib = None


class VexfsError(OSError):
    """A failed libvexfs call: errno and the library's message."""


class _Stats(ctypes.Structure):
    _fields_ = [(name, ctypes.c_uint64 if name != "size" else ctypes.c_size_t) for name in (
        "size", "emitted_events", "acked_events", "resent_events", "lost_events",
        "refused_events", "full_waits", "full_timeouts", "batches_sent", "link_resets",
        "buffered_batches", "unacked_batches")]


def load(path=None):
    """Loads libvexfs (once) and declares its functions."""
    global _lib
    if _lib is not None:
        return _lib
    path = path or os.environ.get("VEXFS_LIB") or ctypes.util.find_library("vexfs") \
        or "libvexfs.so.1"
    lib = ctypes.CDLL(path)
    p, i, s, u64 = ctypes.c_void_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint64
    sigs = {
        "vexfs_version": (s, []),
        "vexfs_last_error": (s, []),
        "vexfs_free": (None, [p]),
        "vexfs_config_new": (p, []),
        "vexfs_config_destroy": (None, [ctypes.POINTER(p)]),
        "vexfs_config_load": (i, [p, s]),
        "vexfs_config_set": (i, [p, s, s]),
        "vexfs_client_new": (p, [p]),
        "vexfs_client_connect": (i, [p]),
        "vexfs_client_close": (i, [ctypes.POINTER(p), i, ctypes.POINTER(u64)]),
        "vexfs_client_emit_json": (i, [p, s, i]),
        "vexfs_client_flush": (i, [p, i]),
        "vexfs_client_stats": (i, [p, ctypes.POINTER(_Stats)]),
        "vexfs_client_call": (i, [p, s, s, s, s, ctypes.POINTER(ctypes.c_long),
                                  ctypes.POINTER(p)]),
        "vexfs_tap_open": (p, [p, s]),
        "vexfs_tap_next": (i, [p, i, ctypes.POINTER(p)]),
        "vexfs_tap_missed": (None, [p, ctypes.POINTER(u64), ctypes.POINTER(u64)]),
        "vexfs_tap_close": (None, [ctypes.POINTER(p)]),
    }
    for name, (res, args) in sigs.items():
        fn = getattr(lib, name)
        fn.restype = res
        fn.argtypes = args
    _lib = lib
    return lib


def _error(rc):
    msg = _lib.vexfs_last_error().decode("utf-8", "replace")
    return VexfsError(-rc, msg)


def _check(rc):
    if rc < 0:
        raise _error(rc)
    return rc


def _take_string(ptr):
    """A string the library returned: copied, then freed with vexfs_free."""
    try:
        return ctypes.string_at(ptr).decode("utf-8")
    finally:
        _lib.vexfs_free(ptr)


class Client:
    """One connection to the suite: emit events, read taps, call the admin API."""

    def __init__(self, config_file=None, **settings):
        lib = load()
        cfg = ctypes.c_void_p(lib.vexfs_config_new())
        try:
            if config_file is not None:
                _check(lib.vexfs_config_load(cfg, os.fsencode(config_file)))
            for key, value in settings.items():
                if isinstance(value, bool):
                    value = "true" if value else "false"
                _check(lib.vexfs_config_set(cfg, key.encode(), str(value).encode()))
            self._c = ctypes.c_void_p(lib.vexfs_client_new(cfg))
        finally:
            lib.vexfs_config_destroy(ctypes.byref(cfg))
        if not self._c.value:
            raise _error(-errno.EINVAL)

    def emit(self, events, timeout_ms=1000):
        """Takes one event (a dict) or a list of them, all or nothing; returns how many."""
        text = json.dumps(events).encode()
        return _check(_lib.vexfs_client_emit_json(self._c, text, timeout_ms))

    def flush(self, timeout_ms=10000):
        """Waits until every event emitted so far is acknowledged (raises on timeout)."""
        _check(_lib.vexfs_client_flush(self._c, timeout_ms))

    def connect(self):
        """Starts the emitting link now, so wrong keys are found at once."""
        _check(_lib.vexfs_client_connect(self._c))

    def stats(self):
        st = _Stats(size=ctypes.sizeof(_Stats))
        _check(_lib.vexfs_client_stats(self._c, ctypes.byref(st)))
        return {name: getattr(st, name) for name, _ in _Stats._fields_ if name != "size"}

    def call(self, service, method, path, body=None):
        """One admin REST call; returns (HTTP status, the answer decoded from JSON)."""
        status = ctypes.c_long()
        answer = ctypes.c_void_p()
        text = None if body is None else json.dumps(body).encode()
        _check(_lib.vexfs_client_call(self._c, service.encode(), method.encode(), path.encode(),
                                      text, ctypes.byref(status), ctypes.byref(answer)))
        return status.value, json.loads(_take_string(answer))

    def tap(self, endpoint=None):
        return Tap(self, endpoint)

    def close(self, timeout_ms=5000):
        """Delivers what is buffered (up to timeout_ms) and frees; returns the events given
        up."""
        if not self._c.value:
            return 0
        abandoned = ctypes.c_uint64()
        _lib.vexfs_client_close(ctypes.byref(self._c), timeout_ms, ctypes.byref(abandoned))
        return abandoned.value

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class Tap:
    """A subscription to a tap; iterate it, or call next_event(timeout_ms)."""

    def __init__(self, client, endpoint=None):
        ep = None if endpoint is None else endpoint.encode()
        self._t = ctypes.c_void_p(_lib.vexfs_tap_open(client._c, ep))
        if not self._t.value:
            raise _error(-errno.EINVAL)

    def next_event(self, timeout_ms=-1):
        """The next event as a dict, or None when timeout_ms passed without one."""
        out = ctypes.c_void_p()
        rc = _lib.vexfs_tap_next(self._t, timeout_ms, ctypes.byref(out))
        if rc == -errno.ETIMEDOUT:
            return None
        _check(rc)
        return json.loads(_take_string(out))

    def missed(self):
        batches, undecodable = ctypes.c_uint64(), ctypes.c_uint64()
        _lib.vexfs_tap_missed(self._t, ctypes.byref(batches), ctypes.byref(undecodable))
        return batches.value, undecodable.value

    def __iter__(self):
        while True:
            yield self.next_event()

    def close(self):
        if self._t.value:
            _lib.vexfs_tap_close(ctypes.byref(self._t))

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
