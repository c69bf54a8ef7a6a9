"""Every route of the server → who may call it. ``tests/test_server_auth.py`` checks that the
app has exactly these routes, that each refuses anonymous callers (but the public ones), and
that each refuses a caller whose role is one too low. Add a line for every route you add.

``minimum``: "public" (anyone), "signed-in" (any user), or a role name — on the project of the
``{project}`` path parameter, or, for routes without one, on every project (``"*"``).
``body``: a valid request body, so that a refusal is about the caller and not the body.
``allowed``: the status an admin gets, for a route whose path parameters name nothing here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Access:
    minimum: str
    body: dict[str, Any] | None = None
    #: what the admin gets where the path names nothing that exists ("x"); None: a success
    allowed: int | None = None


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
    ("POST", "/api/v1/projects/{project}/pipeline-runs"): Access(
        "member", {"pipeline": "nothing"}, allowed=422
    ),
    ("GET", "/api/v1/projects/{project}/pipeline-runs"): Access("viewer"),
    ("GET", "/api/v1/projects/{project}/pipeline-runs/{counter}"): Access("viewer", allowed=404),
    ("POST", "/api/v1/projects/{project}/pipeline-runs/{counter}/resume"): Access("member", allowed=404),
    ("POST", "/api/v1/projects/{project}/pipeline-runs/{counter}/stop"): Access("member", allowed=404),
    ("POST", "/api/v1/projects/{project}/trees"): Access("member", allowed=422),
    ("GET", "/api/v1/projects/{project}/gates"): Access("viewer"),
    ("POST", "/api/v1/projects/{project}/pipeline-runs/{counter}/gates/{node}/approve"): Access(
        "approver", {}, allowed=404
    ),
    ("POST", "/api/v1/projects/{project}/pipeline-runs/{counter}/gates/{node}/reject"): Access(
        "approver", {}, allowed=404
    ),
    ("GET", "/api/v1/users"): Access("admin"),
    ("POST", "/api/v1/users"): Access("admin", {"name": "newcomer", "role": "viewer"}),
    ("GET", "/api/v1/tokens"): Access(SIGNED_IN),
    ("POST", "/api/v1/tokens"): Access(SIGNED_IN, {"name": "ci"}),
    ("DELETE", "/api/v1/tokens/{token_id}"): Access(SIGNED_IN),
}
