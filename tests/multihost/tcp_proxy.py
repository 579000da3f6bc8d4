"""A TCP forwarder run as its own process in the root namespace: the worker "hosts" (network
namespaces) reach PostgreSQL and Redis, which listen on 127.0.0.1 only, through it.

    python tcp_proxy.py 10.231.7.1:0=127.0.0.1:5432 10.231.7.5:0=127.0.0.1:5432 ...

Each ``LISTEN=TARGET`` pair opens one listener (port 0: any free port). Once every listener
is bound, one line of JSON goes to stdout: ``{"LISTEN_ADDR:0=TARGET": port, ...}``.

A cut link must look to the root side like a dead peer within seconds, not after TCP's
default of two hours (keepalive) or ~15 minutes (retransmissions): the accepted sockets get
keepalive probes every second and a TCP user timeout, so a blackholed connection errors out
after about 3 s. The forwarder then closes the matching server connection, which is what
makes PostgreSQL roll back the cut worker's open transaction and release its row locks.
"""

from __future__ import annotations

import asyncio
import json
import socket
import sys

KEEPIDLE, KEEPINTVL, KEEPCNT = 1, 1, 2
USER_TIMEOUT_MS = 3000
BUFFER = 65536


def _dead_peer_fast(sock: socket.socket) -> None:
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE, KEEPIDLE)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPINTVL, KEEPINTVL)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPCNT, KEEPCNT)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_USER_TIMEOUT, USER_TIMEOUT_MS)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(BUFFER):
            writer.write(data)
            await writer.drain()
    except OSError:
        pass
    finally:
        writer.close()


def _handler(target: tuple[str, int]):  # type: ignore[no-untyped-def]
    async def handle(client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        _dead_peer_fast(client_w.get_extra_info("socket"))
        try:
            server_r, server_w = await asyncio.open_connection(*target)
        except OSError:
            client_w.close()
            return
        server_w.get_extra_info("socket").setsockopt(
            socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        # Either side ending (EOF, reset, the user timeout) ends both.
        done, pending = await asyncio.wait(
            [asyncio.create_task(_pipe(client_r, server_w)),
             asyncio.create_task(_pipe(server_r, client_w))],
            return_when=asyncio.FIRST_COMPLETED)
        server_w.close()
        client_w.close()
        for task in pending:
            task.cancel()
    return handle


def _split(addr: str) -> tuple[str, int]:
    host, port = addr.rsplit(":", 1)
    return host, int(port)


async def main(pairs: list[str]) -> None:
    bound: dict[str, int] = {}
    servers = []
    for pair in pairs:
        listen, target = pair.split("=", 1)
        host, port = _split(listen)
        server = await asyncio.start_server(_handler(_split(target)), host, port,
                                            reuse_address=True)
        servers.append(server)
        bound[pair] = int(server.sockets[0].getsockname()[1])
    print(json.dumps(bound), flush=True)
    await asyncio.gather(*(s.serve_forever() for s in servers))


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1:]))
