"""Inputs that gave a wrong result (issue 11, item 7), through the real CLI and real processes.

A changed http resource gave the old bytes; an empty ``--input name=`` took the whole project
folder, ``.assay/`` included; an ``--input`` into an input that an edge feeds was dropped
without a word; a file name that is not UTF-8 crashed with a traceback.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.utils import formatdate, parsedate_to_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from tests.conftest import ProjectFactory, invoke, invoke_json

ASSAY = str(Path(sys.executable).with_name("assay"))

SHOW = """\
import os
root = os.path.join(os.environ["VH_INPUTS_DIR"], "model")
for name in sorted(os.listdir(root)):
    print(name, open(os.path.join(root, name)).read())
"""
STEP = """\
- step:
    name: show
    image: python:3.11
    command: python show.py
    inputs:
      - {name: model, optional: true}
"""


@dataclass
class Resource:
    body: bytes
    etag: str | None = None
    last_modified: float | None = None  # seconds since the epoch
    date: float | None = None  # the Date the server claims when it answers (default: now)


@dataclass
class Site:
    """A real HTTP server on 127.0.0.1 that answers conditional requests as a CDN would."""

    base: str = ""
    resources: dict[str, Resource] = field(default_factory=dict)
    #: (path, status, If-None-Match, If-Modified-Since) of every request
    requests: list[tuple[str, int, str | None, str | None]] = field(default_factory=list)
    server: ThreadingHTTPServer | None = None

    def statuses(self) -> list[int]:
        return [status for _, status, _, _ in self.requests]

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            self.server = None


def _handler(site: Site) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            resource = site.resources.get(self.path)
            match, since = self.headers.get("If-None-Match"), self.headers.get("If-Modified-Since")
            if resource is None:
                site.requests.append((self.path, 404, match, since))
                self.send_error(404)
                return
            if match is not None:  # RFC 9110 13.2.2: If-None-Match wins over If-Modified-Since
                fresh = resource.etag is not None and resource.etag in [t.strip() for t in match.split(",")]
            elif since is not None and resource.last_modified is not None:
                fresh = int(resource.last_modified) <= parsedate_to_datetime(since).timestamp()
            else:
                fresh = False
            status = 304 if fresh else 200
            site.requests.append((self.path, status, match, since))
            self.date = resource.date
            self.send_response(status)
            if resource.etag is not None:
                self.send_header("ETag", resource.etag)
            if resource.last_modified is not None:
                self.send_header("Last-Modified", formatdate(resource.last_modified, usegmt=True))
            if status == 200:
                self.send_header("Content-Length", str(len(resource.body)))
            self.end_headers()
            if status == 200:
                self.wfile.write(resource.body)

        def date_time_string(self, timestamp: float | None = None) -> str:
            return super().date_time_string(timestamp or getattr(self, "date", None))

        def log_message(self, format: str, *args: object) -> None:
            pass

    return Handler


@pytest.fixture
def site() -> Iterator[Site]:
    found = Site()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(found))
    found.server, found.base = server, f"http://127.0.0.1:{server.server_address[1]}"
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield found
    finally:
        found.stop()


LAST_WEEK = 1_700_000_000.0


def _assay(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """The real ``assay`` in a process of its own, in ``root``, on the test's database."""
    return subprocess.run([ASSAY, *args], cwd=root, capture_output=True, text=True, check=False)


def _run_show(cli: CliRunner, root: Path, url: str) -> tuple[str, dict[str, Any]]:
    """Run the step on ``url``: what the step read, and the record of the file it got."""
    done = _assay(root, "run", "show", "--input", f"model={url}", "--json")
    assert done.returncode == 0, done.stderr
    view = json.loads(done.stdout)
    log = Path(view["log_path"]).read_text()
    [received] = view["inputs"]["model"]
    return log.strip(), received


def test_a_changed_resource_gives_its_new_bytes_and_an_unchanged_one_is_revalidated(
    cli: CliRunner, make_project: ProjectFactory, site: Site
) -> None:
    root = make_project(STEP, {"show.py": SHOW}).root
    site.resources["/weights.bin"] = Resource(b"one", etag='"v1"', last_modified=LAST_WEEK)
    url = f"{site.base}/weights.bin"

    log, first = _run_show(cli, root, url)
    assert log == "weights.bin one"
    assert first["http"]["fetch"] == "downloaded"
    assert first["http"]["etag"] == '"v1"'
    assert site.statuses() == [200]

    log, second = _run_show(cli, root, url)  # unchanged: a 304, not a second download
    assert log == "weights.bin one"
    assert second["http"]["fetch"] == "not-modified"
    assert second["http"]["validator"] == "etag"
    assert second["datum_id"] == first["datum_id"]
    assert site.requests[-1] == ("/weights.bin", 304, '"v1"', formatdate(LAST_WEEK, usegmt=True))

    site.resources["/weights.bin"] = Resource(b"two", etag='"v2"', last_modified=LAST_WEEK + 60)
    log, third = _run_show(cli, root, url)
    assert log == "weights.bin two"  # the old bytes were given here before
    assert third["http"]["fetch"] == "changed"
    assert third["http"]["etag"] == '"v2"'
    assert third["sha256"] != first["sha256"]
    assert third["datum_id"] != first["datum_id"]
    assert site.statuses() == [200, 304, 200]


def test_last_modified_alone_revalidates_but_not_when_it_is_as_new_as_the_response(
    cli: CliRunner, make_project: ProjectFactory, site: Site
) -> None:
    root = make_project(STEP, {"show.py": SHOW}).root
    site.resources["/old.txt"] = Resource(b"a", last_modified=LAST_WEEK)
    url = f"{site.base}/old.txt"
    assert _run_show(cli, root, url)[1]["http"]["last_modified"] == formatdate(LAST_WEEK, usegmt=True)
    log, again = _run_show(cli, root, url)
    assert (log, again["http"]["fetch"], again["http"]["validator"]) == ("old.txt a", "not-modified",
                                                                          "last-modified")  # fmt: skip
    site.resources["/old.txt"] = Resource(b"b", last_modified=LAST_WEEK + 1)
    assert _run_show(cli, root, url)[0] == "old.txt b"

    # A Last-Modified of the very second the response is dated could hide a change made later
    # in that second (RFC 9110 8.8.2.2): it is recorded, not trusted; the next run downloads.
    site.resources["/new.txt"] = Resource(b"c", last_modified=LAST_WEEK, date=LAST_WEEK)
    url = f"{site.base}/new.txt"
    _run_show(cli, root, url)
    site.resources["/new.txt"].body = b"d"
    log, again = _run_show(cli, root, url)
    assert log == "new.txt d"
    assert (again["http"]["fetch"], again["http"]["validator"]) == ("downloaded", None)
    assert site.requests[-1][1:] == (200, None, None)


def test_a_resource_without_validators_is_downloaded_every_time(
    cli: CliRunner, make_project: ProjectFactory, site: Site
) -> None:
    root = make_project(STEP, {"show.py": SHOW}).root
    site.resources["/plain.txt"] = Resource(b"first")
    url = f"{site.base}/plain.txt"
    assert _run_show(cli, root, url)[0] == "plain.txt first"
    site.resources["/plain.txt"] = Resource(b"second")
    log, received = _run_show(cli, root, url)
    assert log == "plain.txt second"
    when = received["http"]["downloaded_at"]
    assert received["http"] == {"fetch": "downloaded", "validator": None, "etag": None,
                                "last_modified": None, "downloaded_at": when}  # fmt: skip
    assert site.statuses() == [200, 200]


def test_an_unreachable_server_gives_the_cached_copy_with_a_warning_and_a_record(
    cli: CliRunner, make_project: ProjectFactory, site: Site
) -> None:
    root = make_project(STEP, {"show.py": SHOW}).root
    site.resources["/weights.bin"] = Resource(b"one", etag='"v1"')
    url = f"{site.base}/weights.bin"
    _, first = _run_show(cli, root, url)
    site.stop()

    done = _assay(root, "run", "show", "--input", f"model={url}", "--json")
    assert done.returncode == 0, done.stderr
    assert f"warning: {url} could not be revalidated" in done.stderr
    assert "the copy downloaded at " in done.stderr
    [received] = json.loads(done.stdout)["inputs"]["model"]
    assert received["http"]["fetch"] == "unreachable"
    assert received["http"]["error"]
    assert received["http"]["downloaded_at"] == first["http"]["downloaded_at"]
    assert received["sha256"] == first["sha256"]

    code, output = invoke(cli, root, "run", "show", "--input", f"model={site.base}/never-fetched.bin")
    assert code == 2, output
    assert f"downloading {site.base}/never-fetched.bin failed" in output
    assert len(invoke_json(cli, root, "executions", "list")) == 2


def _nothing_recorded(cli: CliRunner, root: Path) -> None:
    assert invoke_json(cli, root, "executions", "list") == []
    assert invoke_json(cli, root, "datasets", "list") == []
    store = root / ".assay" / "store"
    assert not store.exists() or not [p for p in store.rglob("*") if p.is_file()]


def test_an_empty_input_value_is_refused(
    cli: CliRunner, make_project: ProjectFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = make_project(STEP + PIPELINE, {"show.py": SHOW, "produce.py": PRODUCE}).root
    monkeypatch.chdir(root)  # where a relative --input is resolved
    code, output = invoke(cli, root, "run", "show", "--input", "model=")
    assert code == 2, output
    assert "--input model= names no file" in output
    code, output = invoke(cli, root, "pipeline", "run", "feed", "--input", "produce.seed=")
    assert code == 2, output
    assert "--input produce.seed= names no file" in output
    # the project folder itself, or anything in it, would take Assay's own state along
    code, output = invoke(cli, root, "run", "show", "--input", f"model={root}")
    assert code == 2, output
    assert "holds Assay's own state (.assay/)" in output
    _nothing_recorded(cli, root)
    assert invoke_json(cli, root, "pipeline", "list") == []


def _non_utf8_file(folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "fine.txt").write_text("ok")
    with open(os.path.join(os.fsencode(folder), b"caf\xe9.txt"), "wb") as out:
        out.write(b"latin-1")


def test_file_names_that_are_not_utf8_are_refused_naming_the_file(
    cli: CliRunner, make_project: ProjectFactory
) -> None:
    root = make_project(STEP, {"show.py": SHOW}).root
    _non_utf8_file(root / "data")
    code, output = invoke(cli, root, "run", "show", "--input", f"model={root / 'data'}")
    assert code == 2, output
    assert "caf\\xe9.txt" in output
    assert "not UTF-8" in output
    assert "Traceback" not in output
    code, output = invoke(cli, root, "datasets", "create", "news", "v1", str(root / "data"))
    assert code == 2, output
    assert "caf\\xe9.txt" in output
    assert "not UTF-8" in output
    _nothing_recorded(cli, root)


PIPELINE = """\
- step:
    name: produce
    image: python:3.11
    command: python produce.py
    inputs:
      - {name: seed, optional: true}
- step:
    name: consume
    image: python:3.11
    command: echo $(ls "$VH_INPUTS_DIR/texts")
    inputs:
      - {name: texts, default: default.txt}
- pipeline:
    name: feed
    nodes:
      - {name: produce, type: execution, step: produce}
      - {name: consume, type: execution, step: consume}
      - {name: appended, type: execution, step: consume, edge-merge-mode: append}
    edges:
      - [produce.output.*.txt, consume.input.texts]
      - [produce.output.*.txt, appended.input.texts]
"""
PRODUCE = """\
import os
open(os.path.join(os.environ["VH_OUTPUTS_DIR"], "made.txt"), "w").write("m")
"""


def test_an_input_that_an_edge_replaces_is_refused_and_one_it_joins_says_so(
    cli: CliRunner, make_project: ProjectFactory
) -> None:
    files = {"produce.py": PRODUCE, "default.txt": "d", "given.txt": "g", "show.py": SHOW}
    root = make_project(STEP + PIPELINE, files).root
    code, output = invoke(
        cli, root, "pipeline", "run", "feed", "--input", f"consume.texts={root / 'given.txt'}"
    )
    assert code == 2, output
    assert "edge produce.output.*.txt → consume.input.texts" in output
    assert "edge-merge-mode: append" in output
    assert invoke_json(cli, root, "pipeline", "list") == []
    assert invoke_json(cli, root, "executions", "list") == []

    given = root / "given.txt"
    code, output = invoke(cli, root, "pipeline", "run", "feed", "--input", f"appended.texts={given}")
    assert code == 0, output
    note = (
        f"--input appended.texts={given} is used together with the files of edge "
        "produce.output.*.txt → appended.input.texts (edge-merge-mode: append)"
    )
    assert note in output
    assert "appended | given.txt made.txt" in output
    assert "consume | made.txt" in output
    run = invoke_json(cli, root, "pipeline", "show", "1")
    assert any(note in warning for warning in run["warnings"])
