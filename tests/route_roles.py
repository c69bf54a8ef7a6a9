"""Every route of the server → who may call it. ``tests/test_server_auth.py`` checks that the
app has exactly these routes, that each refuses anonymous callers (but the public ones), and
that each refuses a caller whose role is one too low. Add a line for every route you add.

``minimum``: "public" (anyone), "signed-in" (any user), or a role name — on the project of the
``{project}`` path parameter, or, for routes without one, on every project (``"*"``).
``body`` and ``query``: a valid request body and query, so that a refusal is about the caller
and not the request. ``placeholder``: the path's parameters (``x``) name nothing, so the
caller who may is answered 404 (the registry's routes; the test's server holds no data), or
422 for an upload (its body is multipart, not ``body``).
``allowed``: the status an admin gets, for a route whose path parameters name nothing here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Access:
    minimum: str
    body: dict[str, Any] | None = None
    query: dict[str, str] | None = None
    placeholder: bool = False
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
    ("GET", "/api/v1/projects/{project}/executions"): Access("viewer"),
    ("GET", "/api/v1/projects/{project}/executions/{counter}"): Access("viewer", placeholder=True),
    ("GET", "/api/v1/projects/{project}/executions/{counter}/logs"): Access("viewer", placeholder=True),
    ("GET", "/api/v1/projects/{project}/executions/{counter}/outputs"): Access("viewer", placeholder=True),
    ("GET", "/api/v1/projects/{project}/executions/{counter}/outputs/{path:path}"): Access(
        "viewer", placeholder=True
    ),
    ("POST", "/api/v1/projects/{project}/executions/{counter}/stop"): Access("member", placeholder=True),
    ("GET", "/api/v1/projects/{project}/models"): Access("viewer"),
    ("GET", "/api/v1/projects/{project}/models/{model}"): Access("viewer", placeholder=True),
    ("GET", "/api/v1/projects/{project}/models/{model}/versions"): Access("viewer", placeholder=True),
    ("GET", "/api/v1/projects/{project}/models/{model}/versions/{version}"): Access(
        "viewer", placeholder=True
    ),
    ("GET", "/api/v1/projects/{project}/models/{model}/compare"): Access(
        "viewer", query={"versions": "v1,v2"}, placeholder=True
    ),
    ("POST", "/api/v1/projects/{project}/models/{model}/versions/{version}/approve"): Access(
        "approver", {"comment": "fine"}, placeholder=True
    ),
    ("POST", "/api/v1/projects/{project}/models/{model}/versions/{version}/reject"): Access(
        "approver", {"comment": "no"}, placeholder=True
    ),
    ("POST", "/api/v1/projects/{project}/models/{model}/versions/{version}/comments"): Access(
        "member", {"text": "looks good"}, placeholder=True
    ),
    ("POST", "/api/v1/projects/{project}/models/{model}/versions/{version}/scores"): Access(
        "member", {"rubric": "tone", "value": 4}, placeholder=True
    ),
    ("GET", "/api/v1/projects/{project}/models/{model}/aliases"): Access("viewer", placeholder=True),
    ("GET", "/api/v1/projects/{project}/models/{model}/aliases/{alias}"): Access("viewer", placeholder=True),
    ("GET", "/api/v1/projects/{project}/models/{model}/aliases/{alias}/history"): Access(
        "viewer", placeholder=True
    ),
    ("PUT", "/api/v1/projects/{project}/models/{model}/aliases/{alias}"): Access(
        "member", {"version": "v1"}, placeholder=True
    ),
    ("GET", "/api/v1/projects/{project}/datasets"): Access("viewer"),
    ("GET", "/api/v1/projects/{project}/datasets/{dataset}"): Access("viewer", placeholder=True),
    ("POST", "/api/v1/projects/{project}/datasets/{dataset}/versions"): Access("member", placeholder=True),
    ("GET", "/api/v1/projects/{project}/datasets/{dataset}/versions/{version}"): Access(
        "viewer", placeholder=True
    ),
    ("GET", "/api/v1/projects/{project}/datasets/{dataset}/versions/{version}/files/{path:path}"): Access(
        "viewer", placeholder=True
    ),
    ("POST", "/api/v1/projects/{project}/datasets/{dataset}/versions/{version}/flag"): Access(
        "approver", {"reason": "leaked labels"}, placeholder=True
    ),
    ("POST", "/api/v1/projects/{project}/datasets/{dataset}/versions/{version}/unflag"): Access(
        "approver", {"reason": "fixed"}, placeholder=True
    ),
    ("GET", "/api/v1/projects/{project}/lineage/affected"): Access(
        "viewer", query={"uri": "dataset://x/v1"}, placeholder=True
    ),
    ("GET", "/api/v1/projects/{project}/lineage/show"): Access(
        "viewer", query={"uri": "dataset://x/v1"}, placeholder=True
    ),
    ("GET", "/api/v1/projects/{project}/lineage/graph"): Access(
        "viewer", query={"uri": "dataset://x/v1"}, placeholder=True
    ),
    ("GET", "/api/v1/projects/{project}/events"): Access("viewer"),
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
