"""A lean path for the one Redis call every admission makes.

For each command redis-py's client checks a connection out of its pool (a lock, a poll of the
socket, metrics bookkeeping) and passes the reply through callbacks: on a local network that
costs more than the round trip itself. ``ScriptLink`` keeps idle connections of its own, made
with the client's settings (timeouts included), and sends one script's EVALSHA in one write. If
the server lost the script (a restart), the same call sends it with EVAL, which caches it again.
A connection that sat idle for a while is probed before use (a restarted server closed it), and
a connection error drops every idle connection, so a Redis restart costs at most one call.

The lean path drives redis-py connections through their public methods, but how a pool makes
them is not a documented API: pyproject.toml pins the redis-py versions it was tested with, and
where the pieces it needs are missing, the script runs through redis-py's own ``Script`` instead
(one pool checkout per call: slower, never broken).
"""

from __future__ import annotations

import hashlib
import os
import time
import weakref
from functools import partial
from typing import TYPE_CHECKING, Any

import hiredis
import redis
from redis.exceptions import NoScriptError

if TYPE_CHECKING:
    from redis.commands.core import Script
    from redis.connection import AbstractConnection

#: Idle connections kept beyond this are closed (more threads than this rarely wait at once).
MAX_IDLE_CONNECTIONS = 64
#: A connection idle for longer than this is checked for a server-side close before use.
PROBE_AFTER_IDLE_SECONDS = 1.0

_links: weakref.WeakSet[ScriptLink] = weakref.WeakSet()
#: What the lean path calls on a connection.
_CONNECTION_METHODS = ("send_packed_command", "read_response", "can_read", "disconnect")


def lean_path_supported(client: redis.Redis) -> bool:
    """Whether these redis-py and hiredis versions still have what the lean path uses."""
    pool = client.connection_pool
    connection_class = getattr(pool, "connection_class", None)
    return (
        callable(getattr(hiredis, "pack_command", None))
        and isinstance(getattr(pool, "connection_kwargs", None), dict)
        and all(callable(getattr(connection_class, name, None)) for name in _CONNECTION_METHODS)
    )


class ScriptLink:
    """Runs one Lua script over connections of its own; safe to share between threads."""

    def __init__(self, client: redis.Redis, source: str) -> None:
        #: redis-py's own script runner, used instead when the lean path is not supported.
        self._script: Script | None = None
        if lean_path_supported(client):
            pool = client.connection_pool
            self._connect = partial(pool.connection_class, **pool.connection_kwargs)
        else:
            self._script = client.register_script(source)
        self.source = source
        self.sha = hashlib.sha1(source.encode()).hexdigest()
        #: A LIFO of idle connections and when each was last used: list.pop and list.append
        #: are atomic, so no lock is needed.
        self._idle: list[tuple[AbstractConnection, float]] = []
        _links.add(self)

    def __call__(self, keys: list[str], args: list[Any]) -> Any:
        """EVALSHA the script with ``keys`` and ``args``; raises redis errors as redis-py does."""
        if self._script is not None:
            return self._script(keys, args)
        try:
            connection, last_used = self._idle.pop()
        except IndexError:
            connection = self._connect()
        else:
            if time.monotonic() - last_used > PROBE_AFTER_IDLE_SECONDS:
                _drop_if_closed(connection)
        try:
            reply = self._run(connection, (len(keys), *keys, *args))
        except BaseException as error:
            connection.disconnect()  # a half-read reply must never answer the next call
            if isinstance(error, redis.ConnectionError):
                self.close()  # the server went away: the idle connections are gone too
            raise
        if len(self._idle) < MAX_IDLE_CONNECTIONS:
            self._idle.append((connection, time.monotonic()))
        else:
            connection.disconnect()
        return reply

    def _run(self, connection: AbstractConnection, arguments: tuple[Any, ...]) -> Any:
        # hiredis packs in C what redis-py's packer would first copy and inspect in Python.
        connection.send_packed_command(
            [hiredis.pack_command(("EVALSHA", self.sha, *arguments))], check_health=False
        )
        try:
            return connection.read_response()
        except NoScriptError:
            connection.send_packed_command(
                [hiredis.pack_command(("EVAL", self.source, *arguments))], check_health=False
            )
            return connection.read_response()

    def close(self) -> None:
        """Disconnect the idle connections (a later call connects again)."""
        while self._idle:
            try:
                connection, _ = self._idle.pop()
            except IndexError:  # another thread took the last one
                return
            connection.disconnect()

    def _forget_after_fork(self) -> None:
        # The parent still uses these sockets; the child starts with its own.
        self._idle = []


def _drop_if_closed(connection: AbstractConnection) -> None:
    """Disconnect a connection the server closed (it connects again when next used)."""
    try:
        if connection.can_read():  # an idle connection has nothing to read, unless EOF
            connection.disconnect()
    except redis.ConnectionError:
        connection.disconnect()


def _after_fork_in_child() -> None:
    for link in list(_links):
        link._forget_after_fork()


os.register_at_fork(after_in_child=_after_fork_in_child)
