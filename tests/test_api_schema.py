"""Schemathesis against the server's own OpenAPI schema, as an admin: whatever it sends, no
answer is a 500, and every error is a problem+json body."""

from __future__ import annotations

from typing import Any

import schemathesis
from hypothesis import HealthCheck, given, settings

from tests.test_server_auth import Server, server  # noqa: F401 (the fixture)

EXAMPLES = 15


def test_no_request_gets_a_500(server: Server) -> None:  # noqa: F811
    app = server.client.app
    # NOTE: the schema is read from the app itself: its URL answers only an authenticated caller.
    schema = schemathesis.openapi.from_asgi(
        "/api/v1/openapi.json", app, headers=server.bearer(server.admin_token)
    )
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 10
    seen: list[str] = []
    calls: list[int] = []
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(
            max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), database=None
        )
        def check(case: Any) -> None:
            answer = case.call(headers=server.bearer(server.admin_token))
            calls.append(answer.status_code)
            where = f"{case.method} {case.formatted_path}"
            assert answer.status_code < 500, f"{where}: {answer.status_code} {answer.text[:500]}"
            if answer.status_code >= 400:
                kind = answer.headers["content-type"]  # schemathesis's response: a list per header
                assert str(kind[0] if isinstance(kind, list) else kind).startswith(
                    "application/problem+json"
                ), where

        check()
        seen.append(f"{operation.method.upper()} {operation.path}")
    assert "GET /api/v1/projects/{project}" in seen
    assert len(calls) >= 2 * len(operations)  # every operation was called, most of them more than once
    assert 200 in calls or 201 in calls  # and some calls got through, not only refusals
