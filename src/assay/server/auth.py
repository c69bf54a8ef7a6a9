"""Browser sign-in: ``GET /sign-in`` (a small form), ``POST /sign-in`` (name, password,
csrf → the session cookie), ``POST /sign-out``.

A wrong name or password answers the form again with 401, after a delay that grows with each
failure of that name or that client address; past ``config.sign_in_failures`` failures in
``config.sign_in_window`` it answers 429 with ``Retry-After`` at once (``throttle.py``).
The CSRF token of every form comes from ``sessions.csrf_token`` (the UI reuses it).
"""

from __future__ import annotations

import asyncio
import html
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from assay.catalog.governance import normalize_identity
from assay.errors import Unauthenticated
from assay.operations.users import authenticate_password
from assay.server.deps import Context, CurrentActor
from assay.server.sessions import CSRF_FIELD, csrf_token

router = APIRouter(tags=["sign-in"])

_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Sign in · Assay</title>
<meta name="viewport" content="width=device-width, initial-scale=1"></head>
<body><main>
<h1>Sign in to Assay</h1>
{message}
<form method="post" action="/sign-in">
<input type="hidden" name="{field}" value="{csrf}">
<input type="hidden" name="next" value="{next}">
<p><label>Name <input name="name" autocomplete="username" required value="{name}"></label></p>
<p><label>Password
<input name="password" type="password" autocomplete="current-password" required></label></p>
<p><button type="submit">Sign in</button></p>
</form>
</main></body></html>
"""


@router.get("/sign-in", response_class=HTMLResponse, include_in_schema=False)
def sign_in_page(request: Request, next: str = "/") -> HTMLResponse:
    return _form(request, next=next)


@router.post("/sign-in", response_class=HTMLResponse, include_in_schema=False)
async def sign_in(
    request: Request,
    context: Context,
    name: Annotated[str, Form(max_length=255)],
    password: Annotated[str, Form(max_length=1024)],
    next: Annotated[str, Form(max_length=2048)] = "/",
) -> Response:
    key = normalize_identity(name)
    address = request.client.host if request.client else "unknown"
    verdict = context.throttle.check(key, address)
    if verdict.retry_after is not None:
        seconds = int(verdict.retry_after + 0.999)
        message = f"Too many failed sign-ins. Try again in {seconds} seconds."
        return _form(request, next=next, name=name, message=message, status=429,
                     headers={"Retry-After": str(seconds)})  # fmt: skip
    if verdict.delay:
        await asyncio.sleep(verdict.delay)
    try:
        actor = await run_in_threadpool(authenticate_password, context.catalog, name, password)
    except Unauthenticated as exc:
        context.throttle.failed(key, address)
        return _form(request, next=next, name=name, message=exc.message.capitalize() + ".", status=401)
    context.throttle.succeeded(key)
    response = RedirectResponse(_local(next), status_code=303)
    assert actor.user_id is not None
    context.sessions.issue(response, actor.user_id)
    return response


@router.post("/sign-out", include_in_schema=False)
def sign_out(_actor: CurrentActor, context: Context) -> Response:
    response = RedirectResponse("/sign-in", status_code=303)
    context.sessions.end(response)
    return response


def _form(
    request: Request,
    *,
    next: str,
    name: str = "",
    message: str | None = None,
    status: int = 200,
    headers: dict[str, str] | None = None,
) -> HTMLResponse:
    cookies = Response()  # collects the form's CSRF cookie, if a new one is set
    token = csrf_token(request, cookies)
    shown = f'<p role="alert">{html.escape(message)}</p>' if message else ""
    body = _PAGE.format(message=shown, field=CSRF_FIELD, csrf=html.escape(token),
                        next=html.escape(_local(next)), name=html.escape(name))  # fmt: skip
    response = HTMLResponse(
        body, status_code=status, headers={**(headers or {}), "Cache-Control": "no-store"}
    )
    response.raw_headers.extend(item for item in cookies.raw_headers if item[0] == b"set-cookie")
    return response


def _local(target: str) -> str:
    """Where to go after signing in: a path of this server only (never ``//host`` or a URL)."""
    if not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target
