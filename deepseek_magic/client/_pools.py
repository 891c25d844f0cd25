"""Several small connection pools behind one transport, for hundreds of streams at once.

httpcore's pool hands a connection to a request by scanning every connection it holds,
on every request and on every close, so one pool of n streaming connections costs
O(n^2): with 500 streams in flight (``map(samples=k)``, a gather of ``aask()`` calls)
that scan was a fifth of the client's CPU and pushed back the last requests' start
(measured: ``benchmarks/samples.py``, 2026-12-07). :class:`ShardedTransport` keeps pools
of at most :data:`SHARD_SIZE` requests in flight each and sends a request to the least
busy one, opening a new pool when all are full, so each scan stays short. Behaviour is
httpx's own transport's (each shard *is* one); only the bookkeeping is split.

Used by :class:`~._http.AsyncClient` when httpx would build its own transport and no
proxy is configured in the environment (httpx only reads proxy variables for the
transport it builds itself; with a proxy the client keeps httpx's default).
"""

from __future__ import annotations

import ssl
import urllib.request
from collections.abc import AsyncIterator
from typing import Any

import httpx

__all__ = ["SHARD_SIZE", "ShardedTransport", "sharded_transport"]

#: requests in flight per pool before the next request goes to another pool
SHARD_SIZE = 32
#: idle connections each pool keeps for reuse
SHARD_KEEPALIVE = 32


class _Counted(httpx.AsyncByteStream):
    """A response body that gives its pool's slot back when it is closed."""

    def __init__(self, stream: httpx.AsyncByteStream, shard: _Shard) -> None:
        self._stream = stream
        self._shard: _Shard | None = shard

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self._stream.__aiter__()  # the shard's own iterator: no extra frame per chunk

    async def aclose(self) -> None:
        try:
            await self._stream.aclose()
        finally:
            if self._shard is not None:  # closed once, counted once
                self._shard.busy -= 1
                self._shard = None


class _Shard:
    def __init__(self, transport: httpx.AsyncHTTPTransport) -> None:
        self.transport = transport
        self.busy = 0


class ShardedTransport(httpx.AsyncBaseTransport):
    """httpx transports, each a pool of at most ``shard_size`` requests in flight."""

    def __init__(
        self, *, verify: ssl.SSLContext | bool = True, shard_size: int = SHARD_SIZE
    ) -> None:
        self._verify = verify
        self._size = shard_size
        self._shards: list[_Shard] = []

    @property
    def pools(self) -> int:
        """How many pools have been opened so far."""
        return len(self._shards)

    def _pick(self) -> _Shard:
        shard = min(self._shards, key=lambda s: s.busy, default=None)
        if shard is None or shard.busy >= self._size:
            limits = httpx.Limits(max_connections=None, max_keepalive_connections=SHARD_KEEPALIVE)
            shard = _Shard(httpx.AsyncHTTPTransport(verify=self._verify, limits=limits))
            self._shards.append(shard)
        return shard

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        shard = self._pick()
        shard.busy += 1
        try:
            response = await shard.transport.handle_async_request(request)
        except BaseException:
            shard.busy -= 1
            raise
        stream: Any = response.stream
        response.stream = _Counted(stream, shard)
        return response

    async def aclose(self) -> None:
        shards, self._shards = self._shards, []
        for shard in shards:
            await shard.transport.aclose()


def sharded_transport(verify: ssl.SSLContext | bool) -> ShardedTransport | None:
    """The sharded transport, or None when the environment names a proxy (httpx then
    builds its own proxied transports, which a given transport would switch off)."""
    return None if urllib.request.getproxies() else ShardedTransport(verify=verify)
