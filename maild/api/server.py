"""The API as a service of `maild serve`: uvicorn on the daemon's event loop.

The daemon owns the signals, so uvicorn is told not to install its own; we bind the socket
ourselves, so a port in use is one clear error rather than uvicorn's exit from inside a task.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Callable, Coroutine, Iterator
from typing import Any

import uvicorn

from maild.api.app import create_app
from maild.errors import MaildError
from maild.liveness import ServiceBoard
from maild.settings import Settings
from maild.store.db import Store
from maild.tickets.ports import Distributor

ApiService = Callable[[Settings, Store, asyncio.Event], Coroutine[Any, Any, None]]


class _Server(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield  # the daemon handles SIGTERM/SIGINT and sets `stop`


def bind(listen: str) -> socket.socket:
    """A listening TCP socket for `host:port` (checked at config load)."""
    host, _, port = listen.rpartition(":")
    try:
        listener = socket.create_server(
            (host.strip("[]"), int(port)), reuse_port=False, backlog=128
        )
    except OSError as exc:
        raise MaildError(
            f"cannot listen for the API on {listen}: {exc.strerror or exc}; "
            "free the port or set [api] listen / MAILD_API_LISTEN"
        ) from None
    # `create_server` leaves the socket's protocol 0, and the connections it accepts inherit
    # it; asyncio turns Nagle off (TCP_NODELAY) only on sockets that say IPPROTO_TCP. With Nagle
    # on, a response's body waited for the client's delayed ACK of its headers: 40 ms added to
    # every request (bench/api.py's `agents/me` floor).
    return socket.socket(
        listener.family, listener.type, socket.IPPROTO_TCP, fileno=listener.detach()
    )


def api_service(distributor: Distributor, board: ServiceBoard) -> ApiService:
    """The service that serves the API at `[api] listen` until `stop` is set."""

    async def api(settings: Settings, store: Store, stop: asyncio.Event) -> None:
        sock = bind(settings.api.listen)
        app = create_app(settings, store, distributor, board)
        config = uvicorn.Config(
            app, log_level="warning", access_log=False, lifespan="off", timeout_graceful_shutdown=5
        )
        server = _Server(config)
        serving = asyncio.create_task(server.serve(sockets=[sock]))
        stopping = asyncio.create_task(stop.wait())
        await asyncio.wait([serving, stopping], return_when=asyncio.FIRST_COMPLETED)
        server.should_exit = True
        stopping.cancel()
        try:
            await serving
        finally:
            sock.close()

    return api
