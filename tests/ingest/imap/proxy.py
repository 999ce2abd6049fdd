"""A TCP proxy on loopback in front of Dovecot, to inject network faults: it forwards, drops
every connection at once, or goes silent (holds the connections open and forwards nothing). It
also records what clients sent, so a test can count the commands."""

from __future__ import annotations

import contextlib
import socket
import threading
from dataclasses import dataclass, field


@dataclass
class _Link:
    client: socket.socket
    server: socket.socket
    sent: bytearray = field(default_factory=bytearray)  # client -> server


class FaultyProxy:
    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = int(self.listener.getsockname()[1])
        self.links: list[_Link] = []
        self.silent = threading.Event()
        self._lock = threading.Lock()
        self._closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def connections(self) -> int:
        return len(self.links)

    def sent(self) -> bytes:
        with self._lock:
            return b"".join(bytes(link.sent) for link in self.links)

    def drop_all(self) -> None:
        """Close every open connection, as a NAT timeout or a server restart would."""
        with self._lock:
            for link in self.links:
                for sock in (link.client, link.server):
                    _close(sock)

    def close(self) -> None:
        self._closed = True
        self.drop_all()
        _close(self.listener)

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            server = socket.create_connection(("127.0.0.1", self.target_port))
            link = _Link(client, server)
            with self._lock:
                self.links.append(link)
            threading.Thread(
                target=self._pump, args=(client, server, link.sent), daemon=True
            ).start()
            threading.Thread(target=self._pump, args=(server, client, None), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket, record: bytearray | None) -> None:
        while True:
            try:
                data = source.recv(65536)
            except OSError:
                data = b""
            if not data:
                _close(sink)
                return
            if self.silent.is_set():
                continue  # swallowed: the peer hears nothing and the connection stays open
            if record is not None:
                with self._lock:
                    record.extend(data)
            try:
                sink.sendall(data)
            except OSError:
                _close(source)
                return


def _close(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
    sock.close()
