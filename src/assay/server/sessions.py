"""Browser sessions and CSRF tokens, both signed with the server's secret (itsdangerous).

A session cookie names its user and a random session id; it is HttpOnly and SameSite=Lax,
and expires after ``config.session_seconds``. Every form post (every unsafe request that is
not authenticated by an API token) carries a CSRF token bound to the session — an HMAC of the
session id — in the form field ``csrf`` or the header ``X-CSRF-Token``. Before sign-in, the
sign-in form's token is bound to a random id kept in its own cookie::

    token = csrf_token(request, response)    # in a page with a form: <input name="csrf" value=…>

``check_csrf`` (an app-wide dependency) refuses a post without it: 403.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass

from fastapi import Request, Response
from itsdangerous import BadSignature, URLSafeTimedSerializer

from assay.errors import PermissionDenied

SESSION_COOKIE = "assay_session"
#: the sign-in form's CSRF binding, before there is a session
FORM_COOKIE = "assay_form"
CSRF_FIELD = "csrf"
CSRF_HEADER = "X-CSRF-Token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")


@dataclass(frozen=True)
class BrowserSession:
    user_id: str
    session_id: str


class Sessions:
    def __init__(self, secret: str, max_age: int, *, secure: bool = False) -> None:
        self._serializer = URLSafeTimedSerializer(secret, salt="assay.session")
        self._form_serializer = URLSafeTimedSerializer(secret, salt="assay.form")
        self._key = hashlib.sha256(("assay.csrf:" + secret).encode()).digest()
        self.max_age = max_age
        self.secure = secure

    def issue(self, response: Response, user_id: str) -> BrowserSession:
        session = BrowserSession(user_id, secrets.token_urlsafe(24))
        value = self._serializer.dumps({"u": session.user_id, "s": session.session_id})
        response.set_cookie(SESSION_COOKIE, value, max_age=self.max_age, httponly=True, samesite="lax",
                            secure=self.secure, path="/")  # fmt: skip
        response.delete_cookie(FORM_COOKIE, path="/")
        return session

    def read(self, cookie: str | None) -> BrowserSession | None:
        """The session a cookie holds; None if it is absent, forged, or older than ``max_age``."""
        if not cookie:
            return None
        try:
            data = self._serializer.loads(cookie, max_age=self.max_age)
        except BadSignature:
            return None
        if (
            not isinstance(data, dict)
            or not isinstance(data.get("u"), str)
            or not isinstance(data.get("s"), str)
        ):
            return None
        return BrowserSession(data["u"], data["s"])

    def end(self, response: Response) -> None:
        response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="lax", secure=self.secure)

    def token_for(self, binding: str) -> str:
        return hmac.new(self._key, binding.encode(), hashlib.sha256).hexdigest()

    def form_binding(self, request: Request) -> str | None:
        cookie = request.cookies.get(FORM_COOKIE)
        if not cookie:
            return None
        try:
            binding = self._form_serializer.loads(cookie, max_age=self.max_age)
        except BadSignature:
            return None
        return binding if isinstance(binding, str) else None

    def new_form_binding(self, response: Response) -> str:
        binding = secrets.token_urlsafe(24)
        response.set_cookie(FORM_COOKIE, self._form_serializer.dumps(binding), max_age=self.max_age,
                            httponly=True, samesite="lax", secure=self.secure, path="/")  # fmt: skip
        return "form:" + binding


def sessions_of(request: Request) -> Sessions:
    sessions: Sessions = request.app.state.context.sessions
    return sessions


def csrf_token(request: Request, response: Response) -> str:
    """The CSRF token for a form on the page ``response`` answers ``request`` with.

    Signed in: bound to the session. Not yet (the sign-in form): bound to a random id, set
    into a cookie on ``response`` unless the request brought one.
    """
    sessions = sessions_of(request)
    session: BrowserSession | None = getattr(request.state, "session", None)
    if session is not None:
        return sessions.token_for(session.session_id)
    binding = sessions.form_binding(request)
    return sessions.token_for("form:" + binding if binding else sessions.new_form_binding(response))


async def check_csrf(request: Request) -> None:
    """Refuse an unsafe request that a browser could have been tricked into sending (403)."""
    if request.method in SAFE_METHODS or getattr(request.state, "via_token", False):
        return
    sessions = sessions_of(request)
    session: BrowserSession | None = getattr(request.state, "session", None)
    if session is not None:
        binding: str | None = session.session_id
    else:
        form_binding = sessions.form_binding(request)
        binding = "form:" + form_binding if form_binding else None
    submitted = request.headers.get(CSRF_HEADER)
    if submitted is None and request.headers.get("content-type", "").startswith(_FORM_TYPES):
        value = (await request.form()).get(CSRF_FIELD)
        submitted = value if isinstance(value, str) else None
    if binding is None or not submitted or not hmac.compare_digest(sessions.token_for(binding), submitted):
        raise PermissionDenied(
            "this form post carries no valid CSRF token",
            hint="reload the page and send the form again (API clients: use a bearer token)",
        )
