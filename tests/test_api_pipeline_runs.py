"""The pipeline-run and tree routes with FastAPI's TestClient (no scheduler: ``slots=0``), on
SQLite and PostgreSQL: bad requests change nothing, uploaded trees are checked and named by
digest, lists are paged by cursor. The runs driven in the background: ``test_server_e2e.py``."""

from __future__ import annotations

import dataclasses
import io
import tarfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from assay.operations import users
from assay.server.app import create_app
from assay.server.config import ServerConfig

SPEC = """\
- step:
    name: hello
    image: python:3.11
    command: echo hi
- pipeline:
    name: one
    nodes:
      - {name: a, type: execution, step: hello}
    edges: []
"""


@dataclasses.dataclass
class Api:
    client: TestClient
    headers: dict[str, str]
    home: Path

    def path(self, rest: str) -> str:
        return f"/api/v1/projects/{self.home.name}{rest}"


@pytest.fixture
def api(database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Api]:
    home = tmp_path / "runs"
    home.mkdir()
    (home / "valohai.yaml").write_text(SPEC)
    monkeypatch.setenv("ASSAY_DATABASE_URL", database_url)
    app = create_app(dataclasses.replace(ServerConfig.load(home), slots=0))
    token = users.init_server(app.state.context.catalog, "admin").token.value
    with TestClient(app) as client:
        yield Api(client, {"Authorization": f"Bearer {token}"}, home)


def tar_of(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for name, content in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(content)
            tar.addfile(info, io.BytesIO(content))
    return buffer.getvalue()


def runs(api: Api) -> list[int]:
    answer = api.client.get(api.path("/pipeline-runs"), headers=api.headers)
    assert answer.status_code == 200, answer.text
    return [run["counter"] for run in answer.json()["data"]]


def test_wrong_starts_are_422_or_404_and_record_nothing(api: Api) -> None:
    for body, status, words in (
        ({"pipeline": "on"}, 422, "did you mean 'one'"),
        ({"pipeline": "one", "node_parameters": {"b": {"x": ["1"]}}}, 422, "no node 'b'"),
        ({"pipeline": "one", "ref": "main", "tree": "0" * 64}, 422, "a ref or a tree, not both"),
        ({"pipeline": "one", "tree": "not-a-digest"}, 422, "is not a tree digest"),
        ({"pipeline": "one", "tree": "0" * 64}, 404, "no uploaded tree"),
        ({"pipeline": "one", "extra": 1}, 422, "extra"),
    ):
        answer = api.client.post(api.path("/pipeline-runs"), json=body, headers=api.headers)
        assert answer.status_code == status, (body, answer.text)
        assert answer.headers["content-type"] == "application/problem+json"
        assert words in answer.text, answer.text
    assert runs(api) == []


def test_an_uploaded_tree_is_named_by_its_digest_and_a_start_runs_it(api: Api) -> None:
    body = tar_of({"valohai.yaml": SPEC.replace("echo hi", "echo tree").encode()})
    first = api.client.post(api.path("/trees"), content=body, headers=api.headers)
    assert first.status_code == 201, first.text
    digest = first.json()["digest"]
    assert first.json() == {"digest": digest, "tree": digest}
    assert api.client.post(api.path("/trees"), content=body, headers=api.headers).json()["digest"] == digest
    started = api.client.post(api.path("/pipeline-runs"), json={"pipeline": "one", "tree": digest},
                              headers=api.headers)  # fmt: skip
    assert started.status_code == 201, started.text
    assert (started.json()["counter"], started.json()["pipeline"]) == (1, "one")


@pytest.mark.parametrize(
    ("files", "words"),
    [
        ({"../escape.txt": b"x", "valohai.yaml": SPEC.encode()}, "outside the tree"),
        ({"train.py": b"print()"}, "no valohai.yaml at its top"),
    ],
)
def test_a_bad_tree_is_refused_and_nothing_is_kept(api: Api, files: dict[str, bytes], words: str) -> None:
    answer = api.client.post(api.path("/trees"), content=tar_of(files), headers=api.headers)
    assert answer.status_code == 422, answer.text
    assert words in answer.json()["detail"]
    assert list((api.home / ".assay" / "trees").iterdir()) == []
    assert not (api.home / ".assay" / "escape.txt").exists()


def test_not_a_tar_and_an_empty_body_are_422(api: Api) -> None:
    for body, words in ((b"hello", "not a tar archive"), (b"", "the upload is empty")):
        answer = api.client.post(api.path("/trees"), content=body, headers=api.headers)
        assert answer.status_code == 422, answer.text
        assert words in answer.json()["detail"]


def test_runs_are_listed_newest_first_across_cursor_pages(api: Api) -> None:
    for _ in range(5):
        started = api.client.post(api.path("/pipeline-runs"), json={"pipeline": "one"}, headers=api.headers)
        assert started.status_code == 201, started.text
    seen: list[int] = []
    cursor: str | None = None
    while True:
        params = {"limit": "2", **({"cursor": cursor} if cursor else {})}
        page = api.client.get(api.path("/pipeline-runs"), params=params, headers=api.headers).json()
        seen += [run["counter"] for run in page["data"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert seen == [5, 4, 3, 2, 1]
    shown = api.client.get(api.path("/pipeline-runs/3"), headers=api.headers)
    assert shown.json()["counter"] == 3
    stopped = api.client.post(api.path("/pipeline-runs/3/stop"), headers=api.headers)
    assert stopped.status_code == 202, stopped.text
    assert stopped.json()["status"] in ("stopping", "stopped")
    bad = api.client.get(api.path("/pipeline-runs"), params={"cursor": "zzz"}, headers=api.headers)
    assert bad.status_code == 422
