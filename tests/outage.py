"""Stripe or the database going down for a moment: Stripe without stopping the simulator the
session shares, PostgreSQL behind a TCP proxy that a test kills (``TcpProxy``).

The app's Stripe base URL points, for the block, at a local port that is bound but never
listens, so every connection is refused: what the portal sees when Stripe is unreachable.
Restarting the simulator proves the same thing and costs about two seconds; one test
(a failed webhook retried after the outage) still does it, to cover reconnecting.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from flask import Flask


@contextmanager
def refused_url() -> Iterator[str]:
    """An ``http://127.0.0.1:PORT`` URL that refuses connections while the block runs."""
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))  # bound and not listening: a connect gets ECONNREFUSED
        yield f"http://127.0.0.1:{held.getsockname()[1]}"


@contextmanager
def stripe_unreachable(app: Flask) -> Iterator[None]:
    """Stripe refuses every connection from ``app`` until the block ends."""
    saved = app.config["STRIPE_API_BASE"]
    with refused_url() as url:
        app.config["STRIPE_API_BASE"] = url
        try:
            yield
        finally:
            app.config["STRIPE_API_BASE"] = saved


class TcpProxy:
    """A TCP proxy on a free local port in front of ``host:port`` (PostgreSQL, for the
    database-outage tests). ``kill()`` drops every open connection and refuses new ones, as a
    database host going away does; ``revive()`` listens again on the same port."""

    def __init__(self, host: str, port: int) -> None:
        self.target = (host, port)
        self._lock = threading.Lock()
        self._sockets: list[socket.socket] = []
        self.port = 0
        self._listener: socket.socket | None = None
        self.revive()

    def revive(self) -> None:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(16)
        self.port = listener.getsockname()[1]
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return  # killed
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                client.close()
                continue
            upstream.settimeout(None)
            with self._lock:
                self._sockets += [client, upstream]
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(source, sink), daemon=True).start()

    @staticmethod
    def _pipe(source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for end in (source, sink):
                try:
                    end.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def kill(self) -> None:
        """Refuse new connections and cut every open one."""
        if self._listener is not None:
            # shutdown() wakes the thread blocked in accept(); close() alone would not.
            try:
                self._listener.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            self._listener.close()
            self._listener = None
        with self._lock:
            sockets, self._sockets = self._sockets, []
        for end in sockets:
            try:
                end.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            end.close()


@contextmanager
def tcp_proxy(host: str, port: int) -> Iterator[TcpProxy]:
    proxy = TcpProxy(host, port)
    try:
        yield proxy
    finally:
        proxy.kill()
