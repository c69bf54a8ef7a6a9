"""Every route of the server → who may call it. ``tests/test_server_auth.py`` checks that the
app has exactly these routes, that each refuses anonymous callers (but the public ones), and
that each refuses a caller whose role is one too low. Add a line for every route you add.

``minimum``: "public" (anyone), "signed-in" (any user), or a role name — on the project of the
``{project}`` path parameter, or, for routes without one, on every project (``"*"``).
``body``: a valid request body, so that a refusal is about the caller and not the body.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Access:
    minimum: str
    body: dict[str, Any] | None = None


PUBLIC, SIGNED_IN = "public", "signed-in"

ROUTE_ROLES: dict[tuple[str, str], Access] = {
    ("GET", "/healthz"): Access(PUBLIC),
    ("GET", "/readyz"): Access(PUBLIC),
    ("GET", "/sign-in"): Access(PUBLIC),
    ("POST", "/sign-in"): Access(PUBLIC),
    ("POST", "/sign-out"): Access(SIGNED_IN),
    ("GET", "/metrics"): Access("viewer"),
    ("GET", "/api/v1/openapi.json"): Access(SIGNED_IN),
    ("GET", "/api/v1/projects"): Access(SIGNED_IN),
    ("POST", "/api/v1/projects"): Access("admin", {"name": "elsewhere", "repository": "/"}),
    ("GET", "/api/v1/projects/{project}"): Access("viewer"),
    ("GET", "/api/v1/users"): Access("admin"),
    ("POST", "/api/v1/users"): Access("admin", {"name": "newcomer", "role": "viewer"}),
    ("GET", "/api/v1/tokens"): Access(SIGNED_IN),
    ("POST", "/api/v1/tokens"): Access(SIGNED_IN, {"name": "ci"}),
    ("DELETE", "/api/v1/tokens/{token_id}"): Access(SIGNED_IN),
}
