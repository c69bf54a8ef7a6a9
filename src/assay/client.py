"""A Python client of the Assay server's REST API (docs/server.md), on httpx.

Usage::

    from assay import Client

    with Client("http://127.0.0.1:8000", token="assay_…", project="summarizer") as assay:
        run = assay.start_pipeline("train-and-evaluate-model", parameters={"epochs": ["3"]})
        for gate in assay.gates(waiting_for_me=True):
            assay.approve(gate["run"], gate["node"], comment="ROUGE-L within budget")
        version = assay.version("summarizer", "production")

Answers are the JSON documents the server returns — the same documents `assay … --json` prints
for the same things, so scripts can move between the two. Lists are followed across their
cursor pages. An error answer is raised as the ``AssayError`` of its status (404 ``NotFound``,
409 ``Conflict``, 403 ``PermissionDenied``, 401 ``Unauthenticated``, 422 ``InvalidRequest``),
with the server's message and hint; a server that cannot be reached is an ``AssayError`` that
names the URL.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from types import TracebackType
from typing import IO, Any
from urllib.parse import quote

import httpx

from assay.errors import AssayError, Conflict, InvalidRequest, NotFound, PermissionDenied, Unauthenticated

JSON = dict[str, Any]
#: how much of a download is held at once
CHUNK = 1024 * 1024


_BY_STATUS: dict[int, type[AssayError]] = {
    401: Unauthenticated,
    403: PermissionDenied,
    404: NotFound,
    409: Conflict,
    422: InvalidRequest,
}


class Client:
    """The REST API of one server, as one principal (its token)."""

    def __init__(
        self,
        url: str,
        token: str | None = None,
        *,
        project: str | None = None,
        timeout: float = 30.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.url = url.rstrip("/")
        self.project = project
        self._http = httpx.Client(
            base_url=f"{self.url}/api/v1", headers=headers, timeout=timeout, transport=transport
        )

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    # -- projects ---------------------------------------------------------------------------

    def projects(self) -> list[JSON]:
        return list(self._pages("/projects"))

    def register_project(self, name: str, repository: str, default_ref: str | None = None) -> JSON:
        return self._json("POST", "/projects", json={"name": name, "repository": repository,
                                                      "default_ref": default_ref})  # fmt: skip

    def show_project(self, project: str | None = None) -> JSON:
        return self._json("GET", self._in(project))

    # -- executions -------------------------------------------------------------------------

    def executions(
        self, *, status: str | None = None, step: str | None = None, pipeline_run: int | None = None,
        limit: int | None = None, project: str | None = None,
    ) -> list[JSON]:  # fmt: skip
        query = {"status": status, "step": step, "pipeline_run": pipeline_run}
        return list(self._pages(f"{self._in(project)}/executions", query, limit))

    def execution(self, counter: int | str, *, project: str | None = None) -> JSON:
        return self._json("GET", f"{self._in(project)}/executions/{_seg(counter)}")

    def logs(self, counter: int | str, *, project: str | None = None) -> str:
        return self._request("GET", f"{self._in(project)}/executions/{_seg(counter)}/logs").text

    def follow_logs(self, counter: int | str, *, project: str | None = None) -> Iterator[str]:
        """The log's lines as they are written (Server-Sent Events), until the execution ends."""
        path = f"{self._in(project)}/executions/{_seg(counter)}/logs"
        with self._http.stream("GET", path, params={"follow": "true"}, timeout=None) as answer:
            _raise_for(answer, read=True)
            event = "message"
            for line in answer.iter_lines():
                if line.startswith("event:"):
                    event = line.partition(":")[2].strip()
                elif line.startswith("data:") and event == "message":
                    yield json.loads(line.partition(":")[2])["line"]
                elif not line:
                    if event == "end":
                        return
                    event = "message"

    def outputs(self, counter: int | str, *, project: str | None = None) -> list[JSON]:
        return list(self._pages(f"{self._in(project)}/executions/{_seg(counter)}/outputs"))

    def download_output(
        self, counter: int | str, path: str, into: Path, *, project: str | None = None
    ) -> Path:
        return self._download(f"{self._in(project)}/executions/{_seg(counter)}/outputs/{_path(path)}", into)

    def stop_execution(self, counter: int | str, *, project: str | None = None) -> JSON:
        return self._json("POST", f"{self._in(project)}/executions/{_seg(counter)}/stop")

    # -- pipeline runs and gates ------------------------------------------------------------

    def start_pipeline(
        self,
        pipeline: str,
        *,
        parameters: Mapping[str, list[str]] | None = None,
        node_parameters: Mapping[str, Mapping[str, list[str]]] | None = None,
        node_inputs: Mapping[str, Mapping[str, list[str]]] | None = None,
        ref: str | None = None,
        tree: str | None = None,
        reuse: bool | None = None,
        project: str | None = None,
    ) -> JSON:
        body = {
            "pipeline": pipeline,
            "parameters": dict(parameters or {}),
            "node_parameters": {node: dict(given) for node, given in (node_parameters or {}).items()},
            "node_inputs": {node: dict(given) for node, given in (node_inputs or {}).items()},
            "ref": ref,
            "tree": tree,
            "reuse": reuse,
        }
        return self._json("POST", f"{self._in(project)}/pipeline-runs", json=body)

    def upload_tree(self, archive: Path, *, project: str | None = None) -> JSON:
        """Upload a working tree (a tar file) for an ``--adhoc`` run; returns its digest."""
        with archive.open("rb") as handle:
            return self._json("POST", f"{self._in(project)}/trees", content=_chunks(handle),
                              headers={"Content-Type": "application/x-tar"})  # fmt: skip

    def pipeline_runs(self, *, limit: int | None = None, project: str | None = None) -> list[JSON]:
        return list(self._pages(f"{self._in(project)}/pipeline-runs", limit=limit))

    def pipeline_run(self, counter: int | str, *, project: str | None = None) -> JSON:
        return self._json("GET", f"{self._in(project)}/pipeline-runs/{_seg(counter)}")

    def resume(self, counter: int | str, *, project: str | None = None) -> JSON:
        return self._json("POST", f"{self._in(project)}/pipeline-runs/{_seg(counter)}/resume")

    def stop(self, counter: int | str, *, project: str | None = None) -> JSON:
        return self._json("POST", f"{self._in(project)}/pipeline-runs/{_seg(counter)}/stop")

    def gates(self, *, waiting_for_me: bool = False, project: str | None = None) -> list[JSON]:
        query = {"waiting_for_me": "true" if waiting_for_me else None}
        return list(self._pages(f"{self._in(project)}/gates", query))

    def approve(
        self, counter: int | str, node: str, *, comment: str | None = None, project: str | None = None
    ) -> JSON:
        return self._decide(counter, node, "approve", comment, project)

    def reject(
        self, counter: int | str, node: str, *, comment: str | None = None, project: str | None = None
    ) -> JSON:
        return self._decide(counter, node, "reject", comment, project)

    def _decide(
        self, counter: int | str, node: str, how: str, comment: str | None, project: str | None
    ) -> JSON:
        path = f"{self._in(project)}/pipeline-runs/{_seg(counter)}/gates/{quote(node, safe='')}/{how}"
        return self._json("POST", path, json={"comment": comment})

    # -- models -----------------------------------------------------------------------------

    def models(self, *, project: str | None = None) -> list[JSON]:
        return list(self._pages(f"{self._in(project)}/models"))

    def model(self, model: str, *, project: str | None = None) -> JSON:
        """A model with its versions and aliases."""
        return self._json("GET", self._model(model, project))

    def versions(
        self, model: str, *, status: str | None = None, tag: str | None = None, limit: int | None = None,
        project: str | None = None,
    ) -> list[JSON]:  # fmt: skip
        query = {"status": status, "tag": tag}
        return list(self._pages(f"{self._model(model, project)}/versions", query, limit))

    def version(
        self, model: str, version: str | int, *, at: str | None = None, project: str | None = None
    ) -> JSON:
        """A version (``v3``, ``production``, ``latest``); with ``at`` (ISO-8601) and an alias,
        the version the alias held then."""
        params = {"at": at} if at is not None else None
        return self._json("GET", f"{self._model(model, project)}/versions/{_seg(version)}", params=params)

    def compare(self, model: str, versions: Iterable[str | int], *, project: str | None = None) -> JSON:
        wanted = ",".join(str(v) for v in versions)
        return self._json("GET", f"{self._model(model, project)}/compare", params={"versions": wanted})

    def approve_version(
        self, model: str, version: str | int, *, comment: str | None = None, force: bool = False,
        reason: str | None = None, project: str | None = None,
    ) -> JSON:  # fmt: skip
        path = f"{self._model(model, project)}/versions/{_seg(version)}/approve"
        return self._json("POST", path, json={"comment": comment, "force": force, "reason": reason})

    def reject_version(
        self, model: str, version: str | int, *, comment: str | None = None, project: str | None = None
    ) -> JSON:
        path = f"{self._model(model, project)}/versions/{_seg(version)}/reject"
        return self._json("POST", path, json={"comment": comment})

    def comment(self, model: str, version: str | int, text: str, *, project: str | None = None) -> JSON:
        path = f"{self._model(model, project)}/versions/{_seg(version)}/comments"
        return self._json("POST", path, json={"text": text})

    def score(
        self, model: str, version: str | int, rubric: str, value: int, *, comment: str | None = None,
        project: str | None = None,
    ) -> JSON:  # fmt: skip
        path = f"{self._model(model, project)}/versions/{_seg(version)}/scores"
        return self._json("POST", path, json={"rubric": rubric, "value": value, "comment": comment})

    def aliases(self, model: str, *, project: str | None = None) -> list[JSON]:
        return list(self._pages(f"{self._model(model, project)}/aliases"))

    def alias(self, model: str, alias: str, *, at: str | None = None, project: str | None = None) -> JSON:
        """Where ``alias`` points now, or pointed at ``at`` (ISO-8601): alias, uri, at, version."""
        params = {"at": at} if at is not None else None
        return self._json("GET", f"{self._model(model, project)}/aliases/{_seg(alias)}", params=params)

    def alias_history(self, model: str, alias: str, *, project: str | None = None) -> list[JSON]:
        return list(self._pages(f"{self._model(model, project)}/aliases/{_seg(alias)}/history"))

    def set_alias(
        self, model: str, alias: str, version: str | int, *, reason: str | None = None,
        force: bool = False, project: str | None = None,
    ) -> JSON:  # fmt: skip
        body = {"version": str(version), "reason": reason, "force": force}
        return self._json("PUT", f"{self._model(model, project)}/aliases/{_seg(alias)}", json=body)

    # -- datasets ---------------------------------------------------------------------------

    def datasets(self, *, project: str | None = None) -> list[JSON]:
        return list(self._pages(f"{self._in(project)}/datasets"))

    def dataset(self, dataset: str, *, project: str | None = None) -> JSON:
        """A dataset with its versions and aliases."""
        return self._json("GET", self._dataset(dataset, project))

    def dataset_version(self, dataset: str, version: str | int, *, project: str | None = None) -> JSON:
        return self._json("GET", f"{self._dataset(dataset, project)}/versions/{_seg(version)}")

    def create_dataset_version(
        self, dataset: str, files: Mapping[str, Path], *, version: str, tags: Iterable[str] = (),
        from_version: str | None = None, aliases: Iterable[str] = (), project: str | None = None,
    ) -> JSON:  # fmt: skip
        """A new version of ``dataset`` holding ``files`` (name in the version → file on disk),
        streamed: a file is read in chunks, never held whole."""
        handles = {name: path.open("rb") for name, path in files.items()}
        try:
            upload = [
                ("files", (name, handle, "application/octet-stream")) for name, handle in handles.items()
            ]
            # NOTE: httpx sends the fields before the files, as the server needs them
            data: dict[str, Any] = {"version": version, "tag": list(tags), "alias": list(aliases)}
            if from_version is not None:
                data["from"] = from_version
            return self._json("POST", f"{self._dataset(dataset, project)}/versions", files=upload, data=data,
                              timeout=None)  # fmt: skip
        finally:
            for handle in handles.values():
                handle.close()

    def download_dataset_file(
        self, dataset: str, version: str | int, path: str, into: Path, *, project: str | None = None
    ) -> Path:
        where = f"{self._dataset(dataset, project)}/versions/{_seg(version)}/files/{_path(path)}"
        return self._download(where, into)

    def flag(
        self, dataset: str, version: str | int, reason: str, *, demote: bool = False,
        project: str | None = None,
    ) -> JSON:  # fmt: skip
        path = f"{self._dataset(dataset, project)}/versions/{_seg(version)}/flag"
        return self._json("POST", path, json={"reason": reason, "demote": demote})

    def unflag(self, dataset: str, version: str | int, reason: str, *, project: str | None = None) -> JSON:
        path = f"{self._dataset(dataset, project)}/versions/{_seg(version)}/unflag"
        return self._json("POST", path, json={"reason": reason})

    # -- lineage and events -----------------------------------------------------------------

    def affected(self, uri: str, *, depth: int | None = None, project: str | None = None) -> JSON:
        return self._json("GET", f"{self._in(project)}/lineage/affected", params=_lineage(uri, depth))

    def lineage(self, uri: str, *, depth: int | None = None, project: str | None = None) -> JSON:
        return self._json("GET", f"{self._in(project)}/lineage/show", params=_lineage(uri, depth))

    def graph(
        self, uri: str, *, direction: str = "down", depth: int | None = None, project: str | None = None
    ) -> JSON:
        params = {**_lineage(uri, depth), "direction": direction}
        return self._json("GET", f"{self._in(project)}/lineage/graph", params=params)

    def events(
        self, *, kind: str | None = None, subject: str | None = None, limit: int | None = None,
        project: str | None = None,
    ) -> list[JSON]:  # fmt: skip
        return list(self._pages(f"{self._in(project)}/events", {"kind": kind, "subject": subject}, limit))

    # -- plumbing ---------------------------------------------------------------------------

    def _in(self, project: str | None) -> str:
        chosen = project or self.project
        if not chosen:
            raise InvalidRequest("no project given", hint="Client(url, token, project=NAME), or project=…")
        return f"/projects/{_seg(chosen)}"

    def _model(self, model: str, project: str | None) -> str:
        return f"{self._in(project)}/models/{_seg(model)}"

    def _dataset(self, dataset: str, project: str | None) -> str:
        return f"{self._in(project)}/datasets/{_seg(dataset)}"

    def _request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            answer = self._http.request(method, path, **kwargs)
        except httpx.TransportError as exc:
            raise AssayError(
                f"the Assay server at {self.url} cannot be reached: {exc}",
                hint="is `assay server` running there? ASSAY_URL names it",
            ) from None
        _raise_for(answer)
        return answer

    def _json(self, method: str, path: str, **kwargs: Any) -> JSON:
        found: JSON = self._request(method, path, **kwargs).json()
        return found

    def _pages(
        self, path: str, query: Mapping[str, Any] | None = None, limit: int | None = None
    ) -> Iterator[JSON]:
        params = {name: value for name, value in (query or {}).items() if value is not None}
        given = 0
        cursor: str | None = None
        while True:
            page_size = min(500, limit - given) if limit is not None else 500
            page = self._json("GET", path, params={**params, "limit": page_size,
                                                   **({"cursor": cursor} if cursor else {})})  # fmt: skip
            for item in page["data"]:
                yield item
                given += 1
                if limit is not None and given >= limit:
                    return
            cursor = page.get("next_cursor")
            if not cursor:
                return

    def _download(self, path: str, into: Path) -> Path:
        """Stream ``path`` into the file ``into`` (or into the folder ``into``, by its name)."""
        with self._http.stream("GET", path) as answer:
            _raise_for(answer, read=True)
            target = into / path.rsplit("/", 1)[-1] if into.is_dir() else into
            partial = target.with_name(f".{target.name}.partial")
            with partial.open("wb") as handle:
                for chunk in answer.iter_bytes(CHUNK):
                    handle.write(chunk)
            partial.replace(target)
        return target


def _raise_for(answer: httpx.Response, *, read: bool = False) -> None:
    if answer.status_code < 400:
        return
    if read:
        answer.read()
    try:
        problem = answer.json()
    except ValueError:
        problem = {"detail": answer.text[:500] or answer.reason_phrase}
    detail = problem.get("detail") or problem.get("title") or f"HTTP {answer.status_code}"
    error = _BY_STATUS.get(answer.status_code, AssayError)
    raise error(str(detail), hint=problem.get("hint"))


def _lineage(uri: str, depth: int | None) -> dict[str, str]:
    return {"uri": uri, **({"depth": str(depth)} if depth is not None else {})}


def _seg(value: str | int) -> str:
    """One path segment: a name that holds a slash or a space still names one thing."""
    return quote(str(value), safe="")


def _path(value: str) -> str:
    """A file's path inside an execution or a version: its slashes kept."""
    return "/".join(quote(part, safe="") for part in value.split("/"))


def _chunks(handle: IO[bytes]) -> Iterator[bytes]:
    while chunk := handle.read(CHUNK):
        yield chunk
