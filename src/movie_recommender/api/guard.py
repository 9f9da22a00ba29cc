"""What the API lets in: API key, Host header, body size and time, slow headers, concurrent fold-ins.

- :class:`ServeSettings`: the limits, from ``conf/base/parameters_serving.yml`` (``serving:``) and the
  optional API key from ``conf/local/credentials.yml`` (``api: {key: ...}``).
- :class:`Guard`: pure ASGI middleware in front of the app. In order: an unexpected ``Host`` header is
  refused (400) when the server is bound to loopback (DNS rebinding); without the API key (header
  ``X-API-Key``) every path but ``/health`` and the documentation is refused (401); a body declared
  larger than ``max_body_bytes`` is refused (413) before a byte of it is read, one that turns out larger
  while it is read too, and a body not received within ``body_timeout_seconds`` gets 408.
- :class:`FoldInSlots`: at most ``max_concurrent_fold_ins`` model requests (fold-ins, and GETs for more
  movies than the pipeline published) run at once; beyond, 503 with ``Retry-After`` at once (no queue),
  so that the other requests and ``/health`` keep their latency. They run in ``fold_in_workers``
  processes (:mod:`.workers`), so they never hold the serving process's GIL.
- :class:`HeaderTimeoutProtocol`: uvicorn's httptools protocol that closes a connection whose request
  headers are not complete within ``header_timeout_seconds`` (slowloris); uvicorn's own
  ``timeout_keep_alive`` closes idle connections and ``limit_concurrency`` bounds connections.
"""

from __future__ import annotations

import asyncio
import hmac
import os
from dataclasses import dataclass, fields
from typing import Any

import orjson
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from movie_recommender.errors import UserError

API_KEY_HEADER = "X-API-Key"
PUBLIC_PATHS = ("/health", "/docs", "/docs/", "/openapi.json", "/redoc")  # no user data
LOOPBACK_HOSTS = {"127.0.0.1", "localhost", "::1"}
HEADER_TIMEOUT_ENV = "MOVIE_RECOMMENDER_HEADER_TIMEOUT"


@dataclass(frozen=True)
class ServeSettings:
    """Limits of ``kedro serve`` (see ``conf/base/parameters_serving.yml``) and the optional API key."""

    because_you_rated_ratings: bool = True
    max_body_bytes: int = 262_144
    body_timeout_seconds: float = 10.0
    header_timeout_seconds: float = 10.0
    keep_alive_seconds: float = 5.0
    max_connections: int = 1000
    max_concurrent_fold_ins: int = 2
    retry_after_seconds: int = 1
    fold_in_workers: int = 0  # conf ships 2; 0 (the library's default, e.g. in tests): threads of the server
    fold_in_worker_nice: int = 5
    api_key: str | None = None

    ZERO_ALLOWED = frozenset({"fold_in_workers", "fold_in_worker_nice"})

    @classmethod
    def from_config(cls, serving: dict[str, Any] | None, credentials: dict[str, Any] | None) -> ServeSettings:
        """Checked settings; a :class:`UserError` naming the bad one and where it is set."""
        where = "conf/base/parameters_serving.yml (serving:)"
        serving = dict(serving or {})
        known = {f.name for f in fields(cls)} - {"api_key"}
        unknown = sorted(set(serving) - known)
        if unknown:
            raise UserError(f"Unknown serving setting(s) {unknown} in {where}; allowed: {sorted(known)}.")
        values: dict[str, Any] = {}
        for name, value in serving.items():
            default = getattr(cls, name)
            if isinstance(default, bool):
                if not isinstance(value, bool):
                    raise UserError(f"serving.{name} must be true or false, got {value!r}; see {where}.")
            elif (
                isinstance(value, bool)
                or not isinstance(value, int | float)
                or not (value >= 0 if name in cls.ZERO_ALLOWED else value > 0)
            ):
                least = ">= 0" if name in cls.ZERO_ALLOWED else "> 0"
                raise UserError(f"serving.{name} must be a number {least}, got {value!r}; see {where}.")
            elif isinstance(default, int) and int(value) != value:
                raise UserError(f"serving.{name} must be a whole number, got {value!r}; see {where}.")
            values[name] = type(default)(value)
        key = ((credentials or {}).get("api") or {}).get("key")
        if key is not None and (not isinstance(key, str) or len(key) < 16):
            raise UserError(
                "api.key in conf/local/credentials.yml must be a string of at least 16 characters "
                "(e.g. the output of `python -c \"import secrets; print(secrets.token_urlsafe(32))\"`)."
            )
        return cls(**values, api_key=key)


def is_loopback(host: str) -> bool:
    return host.strip("[]") in LOOPBACK_HOSTS or host.startswith("127.")


def _host_name(value: str) -> str:
    """The host of a Host header, without its port (``[::1]:8000`` -> ``::1``)."""
    if value.startswith("["):
        return value[1 : value.find("]")] if "]" in value else value
    return value.rsplit(":", 1)[0] if value.count(":") == 1 else value


class Guard:
    """ASGI middleware applying :class:`ServeSettings` to every HTTP request (see the module docstring).

    Args:
        app: the ASGI app.
        settings: the limits and API key.
        loopback_only: refuse requests whose Host header is not a loopback name (the server listens on
            loopback: a browser page from another site reaching it through DNS rebinding sends its own host).
    """

    def __init__(self, app, settings: ServeSettings, loopback_only: bool = False) -> None:
        self.app, self.settings, self.loopback_only = app, settings, loopback_only
        self._key = settings.api_key.encode() if settings.api_key else None

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = dict(scope["headers"])  # lower-case names (ASGI); a repeated header: the last one
        if self.loopback_only:
            host = headers.get(b"host", b"").decode("latin-1")
            if _host_name(host) not in LOOPBACK_HOSTS:
                return await _reply(send, 400, f"unexpected Host header {host[:100]!r}: this server answers to localhost only.")
        if self._key is not None and scope["path"] not in PUBLIC_PATHS:
            given = headers.get(API_KEY_HEADER.lower().encode(), b"")
            if not hmac.compare_digest(given, self._key):
                return await _reply(
                    send, 401, f"missing or wrong API key: send it in the {API_KEY_HEADER} header.",
                    [(b"www-authenticate", API_KEY_HEADER.encode())],
                )
        limit = self.settings.max_body_bytes
        declared = headers.get(b"content-length")
        if declared is not None:
            try:
                too_large = int(declared) > limit
            except ValueError:
                return await _reply(send, 400, "invalid Content-Length header.")
            if too_large:
                return await _reply(send, 413, f"request body larger than {limit} bytes.")
        received, started, refused = 0, False, False
        deadline = asyncio.get_running_loop().time() + self.settings.body_timeout_seconds

        async def refuse(status: int, detail: str) -> dict:
            # answer now and tell the app the client left: whatever it does next is not sent
            nonlocal refused
            if not started and not refused:
                refused = True
                await _reply(send, status, detail)
            return {"type": "http.disconnect"}

        async def limited_receive():
            nonlocal received
            if refused:
                return {"type": "http.disconnect"}
            remaining = deadline - asyncio.get_running_loop().time()
            try:
                message = await asyncio.wait_for(receive(), max(remaining, 0.001))
            except TimeoutError:
                timeout = self.settings.body_timeout_seconds
                return await refuse(408, f"request body not received within {timeout:g} s.")
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    return await refuse(413, f"request body larger than {limit} bytes.")
            return message

        async def guarded_send(message):
            nonlocal started
            if refused:
                return
            started = True
            await send(message)

        if scope["method"] in ("GET", "HEAD"):
            return await self.app(scope, receive, send)
        await self.app(scope, limited_receive, guarded_send)


async def _reply(send, status: int, detail: str, headers: list[tuple[bytes, bytes]] | None = None) -> None:
    body = orjson.dumps({"detail": detail})
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                        (b"connection", b"close"), *(headers or [])],
        }
    )
    await send({"type": "http.response.body", "body": body})


class FoldInSlots:
    """At most ``size`` fold-ins at once, taken without waiting (the event loop is the only caller)."""

    def __init__(self, size: int) -> None:
        self.size, self.busy = size, 0

    def take(self) -> bool:
        if self.busy >= self.size:
            return False
        self.busy += 1
        return True

    def give_back(self) -> None:
        self.busy -= 1

    @property
    def full(self) -> bool:
        return self.busy >= self.size


class RefuseWhenFull:
    """ASGI middleware answering ``POST path`` with 503 and ``Retry-After`` while ``slots`` are all taken,
    before its body is read or parsed: a client retrying at once costs the event loop next to nothing, so
    ``/health`` and GET keep their latency during a burst (the endpoint still takes a slot itself)."""

    def __init__(self, app, slots: FoldInSlots, path: str, retry_after: int) -> None:
        self.app, self.slots, self.path = app, slots, path
        self.body = orjson.dumps({"detail": f"{slots.size} model requests are running: retry in {retry_after} s."})
        self.headers = [(b"content-type", b"application/json"), (b"content-length", str(len(self.body)).encode()),
                        (b"retry-after", str(retry_after).encode())]  # fmt: skip

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] == "http" and self.slots.full and scope["method"] == "POST" and scope["path"] == self.path:
            await send({"type": "http.response.start", "status": 503, "headers": self.headers})
            await send({"type": "http.response.body", "body": self.body})
            return
        await self.app(scope, receive, send)


class HeaderTimeoutProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol, closing connections whose request headers take too long to arrive.

    The clock starts when the connection opens and when a request begins; it stops when its headers are
    complete. The limit is ``$MOVIE_RECOMMENDER_HEADER_TIMEOUT`` seconds (``kedro serve`` sets it from
    ``serving.header_timeout_seconds``; default 10), read here so that ``--workers`` processes get it too.
    """

    header_timeout = float(os.environ.get(HEADER_TIMEOUT_ENV, 10))
    _header_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport) -> None:
        super().connection_made(transport)
        self._start_header_clock()

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._start_header_clock()

    def on_headers_complete(self) -> None:
        self._stop_header_clock()
        super().on_headers_complete()

    def connection_lost(self, exc) -> None:
        self._stop_header_clock()
        super().connection_lost(exc)

    def _start_header_clock(self) -> None:
        if self._header_timer is None:
            self._header_timer = self.loop.call_later(self.header_timeout, self._headers_too_slow)

    def _stop_header_clock(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _headers_too_slow(self) -> None:
        self._header_timer = None
        if not self.transport.is_closing():
            self.transport.close()
