"""The server's door: accounts, tokens, sign-in, CSRF, throttling, every route's minimum role,
access logs, metrics, and ``assay server`` in a real process (SQLite and PostgreSQL)."""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from fastapi.routing import iter_route_contexts
from fastapi.testclient import TestClient

from assay.catalog import Catalog
from assay.errors import Conflict, Unauthenticated
from assay.operations import users
from assay.operations.actor import Actor, Role
from assay.server.app import create_app
from assay.server.config import ServerConfig
from tests.route_roles import PUBLIC, ROUTE_ROLES, SIGNED_IN, Access

SPEC = "- step:\n    name: train\n    image: python:3.11\n    command: echo hi\n"
PASSWORD = "correct horse battery"


@dataclasses.dataclass
class Server:
    client: TestClient
    catalog: Catalog
    admin_token: str
    project_id: str

    def bearer(self, token: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {token}"}

    def user(self, name: str, role: Role, project: str | None, password: str | None = None) -> str:
        admin = users.authenticate_token(self.catalog, self.admin_token)
        return users.add_user(self.catalog, admin, name, role, project, password).token.value


@pytest.fixture
def server(database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Server]:
    home = tmp_path / "summarizer"
    home.mkdir()
    (home / "valohai.yaml").write_text(SPEC)
    monkeypatch.setenv("ASSAY_DATABASE_URL", database_url)
    config = dataclasses.replace(ServerConfig.load(home), slots=0, sign_in_delay=0.0)
    app = create_app(config)
    context = app.state.context
    first = users.init_server(context.catalog, "admin")
    with TestClient(app) as client:
        yield Server(client, context.catalog, first.token.value, context.home_project_id)


def test_init_twice_is_refused(server: Server) -> None:
    with pytest.raises(Conflict, match="initialized before"):
        users.init_server(server.catalog, "another")


def test_a_token_works_and_is_stored_hashed(server: Server) -> None:
    answer = server.client.get("/api/v1/projects", headers=server.bearer(server.admin_token))
    assert answer.status_code == 200, answer.text
    assert [p["id"] for p in answer.json()["data"]] == [server.project_id]
    with server.catalog.read() as session:
        from sqlalchemy import text

        rows = session.execute(text("SELECT digest, prefix FROM api_tokens")).all()
    import hashlib

    assert [row.digest for row in rows] == [hashlib.sha256(server.admin_token.encode()).hexdigest()]
    assert server.admin_token not in json.dumps([list(row) for row in rows])
    assert rows[0].prefix == server.admin_token[:12]


def test_wrong_revoked_and_expired_tokens_get_401_and_are_not_logged(
    server: Server, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="assay.access")
    ana = server.user("ana", Role.VIEWER, server.project_id)
    admin = users.authenticate_token(server.catalog, server.admin_token)
    revoked = users.create_token(server.catalog, admin, user="ana")
    users.revoke_token(server.catalog, admin, revoked.token.id)
    expired = users.create_token(server.catalog, admin, user="ana", expires_in=timedelta(minutes=1))
    with server.catalog.transaction() as session:
        from sqlalchemy import text

        session.execute(
            text("UPDATE api_tokens SET expires_at = created_at WHERE id = :id"), {"id": expired.token.id}
        )
    assert server.client.get("/api/v1/projects", headers=server.bearer(ana)).status_code == 200
    for token, said in (
        (ana[:-2] + "xx", "not known"),
        (revoked.value, "revoked"),
        (expired.value, "expired"),
        ("not-a-token", "not an Assay API token"),
    ):
        answer = server.client.get("/api/v1/projects", headers=server.bearer(token))
        assert answer.status_code == 401
        assert answer.headers["content-type"] == "application/problem+json"
        assert answer.headers["www-authenticate"].startswith("Bearer")
        assert said in answer.json()["detail"]
        assert token not in answer.text
    logged = "\n".join(record.getMessage() for record in caplog.records)
    for token in (ana, revoked.value, expired.value, server.admin_token):
        assert token not in logged
    with pytest.raises(Unauthenticated):
        users.authenticate_token(server.catalog, revoked.value)


def test_access_log_lines_are_json_without_secrets(server: Server, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="assay.access")
    server.client.get(
        f"/api/v1/projects/{server.project_id}?secret=s3cr3t", headers=server.bearer(server.admin_token)
    )
    server.client.get("/api/v1/projects", headers={"Authorization": "Bearer assay_wrong"})
    lines = [json.loads(r.getMessage()) for r in caplog.records if r.name == "assay.access"]
    assert lines[0] == {
        **lines[0],
        "method": "GET",
        "route": "/api/v1/projects/{project}",
        "status": 200,
        "principal": "admin",
    }
    assert set(lines[0]) == {"time", "method", "route", "status", "duration_ms", "principal"}
    assert lines[1]["status"] == 401
    assert lines[1]["route"] == "/api/v1/projects"
    assert lines[1]["principal"] is None
    text = "\n".join(r.getMessage() for r in caplog.records)
    assert "s3cr3t" not in text
    assert "assay_wrong" not in text
    assert server.admin_token not in text


def _sign_in_form(client: TestClient) -> str:
    page = client.get("/sign-in")
    assert page.status_code == 200
    match = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert match
    return match.group(1)


def test_sign_in_sets_an_http_only_same_site_cookie_and_form_posts_need_csrf(server: Server) -> None:
    server.user("bea", Role.MEMBER, server.project_id, password=PASSWORD)
    client = server.client
    assert client.post("/sign-in", data={"name": "bea", "password": PASSWORD}).status_code == 403
    csrf = _sign_in_form(client)
    answer = client.post(
        "/sign-in", data={"name": "bea", "password": PASSWORD, "csrf": csrf}, follow_redirects=False
    )
    assert answer.status_code == 303, answer.text
    cookie = next(v for k, v in answer.headers.multi_items() if k == "set-cookie" and "assay_session" in v)
    assert "httponly" in cookie.lower()
    assert "samesite=lax" in cookie.lower()
    projects = client.get("/api/v1/projects")
    assert projects.status_code == 200
    assert projects.json()["data"][0]["role"] == "member"
    # a form post of the signed-in browser without its CSRF token is refused, with it accepted
    assert client.post("/sign-out", follow_redirects=False).status_code == 403
    assert client.post("/api/v1/tokens", json={"name": "x"}).status_code == 403
    page_token = _sign_in_form(client)  # signed in: the token is bound to the session
    assert client.post("/sign-out", data={"csrf": page_token}, follow_redirects=False).status_code == 303
    assert client.get("/api/v1/projects").status_code == 401


def test_five_wrong_passwords_and_the_sixth_is_429(server: Server) -> None:
    server.user("cy", Role.VIEWER, server.project_id, password=PASSWORD)
    csrf = _sign_in_form(server.client)
    for _ in range(5):
        wrong = server.client.post("/sign-in", data={"name": "cy", "password": "nope-nope", "csrf": csrf})
        assert wrong.status_code == 401
        assert "Wrong name or password" in wrong.text
    sixth = server.client.post("/sign-in", data={"name": "cy", "password": PASSWORD, "csrf": csrf})
    assert sixth.status_code == 429
    assert int(sixth.headers["retry-after"]) > 0


def test_unknown_names_are_refused_like_wrong_passwords(server: Server) -> None:
    with pytest.raises(Unauthenticated, match="wrong name or password"):
        users.authenticate_password(server.catalog, "nobody", PASSWORD)
    server.user("dee", Role.VIEWER, None)  # no password: tokens only
    with pytest.raises(Unauthenticated, match="wrong name or password"):
        users.authenticate_password(server.catalog, "dee", "")


def _routes(server: Server) -> set[tuple[str, str]]:
    """Every (method, path template) of the app, its included routers' routes too."""
    found = set()
    for context in iter_route_contexts(server.client.app.routes):  # type: ignore[attr-defined]
        methods = getattr(context.original_route, "methods", None) or ()
        found.update((method, context.path) for method in methods if method != "HEAD")
    assert ("GET", "/healthz") in found
    return found


def test_the_route_table_names_every_route(server: Server) -> None:
    assert _routes(server) == set(ROUTE_ROLES), "add the new route to tests/route_roles.py"


def _call(server: Server, method: str, path: str, headers: dict[str, str], access: Access) -> httpx.Response:
    url = path.replace("{project}", server.project_id).replace("{token_id}", "0" * 36)
    url = re.sub(r"\{[^}]+\}", "x", url)
    return server.client.request(method, url, headers=headers, json=access.body, params=access.query)


@pytest.mark.parametrize("route", sorted(ROUTE_ROLES), ids=lambda r: f"{r[0]} {r[1]}")
def test_every_route_refuses_anonymous_and_too_low_callers(server: Server, route: tuple[str, str]) -> None:
    method, path = route
    access = ROUTE_ROLES[route]
    if access.minimum == PUBLIC:
        assert _call(server, method, path, {}, access).status_code != 401
        return
    anonymous = _call(server, method, path, {}, access)
    assert anonymous.status_code == 401, anonymous.text
    assert anonymous.headers["www-authenticate"].startswith("Bearer")
    if access.minimum == SIGNED_IN:
        return
    minimum = Role(access.minimum)
    below = [role for role in Role if role.rank == minimum.rank - 1]
    project = server.project_id if "{project}" in path else None
    if below:
        token = server.user("low", below[0], project)
        expected = 403
    else:  # below viewer: no role at all (a project route then says "not found")
        with server.catalog.transaction() as session:
            from assay.catalog import accounts

            record = accounts.create_user(session, "low", created_by="test")
        token = users.create_token(
            server.catalog, users.authenticate_token(server.catalog, server.admin_token), user=record.name
        ).value
        expected = 404 if project else 403
    refused = _call(server, method, path, server.bearer(token), access)
    assert refused.status_code == expected, refused.text
    assert refused.headers["content-type"] == "application/problem+json"
    allowed = _call(server, method, path, server.bearer(server.admin_token), access)
    # NOTE: where the path names nothing here (`x`), the allowed caller hears that (404, or 422
    # for a body that is no upload), which still shows the refusal above was about the role
    if access.allowed is not None:
        assert allowed.status_code == access.allowed, allowed.text
    else:
        assert allowed.status_code < 400 or (access.placeholder and allowed.status_code in (404, 422)), (
            allowed.text
        )


def test_metrics_has_the_documented_series(server: Server) -> None:
    headers = server.bearer(server.admin_token)
    server.client.get("/api/v1/projects", headers=headers)
    text = server.client.get("/metrics", headers=headers).text
    for series in (
        'assay_http_request_duration_seconds_bucket{method="GET",route="/api/v1/projects",'
        'status="200",le="+Inf"} 1',
        "assay_executions_running 0",
        "# TYPE assay_pipeline_runs gauge",
        "assay_gate_wait_seconds_count 0",
        "assay_gates_waiting 0",
    ):
        assert series in text


def test_problems_have_one_shape(server: Server) -> None:
    headers = server.bearer(server.admin_token)
    missing = server.client.get("/api/v1/projects/nothing-here", headers=headers)
    assert missing.status_code == 404
    assert set(missing.json()) == {"type", "title", "status", "detail", "hint"}
    invalid = server.client.post("/api/v1/users", headers=headers, json={"name": "x", "role": "boss"})
    assert invalid.status_code == 422
    assert invalid.headers["content-type"] == "application/problem+json"
    assert "role" in invalid.json()["detail"]
    twice = server.client.post("/api/v1/users", headers=headers, json={"name": "Admin", "role": "viewer"})
    assert twice.status_code == 409
    assert twice.json()["type"] == "urn:assay:problem:conflict"


def test_users_list_pages_by_cursor_and_tokens_show_their_value_once(server: Server) -> None:
    headers = server.bearer(server.admin_token)
    for name in ("eve", "fay", "gus"):
        made = server.client.post(
            "/api/v1/users", headers=headers, json={"name": name, "role": "member", "project": "summarizer"}
        )
        assert made.status_code == 201
        assert made.json()["token"]["value"].startswith("assay_")
    names, cursor = [], None
    while True:
        page = server.client.get(
            "/api/v1/users", headers=headers, params={"limit": 2, "cursor": cursor}
        ).json()
        names += [user["name"] for user in page["data"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert names == ["admin", "eve", "fay", "gus"]
    made = server.client.post(
        "/api/v1/tokens", headers=headers, json={"name": "ci", "expires_in": "30d"}
    ).json()
    assert made["value"].startswith("assay_")
    assert made["expires_at"]
    listed = server.client.get("/api/v1/tokens", headers=headers).json()["data"]
    assert all(token["value"] is None for token in listed)
    assert made["id"] in [t["id"] for t in listed]
    assert server.client.delete(f"/api/v1/tokens/{made['id']}", headers=headers).json()["revoked_at"]
    assert server.client.get("/healthz", headers=server.bearer(made["value"])).status_code == 200
    assert server.client.get("/api/v1/projects", headers=server.bearer(made["value"])).status_code == 401


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_assay_server_answers_and_stops_cleanly_on_sigterm(database_url: str, tmp_path: Path) -> None:
    home = tmp_path / "served"
    home.mkdir()
    (home / "valohai.yaml").write_text(SPEC)
    port = _free_port()
    env = {**os.environ, "ASSAY_DATABASE_URL": database_url}
    process = subprocess.Popen(
        [sys.executable, "-m", "assay", "-C", str(home), "server", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                health = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1)
                break
            except httpx.TransportError:
                assert process.poll() is None, process.communicate()
                assert time.monotonic() < deadline, "the server did not answer in 30 s"
                time.sleep(0.1)
        assert health.json() == {"status": "ok"}
        assert httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=5).json()["status"] == "ready"
        assert httpx.get(f"http://127.0.0.1:{port}/api/v1/projects", timeout=5).status_code == 401
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0, stderr
    assert '"route": "/readyz"' in stderr
    assert "Traceback" not in stderr


def test_the_cli_manages_accounts_on_the_catalog_it_would_serve(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from typer.testing import CliRunner

    from assay.cli.app import app

    monkeypatch.setenv("ASSAY_DATABASE_URL", database_url)
    runner = CliRunner()
    home = str(tmp_path)
    first = runner.invoke(app, ["-C", home, "server", "init", "--name", "root"])
    assert first.exit_code == 0, first.output
    token = first.stdout.strip().splitlines()[-1]
    assert token.startswith("assay_")
    again = runner.invoke(app, ["-C", home, "server", "init"])
    assert again.exit_code == 4
    added = runner.invoke(app, ["-C", home, "server", "users", "add", "ana", "--role", "approver",
                                "--password", "-"], input=PASSWORD + "\n")  # fmt: skip
    assert added.exit_code == 0, added.output
    listed = runner.invoke(app, ["-C", home, "server", "users", "list"])
    assert "approver on *" in listed.output
    with Catalog.open(database_url) as catalog:
        assert users.authenticate_password(catalog, "ana", PASSWORD).role_on("any") is Role.APPROVER
        made = runner.invoke(
            app, ["-C", home, "server", "tokens", "create", "--user", "ana", "--expires", "2w"]
        )
        assert made.exit_code == 0, made.output
        ana_token = made.stdout.strip().splitlines()[-1]
        assert users.authenticate_token(catalog, ana_token).name == "ana"
        token_id = users.tokens_of(catalog, Actor.local(), "ana")[-1].id
        assert runner.invoke(app, ["-C", home, "server", "tokens", "revoke", token_id]).exit_code == 0
        with pytest.raises(Unauthenticated, match="revoked"):
            users.authenticate_token(catalog, ana_token)
    assert token not in listed.output


def test_the_session_secret_is_made_once_readable_by_its_owner_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("ASSAY_SERVER_SECRET", raising=False)
    first = ServerConfig.load(tmp_path)
    secret_file = tmp_path / ".assay" / "server-secret"
    assert secret_file.stat().st_mode & 0o777 == 0o600
    assert ServerConfig.load(tmp_path).secret == first.secret
    assert first.secret not in repr(first)
    monkeypatch.setenv("ASSAY_SERVER_SECRET", "x" * 40)
    assert ServerConfig.load(tmp_path).secret == "x" * 40
