"""The server remembers a checked token for a moment (server/memo.py): a revocation through its
API holds from the next request, one made elsewhere within ``memo_seconds``; the memo is keyed
by digests, never tokens, and stays bounded."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from assay.operations import users
from assay.operations.actor import Role
from assay.server.app import create_app
from assay.server.config import ServerConfig
from assay.server.memo import Memo

SPEC = "- step:\n    name: train\n    image: python:3.11\n    command: echo hi\n"

Served = tuple[TestClient, str, str]  # the client, the admin's token, a viewer's token


@pytest.fixture
def serve(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Callable[[float], Served]]:
    monkeypatch.setenv("ASSAY_DATABASE_URL", database_url)
    opened: list[TestClient] = []

    def start(memo_seconds: float) -> Served:
        home = tmp_path / f"home-{len(opened)}"
        home.mkdir()
        (home / "valohai.yaml").write_text(SPEC)
        config = dataclasses.replace(ServerConfig.load(home), slots=0, memo_seconds=memo_seconds)
        app = create_app(config)
        catalog = app.state.context.catalog
        admin = users.init_server(catalog, f"admin{len(opened)}")
        actor = users.authenticate_token(catalog, admin.token.value)
        viewer = users.add_user(catalog, actor, f"vic{len(opened)}", Role.VIEWER, None, None)
        client = TestClient(app).__enter__()
        opened.append(client)
        return client, admin.token.value, viewer.token.value

    yield start
    for client in opened:
        client.__exit__(None, None, None)


def _projects(client: TestClient, token: str) -> int:
    return client.get("/api/v1/projects", headers={"Authorization": f"Bearer {token}"}).status_code


def _token_id(client: TestClient, token: str) -> str:
    listed = client.get("/api/v1/tokens", headers={"Authorization": f"Bearer {token}"}).json()["data"]
    return str(listed[0]["id"])


def test_a_revocation_through_the_api_holds_from_the_next_request(serve: Callable[[float], Served]) -> None:
    client, admin, viewer = serve(60.0)
    assert _projects(client, viewer) == 200  # now remembered, for a minute
    token_id = _token_id(client, viewer)
    answer = client.delete(f"/api/v1/tokens/{token_id}", headers={"Authorization": f"Bearer {admin}"})
    assert answer.status_code == 200, answer.text
    assert _projects(client, viewer) == 401


def test_a_revocation_elsewhere_holds_once_the_memo_lapses(serve: Callable[[float], Served]) -> None:
    client, admin, viewer = serve(0.3)
    assert _projects(client, viewer) == 200
    catalog = client.app.state.context.catalog  # type: ignore[attr-defined]
    actor = users.authenticate_token(catalog, admin)
    # as `assay server tokens revoke` does from another process: the server is not told
    users.revoke_token(catalog, actor, _token_id(client, viewer))
    time.sleep(0.4)
    assert _projects(client, viewer) == 401


def test_with_no_memo_every_request_asks_the_catalog(serve: Callable[[float], Served]) -> None:
    client, admin, viewer = serve(0.0)
    assert _projects(client, viewer) == 200
    catalog = client.app.state.context.catalog  # type: ignore[attr-defined]
    users.revoke_token(catalog, users.authenticate_token(catalog, admin), _token_id(client, viewer))
    assert _projects(client, viewer) == 401


def test_the_memo_keeps_digests_not_tokens(serve: Callable[[float], Served]) -> None:
    client, _, viewer = serve(60.0)
    assert _projects(client, viewer) == 200
    memo = client.app.state.context.actors  # type: ignore[attr-defined]
    kept = repr(list(memo._kept))
    assert viewer not in kept
    assert users.TOKEN_PREFIX not in kept


def test_a_memo_forgets_what_is_old_and_what_is_too_much() -> None:
    memo: Memo[str, int] = Memo(seconds=0.2, size=2)
    memo.put("a", 1)
    memo.put("b", 2)
    memo.put("c", 3)
    assert (memo.get("a"), memo.get("b"), memo.get("c")) == (None, 2, 3)
    time.sleep(0.25)
    assert memo.get("b") is None
    memo.put("d", 4)
    memo.clear()
    assert memo.get("d") is None
    unkept: Memo[str, int] = Memo(seconds=0)
    unkept.put("e", 5)
    assert unkept.get("e") is None
