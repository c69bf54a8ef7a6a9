"""The door every request passes: who is asking, and one access-log line when it is answered.

``AccessMiddleware`` (pure ASGI, outside every route) authenticates each request before the
app sees it — ``Authorization: Bearer <API token>`` first, else the signed session cookie —
and answers 401 (problem+json, ``WWW-Authenticate: Bearer``) to anyone it cannot name, unless
the path is one of ``PUBLIC_PATHS``. So a route added without a ``CurrentActor`` is still not
open to anonymous callers. A bearer header that is present but wrong is refused; it does not
fall back to the cookie.

After the answer it logs one JSON line on the ``assay.access`` logger — time, method, route
template, status, duration in ms, principal — and observes the latency for ``/metrics``. The
raw path, the query string, headers and cookies are never logged: tokens and secrets travel
in them.
"""

from __future__ import annotations

import json
import logging
import time
from datetime import UTC, datetime
from http.cookies import SimpleCookie
from typing import Any

from anyio import to_thread
from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from assay.catalog.accounts import token_digest
from assay.errors import Unauthenticated
from assay.operations.actor import Actor, Auth
from assay.operations.users import actor_of_user, authenticate_token
from assay.server.context import ServerContext
from assay.server.problems import from_error
from assay.server.sessions import SESSION_COOKIE, BrowserSession

#: the only paths that answer without authentication
PUBLIC_PATHS = frozenset({"/healthz", "/readyz", "/sign-in"})
log = logging.getLogger("assay.access")


class AccessMiddleware:
    def __init__(self, app: ASGIApp, context: ServerContext, routes: Any) -> None:
        self.app = app
        self.context = context
        self.routes = routes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        answered = {"status": 500}
        principal: str | None = None

        async def sending(message: Message) -> None:
            if message["type"] == "http.response.start":
                answered["status"] = int(message["status"])
            await send(message)

        state = scope.setdefault("state", {})
        try:
            headers = _headers(scope)
            try:
                known = self._remembered(headers)
                if known is not None:
                    actor, session = known
                else:
                    actor, session = await to_thread.run_sync(self._authenticate, headers)
            except Unauthenticated as exc:
                if scope["path"] not in PUBLIC_PATHS:
                    await from_error(exc)(scope, receive, sending)
                    return
                actor, session = None, None
            if actor is not None:
                principal = actor.name
                state.update(actor=actor, session=session, via_token=actor.auth is Auth.TOKEN)
            await self.app(scope, receive, sending)
        finally:
            seconds = time.perf_counter() - started
            route = self._template(scope)
            self.context.metrics.observe_request(scope["method"], route, answered["status"], seconds)
            log.info(json.dumps({
                "time": datetime.now(UTC).isoformat(timespec="milliseconds"), "method": scope["method"],
                "route": route, "status": answered["status"], "duration_ms": round(seconds * 1000, 2),
                "principal": principal,
            }))  # fmt: skip

    def _remembered(self, headers: dict[str, str]) -> tuple[Actor, BrowserSession | None] | None:
        """The actor of a credential checked a moment ago (server/memo.py), without a thread
        or the catalog; None when it must be checked."""
        key, session = self._credential(headers)
        actor = self.context.actors.get(key)
        return None if actor is None else (actor, session)

    def _authenticate(self, headers: dict[str, str]) -> tuple[Actor, BrowserSession | None]:
        catalog = self.context.catalog
        key, session = self._credential(headers)
        if key[0] == "token":
            actor = authenticate_token(catalog, _bearer(headers["authorization"]))
        else:
            assert session is not None
            actor = actor_of_user(catalog, session.user_id, Auth.SESSION)
        self.context.actors.put(key, actor)
        return actor, session

    def _credential(self, headers: dict[str, str]) -> tuple[tuple[str, str], BrowserSession | None]:
        """What the request presents: ``("token", digest)`` for a bearer token (which wins over a
        cookie), ``("session", user id)`` for a valid session cookie; 401 for neither."""
        authorization = headers.get("authorization")
        if authorization is not None:
            return ("token", token_digest(_bearer(authorization))), None
        session = self.context.sessions.read(_cookie(headers.get("cookie"), SESSION_COOKIE))
        if session is not None:
            return ("session", session.user_id), session
        raise Unauthenticated(
            "who is asking? Send an API token (`Authorization: Bearer <token>`) or sign in at /sign-in",
            hint="an admin creates your account and first token: `assay server users add NAME --role ROLE`",
        )

    def _template(self, scope: Scope) -> str:
        """The route's path template (``/api/v1/projects/{project}``): never the path itself."""
        route = scope.get("route")
        if route is None:  # refused before routing: find the route the path would have reached
            from fastapi.routing import iter_route_contexts

            contexts = iter_route_contexts(self.routes)
            route = next((c for c in contexts if c.original_route.matches(scope)[0] is Match.FULL), None)
        path = getattr(route, "path", None)
        return path if isinstance(path, str) else "unmatched"


def _bearer(authorization: str) -> str:
    scheme, _, value = authorization.partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        raise Unauthenticated(
            "the Authorization header must be `Bearer <API token>`",
            hint="create a token with `assay server tokens create`",
        )
    return value.strip()


def _headers(scope: Scope) -> dict[str, str]:
    found: dict[str, str] = {}
    for name, value in scope.get("headers", ()):
        found.setdefault(name.decode("latin-1").lower(), value.decode("latin-1"))
    return found


def _cookie(header: str | None, name: str) -> str | None:
    if not header:
        return None
    cookies: SimpleCookie = SimpleCookie()
    try:
        cookies.load(header)
    except Exception:  # noqa: BLE001 - a malformed Cookie header is no session
        return None
    morsel = cookies.get(name)
    return morsel.value if morsel is not None else None
