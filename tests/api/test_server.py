"""The API's listening socket, as `maild serve` binds it."""

from __future__ import annotations

import asyncio
import socket

from maild.api.server import bind
from tests.support import free_port


def test_accepted_connections_send_without_waiting_for_acks() -> None:
    """A response written in two parts (headers, body) must not wait for the client's delayed
    ACK in between (Nagle's algorithm): connections need TCP_NODELAY."""

    async def accepted_nodelay() -> int:
        seen: asyncio.Future[int] = asyncio.get_running_loop().create_future()

        class Probe(asyncio.Protocol):
            def connection_made(self, transport: asyncio.BaseTransport) -> None:
                sock = transport.get_extra_info("socket")
                seen.set_result(sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
                transport.close()

        listener = bind(f"127.0.0.1:{free_port()}")
        server = await asyncio.get_running_loop().create_server(Probe, sock=listener)
        async with server:
            port = listener.getsockname()[1]
            _, writer = await asyncio.open_connection("127.0.0.1", port)
            try:
                return await asyncio.wait_for(seen, 10)
            finally:
                writer.close()

    assert asyncio.run(accepted_nodelay()) != 0
