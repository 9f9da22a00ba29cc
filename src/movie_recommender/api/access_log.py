"""One log line per request, as uvicorn prints them, plus the latency (``kedro serve``; off: --no-access-log).

    INFO:     127.0.0.1:52811 - "GET /users/1/recommendations?n=3 HTTP/1.1" 200 OK 1.42 ms

Uvicorn's own access log has no latency, so ``kedro serve`` turns it off and adds :class:`AccessLog`
around the app instead; :func:`uvicorn_log_config` sends its lines through uvicorn's formatter.
"""

from __future__ import annotations

import copy
import http
import logging
import time
from typing import Any

LOGGER = "movie_recommender.api.access"
logger = logging.getLogger(LOGGER)


def _phrase(status: int) -> str:
    try:
        return http.HTTPStatus(status).phrase
    except ValueError:
        return ""


class AccessLog:
    """ASGI middleware logging ``client - "METHOD path?query HTTP/version" status phrase latency`` at INFO.

    The latency runs from the request's arrival to the last byte of the response handed to the server.
    """

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500  # an exception before the response started: the server answers 500

        async def send_and_note(message: dict) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_and_note)
        finally:
            if logger.isEnabledFor(logging.INFO):
                client = scope.get("client")
                path = scope.get("root_path", "") + scope["path"]
                query = scope.get("query_string", b"")
                if query:
                    path = f"{path}?{query.decode('latin-1')}"
                logger.info(
                    '%s - "%s %s HTTP/%s" %d %s %.2f ms',
                    f"{client[0]}:{client[1]}" if client else "-",
                    scope["method"],
                    path,
                    scope.get("http_version", "1.1"),
                    status,
                    _phrase(status),
                    (time.perf_counter() - start) * 1e3,
                )


def uvicorn_log_config() -> dict:
    """Uvicorn's logging configuration, plus :data:`LOGGER` printed like its access lines (stdout, INFO:)."""
    from uvicorn.config import LOGGING_CONFIG

    config = copy.deepcopy(LOGGING_CONFIG)
    config["handlers"]["access_latency"] = {
        "formatter": "default",  # uvicorn's "%(levelprefix)s %(message)s"
        "class": "logging.StreamHandler",
        "stream": "ext://sys.stdout",
    }
    config["loggers"][LOGGER] = {"handlers": ["access_latency"], "level": "INFO", "propagate": False}
    return config
