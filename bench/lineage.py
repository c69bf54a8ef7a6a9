"""Lineage on a large catalog: ``lineage affected`` and ``lineage show``, timed on SQLite and PostgreSQL.

    .venv/bin/python bench/lineage.py [--scale 1] [--samples 50] [--database-url URL] [--keep]

A synthetic catalog is written straight into the real tables with Core bulk inserts (an
executemany of many rows per statement), with the rows the runtime would write for the same
history. At ``--scale 1``: 100,000 executions in 5,000 pipeline runs ("chains") of 20
executions each, every execution producing 10 datums (1,000,000 datums, plus ~10,000 raw files
of the datasets):

* raw data: datasets ``corpus-NN``, 20 versions each (1,000 versions); a version holds the newest
  40 files of the version before it and 10 new ones (50 files, ``dataset_version_files``,
  ``contains`` edges datum → dataset version);
* a chain is one pipeline run (``contains`` run → execution, ``executions.pipeline_run_id``) of
  steps ``prepare``, ``vocab``, ``stage-02`` … ``featurize`` … ``train``. Its first execution uses
  a dataset version as input ``train`` (a recent ``corpus`` version, or for 20 % of the chains a
  ``features`` version made by an earlier chain): the ``used`` edge dataset version → execution,
  and a ``used`` edge from each of its 50 datums. Every later execution uses 5 of the 10 datums
  the one before produced (input ``data``) and the ``vocab.json`` the second one produced
  (input ``vocab``: one datum used by 18 executions, so nodes are reached at many depths).
  Every execution has ``produced`` edges to its 10 datums (``datums.output_execution_id``) and
  its inputs in ``executions.inputs`` and ``execution_inputs``, as the runtime records them;
* the 5th execution (``featurize``) registers 8 of its outputs as a version of
  ``features-NN`` (``source_execution_id``, ``contains`` edges);
* the last (``train``) uses the chain's dataset version again as input ``test``, and, for 30 %
  of the chains, a model version made by one of the 50 chains before it as input
  ``base-model`` (fine-tuning: ``used`` edges from the version and from its 3 files). It makes
  a version of ``model-NN`` (50 models) from 3 of its outputs: ``built-from`` execution → model
  version, ``contains`` datum → model version, ``source_execution_id``, ``pipeline_run_id``;
  60 % are approved, 10 % rejected. ``production`` follows the approved versions and
  ``candidate`` the newest (``aliases``, ``alias_moves``, ``replaced`` edges); each run has a
  ``review`` gate decided as its version was (``gates``, ``decided`` edges).

Events, ``pipeline_nodes``, execution metadata and model version tags are not written: the
lineage queries do not read them.

Timed, each call in its own read session as the CLI opens one (``catalog.read()``), after
``--warm-up`` untimed calls: ``lineage_views.affected`` on ``--samples`` random ``corpus``
versions that head a chain, and ``lineage_views.show`` on the model versions of ``--samples``
random chains; then, separately, the ``corpus`` version with the most downstream and the model
version with the longest ancestry. Each answer is checked against the plan the catalog was
built from. The target is 50 ms per query: PASS when the samples' p95 is within it (and, on its
own line, when the largest case's best of 3 is). "nodes" is how many nodes the answer covered:
``affected``'s ``nodes`` (every execution, datum, dataset and model version downstream), and
for ``show`` its datasets, models, executions and datums.

SQLite: a fresh file in a temporary folder, loaded with ``synchronous=OFF``, ``journal_mode=OFF``
and foreign keys off, then opened as ``Catalog`` opens it (WAL, ``synchronous=NORMAL``) for the
queries; no ``ANALYZE`` (Assay never runs one). PostgreSQL (``--database-url postgresql://...``):
a fresh database is created on that server and dropped afterwards (``--keep`` keeps it, or the
SQLite file), loaded with ``synchronous_commit=off``, then ``VACUUM ANALYZE`` (what autovacuum
would do after such a load). ``--reuse URL`` times an existing catalog built by an earlier run
with the same ``--scale``, ``--chain`` and ``--seed``.
"""

from __future__ import annotations

import argparse
import gc
import random
import statistics
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from databases import database  # bench/databases.py

TARGET_MS = 50.0
OUTPUTS = 10  # datums produced per execution
PASSED_ON = 5  # of them used by the next execution
RAW_FILES, RAW_NEW = 50, 10  # files per corpus version, and how many are new in each
FEATURE_FILES = 8
MODEL_FILES = ("model/weights.bin", "model/config.json", "model/tokenizer.json")
WINDOW = 50  # a chain reuses features or a model of one of the WINDOW chains before it
P_FEATURES, P_FINETUNE = 0.2, 0.3
STATUSES = (("approved", 0.6), ("pending", 0.3), ("rejected", 0.1))
FEATURIZE = 4  # the position of the execution that makes a features version
ACTOR = "bench"
T0 = datetime(2025, 1, 1, tzinfo=UTC)
ENVIRONMENT = {
    "git_dirty": False, "image": "python:3.11", "python_environment": "/srv/envs/python-3.11-4f2a",
    "python": "3.11.9", "python_executable": "/srv/.venv/bin/python", "host": "trainer-3",
    "platform": "Linux-6.1.0-x86_64-with-glibc2.36", "assay_version": "0.1.0", "sandbox": "bubblewrap",
    "project_root": "/srv/projects/bench", "variables": {},
}  # fmt: skip


# The plan: which chain used what. Small, and recomputed exactly from (scale, chain, seed).


@dataclass
class Chain:
    index: int
    family: int
    slot: int  # its position among its family's chains: model-NN/v<slot+1>, features-NN/v<slot+1>
    head: tuple[str, int]  # ("raw", corpus version index) or ("features", chain index)
    base: int | None  # the chain whose model version it fine-tunes
    status: str


@dataclass
class Plan:
    length: int
    chains: list[Chain]
    families: int
    raw_datasets: int
    raw_versions: int
    children: list[list[int]] = field(default_factory=list)

    def raw_ref(self, k: int) -> str:
        return f"dataset://corpus-{k % self.raw_datasets:02d}/v{k // self.raw_datasets + 1}"

    def features_ref(self, c: int) -> str:
        chain = self.chains[c]
        return f"dataset://features-{chain.family:02d}/v{chain.slot + 1}"

    def model_ref(self, c: int) -> str:
        chain = self.chains[c]
        return f"model://model-{chain.family:02d}/v{chain.slot + 1}"

    def head_ref(self, c: int) -> str:
        kind, k = self.chains[c].head
        return self.raw_ref(k) if kind == "raw" else self.features_ref(k)

    def step(self, position: int) -> str:
        if position == self.length - 1:
            return "train"
        return {0: "prepare", 1: "vocab", FEATURIZE: "featurize"}.get(position, f"stage-{position:02d}")


def make_plan(scale: float, length: int, seed: int) -> Plan:
    rng = random.Random(seed)
    count = max(10, round(100_000 * scale) // length)
    families = max(2, count // 100)
    raw_versions = max(4, count // 5)
    raw_datasets = max(2, raw_versions // 20)
    chains: list[Chain] = []
    slots = [0] * families
    for c in range(count):
        family = rng.randrange(families)
        earlier = range(max(0, c - WINDOW), c)
        head: tuple[str, int]
        if earlier and rng.random() < P_FEATURES:
            head = ("features", rng.choice(earlier))
        else:  # recent data: the corpus versions appear over time
            head = ("raw", max(0, min(raw_versions - 1, c * raw_versions // count - rng.randrange(3))))
        base = rng.choice(earlier) if earlier and rng.random() < P_FINETUNE else None
        status = rng.choices([s for s, _ in STATUSES], [w for _, w in STATUSES])[0]
        chains.append(Chain(c, family, slots[family], head, base, status))
        slots[family] += 1
    plan = Plan(length, chains, families, raw_datasets, raw_versions)
    plan.children = [[] for _ in chains]
    for chain in chains:
        if chain.head[0] == "features":
            plan.children[chain.head[1]].append(chain.index)
        if chain.base is not None:
            plan.children[chain.base].append(chain.index)
    return plan


# What the answers must be, from the plan.


def expected_affected(plan: Plan, k: int) -> tuple[dict[str, list[str]], list[tuple[str, list[str]]]]:
    """For corpus version ``k``: model version ref → input names it entered through, and the
    (step, input names) of the executions that used it directly (every name each is reached by)."""
    head: dict[int, set[str]] = {}  # chain → how its first executions were reached
    last: dict[int, set[str]] = {}  # chain → how its train execution (and model version) was
    used_by = []
    for chain in plan.chains:  # chains only use earlier chains: one pass in order
        c = chain.index
        reached: set[str] = set()
        if chain.head == ("raw", k):
            reached = {"train"}
            used_by += [("prepare", ["train"]), ("train", ["test", "train"])]  # reached both ways
        elif chain.head[0] == "features":
            reached = set(head.get(chain.head[1], set()))
        final = reached | ({"test"} if chain.head == ("raw", k) else set())
        if chain.base is not None:
            final |= last.get(chain.base, set())
        if reached:
            head[c] = reached
        if final:
            last[c] = final
    return {plan.model_ref(c): sorted(h) for c, h in last.items()}, used_by


def expected_show(plan: Plan, c: int) -> tuple[int, set[str], set[str]]:
    """For chain ``c``'s model version: how many executions are upstream, and which dataset and
    model versions."""
    reached: dict[int, int] = {}  # chain → its executions upstream are those up to this position
    datasets: set[str] = set()
    models: set[str] = set()

    def visit(j: int, upto: int) -> None:
        chain = plan.chains[j]
        if reached.get(j, -1) >= upto:
            return
        reached[j] = upto
        datasets.add(plan.head_ref(j))
        if chain.head[0] == "features":
            visit(chain.head[1], FEATURIZE)
        if upto == plan.length - 1 and chain.base is not None:
            models.add(plan.model_ref(chain.base))
            visit(chain.base, plan.length - 1)

    visit(c, plan.length - 1)
    return sum(upto + 1 for upto in reached.values()), datasets, models


def downstream_chains(plan: Plan, k: int) -> int:
    seen: set[int] = set()
    todo = [c.index for c in plan.chains if c.head == ("raw", k)]
    while todo:
        c = todo.pop()
        if c not in seen:
            seen.add(c)
            todo += plan.children[c]
    return len(seen)


# Building the catalog.

Row = dict[str, Any]


class Ids:
    """Reproducible ids and digests."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)

    def uuid(self) -> str:
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))

    def sha(self) -> str:
        return f"{self.rng.getrandbits(256):064x}"


ORDER = (
    "pipeline_runs", "executions", "datums", "datasets", "dataset_versions", "dataset_version_files",
    "models", "model_versions", "model_version_files", "execution_inputs", "lineage_edges", "gates",
    "aliases", "alias_moves",
)  # fmt: skip


class Loader:
    """Rows per table, written with one executemany per table every ``batch`` rows (parents first)."""

    def __init__(self, engine: Any, batch: int = 20_000) -> None:
        from assay.catalog.tables import Base

        self.engine = engine
        self.batch = batch
        self.tables = {name: Base.metadata.tables[name] for name in ORDER}
        self.rows: dict[str, list[Row]] = {name: [] for name in ORDER}
        self.counts: dict[str, int] = dict.fromkeys(ORDER, 0)
        self.pending = 0

    def add(self, table: str, row: Row) -> None:
        self.rows[table].append(row)
        self.pending += 1

    def maybe_flush(self) -> None:
        if self.pending >= self.batch:
            self.flush()

    def flush(self) -> None:
        from sqlalchemy import insert

        with self.engine.begin() as connection:
            for name in ORDER:
                if self.rows[name]:
                    connection.execute(insert(self.tables[name]), self.rows[name])
                    self.counts[name] += len(self.rows[name])
                    self.rows[name] = []
        self.pending = 0


def load_engine(url: str) -> Any:
    """An engine for the load only: no journal, no fsync, no foreign key checks on SQLite; no
    waiting for the WAL flush on PostgreSQL."""
    from sqlalchemy import create_engine, event

    from assay.catalog import normalize_url

    engine = create_engine(normalize_url(url))

    @event.listens_for(engine, "connect")
    def _load_settings(dbapi_connection: Any, _record: Any) -> None:
        if engine.dialect.name == "sqlite":
            for pragma in ("journal_mode=OFF", "synchronous=OFF", "foreign_keys=OFF",
                           "cache_size=-1000000", "temp_store=MEMORY"):  # fmt: skip
                dbapi_connection.execute(f"PRAGMA {pragma}")
            return
        with dbapi_connection.cursor() as cursor:
            cursor.execute("SET synchronous_commit = off")
        dbapi_connection.commit()

    return engine


class Builder:
    """The rows the runtime and the registry would have written for the plan's history."""

    def __init__(self, loader: Loader, plan: Plan, project_id: str, seed: int) -> None:
        self.loader, self.plan, self.project_id = loader, plan, project_id
        self.ids = Ids(seed + 1)
        self.rng = random.Random(seed + 2)
        self.clock = 0
        self.datasets: dict[str, str] = {}  # name → id
        self.versions: dict[str, tuple[str, list[Row]]] = {}  # dataset ref → (version id, its datums)
        self.models: dict[int, str] = {}  # family → model id
        self.model_versions: dict[int, tuple[str, list[Row]]] = {}  # chain → (version id, its datums)
        self.aliases: dict[tuple[int, str], str] = {}  # (family, alias) → version id
        self.executions = 0

    def at(self) -> datetime:
        self.clock += 1
        return T0 + timedelta(seconds=self.clock)

    def edge(self, kind: str, src: tuple[str, str], dst: tuple[str, str], label: str | None = None) -> None:
        self.loader.add("lineage_edges", {
            "project_id": self.project_id, "kind": kind, "src_kind": src[0], "src_id": src[1],
            "dst_kind": dst[0], "dst_id": dst[1], "label": label, "created_at": self.at(),
        })  # fmt: skip

    def datum(self, name: str, execution: str | None = None, source: str | None = None,
              metadata: Row | None = None) -> Row:  # fmt: skip
        row = {
            "id": self.ids.uuid(), "project_id": self.project_id, "sha256": self.ids.sha(),
            "size": self.rng.randrange(10**3, 10**8), "name": name, "source_uri": source,
            "output_execution_id": execution, "metadata": metadata or {}, "tags": [], "created_at": self.at(),
        }  # fmt: skip
        self.loader.add("datums", row)
        if execution is not None:
            self.edge("produced", ("execution", execution), ("datum", str(row["id"])))
        return row

    def dataset_id(self, name: str) -> str:
        if name not in self.datasets:
            self.datasets[name] = self.ids.uuid()
            self.loader.add("datasets", {
                "id": self.datasets[name], "project_id": self.project_id, "name": name, "description": "",
                "version_counter": 0, "created_by": ACTOR, "created_at": self.at(),
            })  # fmt: skip
        return self.datasets[name]

    def dataset_version(self, ref: str, files: list[Row], source: str | None, base: str | None) -> None:
        name, _, version = ref.removeprefix("dataset://").partition("/")
        version_id = self.ids.uuid()
        self.loader.add("dataset_versions", {
            "id": version_id, "dataset_id": self.dataset_id(name), "counter": int(version[1:]),
            "name": version, "tags": [], "properties": {}, "source_execution_id": source,
            "from_version_id": base, "created_by": ACTOR, "created_at": self.at(),
        })  # fmt: skip
        for file in files:
            self.loader.add(
                "dataset_version_files",
                {"version_id": version_id, "datum_id": file["id"], "name": file["name"]},
            )
            self.edge("contains", ("datum", file["id"]), ("dataset_version", version_id), file["name"])
        self.versions[ref] = (version_id, files)

    def corpus(self) -> None:
        """The raw datasets: each version keeps the newest files of the one before, adds new ones."""
        plan = self.plan
        held: dict[int, list[Row]] = {}
        for k in range(plan.raw_versions):
            d = k % plan.raw_datasets
            previous = held.get(d, [])
            fresh = [
                self.datum(f"shard-{k:05d}-{n:02d}.jsonl",
                           source=f"s3://corpus/corpus-{d:02d}/shard-{k:05d}-{n:02d}.jsonl")
                for n in range(RAW_NEW if previous else RAW_FILES)
            ]  # fmt: skip
            held[d] = previous[-(RAW_FILES - RAW_NEW) :] + fresh
            base = self.versions[plan.raw_ref(k - plan.raw_datasets)][0] if previous else None
            self.dataset_version(plan.raw_ref(k), held[d], None, base)
        for f in range(plan.families):
            self.models[f] = self.ids.uuid()
            self.loader.add("models", {
                "id": self.models[f], "project_id": self.project_id, "name": f"model-{f:02d}",
                "description": "", "version_counter": 0, "created_by": ACTOR, "created_at": self.at(),
            })  # fmt: skip

    def chain(self, chain: Chain) -> None:
        """One pipeline run: its executions, their inputs and outputs, a features version, a
        model version with its gate and alias moves."""
        plan, c = self.plan, chain.index
        run_id = self.ids.uuid()
        when = self.at()
        self.loader.add("pipeline_runs", {
            "id": run_id, "project_id": self.project_id, "counter": c + 1,
            "pipeline": f"train-{chain.family:02d}", "status": "completed",
            "spec_text": "- pipeline: {name: train}\n", "request": {}, "message": None, "created_by": ACTOR,
            "created_at": when, "ended_at": when + timedelta(hours=1), "driver": {},
        })  # fmt: skip
        head_ref = plan.head_ref(c)
        head_id, head_files = self.versions[head_ref]
        base_id, base_files = self.model_versions[chain.base] if chain.base is not None else ("", [])
        previous: list[Row] = []
        vocab: list[Row] = []
        for position in range(plan.length):
            inputs: list[tuple[str, str, Row]] = []  # (input, the URI it was given as, datum)
            if position == 0:
                inputs += [("train", head_ref, f) for f in head_files]
            else:
                inputs += [("data", f"datum://{f['id']}", f) for f in previous[:PASSED_ON]]
                inputs += [("vocab", f"datum://{f['id']}", f) for f in vocab]
            if position == plan.length - 1:
                inputs += [("test", head_ref, f) for f in head_files]
                if chain.base is not None:
                    inputs += [("base-model", plan.model_ref(chain.base), f) for f in base_files]
            versions = {head_ref: ("dataset_version", head_id)}
            if chain.base is not None:
                versions[plan.model_ref(chain.base)] = ("model_version", base_id)
            execution_id, produced = self.execution(chain, run_id, position, inputs, versions)
            if position == 1:
                vocab = produced[-1:]
            if position == FEATURIZE:
                self.dataset_version(plan.features_ref(c), produced[:FEATURE_FILES], execution_id, None)
            if position == plan.length - 1:
                self.model_version(chain, run_id, execution_id, produced[: len(MODEL_FILES)])
            previous = produced

    def execution(self, chain: Chain, run_id: str, position: int, inputs: list[tuple[str, str, Row]],
                  versions: dict[str, tuple[str, str]]) -> tuple[str, list[Row]]:  # fmt: skip
        """An execution as the runtime records it: its row (inputs summarised as the runtime
        does), ``execution_inputs``, a ``used`` edge per datum and per dataset or model version,
        the run's ``contains`` edge, and its outputs with their ``produced`` edges."""
        self.executions += 1
        step = self.plan.step(position)
        execution_id = self.ids.uuid()
        node = ("execution", execution_id)
        summary: dict[str, list[Row]] = {}
        for name, uri, file in inputs:
            summary.setdefault(name, []).append({"name": file["name"], "uri": uri, "datum_id": file["id"],
                                                 "sha256": file["sha256"], "size": file["size"]})  # fmt: skip
        start = self.at()
        folder = f"/srv/projects/bench/.assay/executions/{execution_id}"
        self.loader.add("executions", {
            "id": execution_id, "project_id": self.project_id, "counter": self.executions, "step": step,
            "status": "completed", "image": "python:3.11", "command": f"python {step}.py --lr 0.01",
            "parameters": {"lr": 0.01, "epochs": 3, "seed": chain.index}, "inputs": summary,
            "environment": {"git_commit": f"{self.rng.getrandbits(160):040x}", **ENVIRONMENT},
            "problems": [], "execution_dir": folder, "log_path": f"{folder}/log.jsonl", "exit_code": 0,
            "message": None, "created_at": start, "started_at": start,
            "ended_at": start + timedelta(minutes=5),
            "pipeline_run_id": run_id, "pipeline_node": step, "attempt": 1, "pipeline_index": 0,
            "reuse_key": self.ids.sha(),
            "reuse_facts": {"step": step, "image": "python:3.11", "commit": None, "dirty": None},
        })  # fmt: skip
        self.edge("contains", ("pipeline_run", run_id), node, step)
        seen: set[tuple[str, str]] = set()
        for n, (name, uri, file) in enumerate(inputs):
            self.loader.add("execution_inputs", {
                "execution_id": execution_id, "input_name": name, "position": n, "datum_id": file["id"],
                "uri": uri, "name": file["name"],
            })  # fmt: skip
            self.edge("used", ("datum", file["id"]), node, name)
            if uri in versions and (name, uri) not in seen:
                seen.add((name, uri))
                self.edge("used", versions[uri], node, name)
        produced = []
        for n in range(OUTPUTS):
            name, metadata = self.output(chain, position, n)
            produced.append(self.datum(name, execution=execution_id, metadata=metadata))
        return execution_id, produced

    def output(self, chain: Chain, position: int, n: int) -> tuple[str, Row]:
        """An output's name and metadata (the metadata that made the features and model versions)."""
        if position == self.plan.length - 1 and n < len(MODEL_FILES):
            return MODEL_FILES[n], {"valohai.model-versions": [f"model://model-{chain.family:02d}/"]}
        if position == 1 and n == OUTPUTS - 1:
            return "vocab.json", {}
        if position == FEATURIZE and n < FEATURE_FILES:
            meta = {"valohai.dataset-versions": [f"dataset://features-{chain.family:02d}/"]}
            return f"features/part-{n:02d}.parquet", meta
        return f"{self.plan.step(position)}/part-{n:02d}.parquet", {}

    def model_version(self, chain: Chain, run_id: str, execution_id: str, files: list[Row]) -> None:
        """The version the train step's outputs made, its review gate, and the alias moves."""
        version_id = self.ids.uuid()
        decided = None if chain.status == "pending" else self.at()
        self.loader.add("model_versions", {
            "id": version_id, "model_id": self.models[chain.family], "counter": chain.slot + 1,
            "name": f"v{chain.slot + 1}", "status": chain.status, "status_by": "alice" if decided else None,
            "status_at": decided, "status_comment": None, "release_note": None, "description": "",
            "metrics": {"loss": self.rng.random(), "accuracy": self.rng.random()}, "properties": {},
            "tags": [], "source_execution_id": execution_id, "pipeline_run_id": run_id, "created_by": ACTOR,
            "created_at": self.at(),
        })  # fmt: skip
        node = ("model_version", version_id)
        for file in files:
            self.loader.add(
                "model_version_files",
                {"version_id": version_id, "datum_id": file["id"], "name": file["name"]},
            )
            self.edge("contains", ("datum", file["id"]), node, file["name"])
        self.edge("built-from", ("execution", execution_id), node)
        self.model_versions[chain.index] = (version_id, files)
        gate_id = self.ids.uuid()
        self.loader.add("gates", {
            "id": gate_id, "run_id": run_id, "node": "review", "status": chain.status,
            "requested_at": self.at(), "decided_by": "alice" if decided else None, "decided_at": decided,
            "comment": None, "evidence": {},
        })  # fmt: skip
        if decided:
            self.edge("decided", ("gate", gate_id), ("pipeline_node", f"{run_id}:review"), chain.status)
        for alias in ("candidate", "production") if chain.status == "approved" else ("candidate",):
            before = self.aliases.get((chain.family, alias))
            self.aliases[(chain.family, alias)] = version_id
            self.loader.add("alias_moves", {
                "kind": "model", "owner_id": self.models[chain.family], "name": alias,
                "version_id": version_id, "previous_version_id": before, "moved_by": ACTOR,
                "moved_at": self.at(), "reason": None,
            })  # fmt: skip
            if before is not None:
                self.edge("replaced", ("model_version", before), node, alias)

    def finish(self) -> None:
        """The aliases where they ended, and the counters the catalog keeps."""
        from sqlalchemy import update

        from assay.catalog.registry_tables import Dataset, Model
        from assay.catalog.tables import Project

        for (family, alias), version_id in sorted(self.aliases.items()):
            self.loader.add("aliases", {
                "kind": "model", "owner_id": self.models[family], "name": alias, "version_id": version_id,
                "updated_by": ACTOR, "updated_at": self.at(),
            })  # fmt: skip
        self.loader.flush()
        last: dict[str, int] = {}
        for chain in self.plan.chains:
            last[f"model-{chain.family:02d}"] = last[f"features-{chain.family:02d}"] = chain.slot + 1
        for k in range(self.plan.raw_versions):
            last[f"corpus-{k % self.plan.raw_datasets:02d}"] = k // self.plan.raw_datasets + 1
        with self.loader.engine.begin() as connection:
            connection.execute(update(Project).where(Project.id == self.project_id)
                               .values(execution_counter=self.executions,
                                       pipeline_counter=len(self.plan.chains)))  # fmt: skip
            for table in (Dataset, Model):
                for name, counter in last.items():
                    connection.execute(
                        update(table).where(table.name == name).values(version_counter=counter)
                    )


def build(url: str, plan: Plan, seed: int, progress: Callable[[str], None]) -> dict[str, int]:
    from sqlalchemy import text

    from assay.catalog import Catalog, projects

    with Catalog.open(url) as catalog, catalog.transaction() as session:
        project_id = projects.ensure_project(session, "bench").id
    engine = load_engine(url)
    builder = Builder(Loader(engine), plan, project_id, seed)
    builder.corpus()
    started = time.perf_counter()
    for chain in plan.chains:
        builder.chain(chain)
        builder.loader.maybe_flush()
        if (chain.index + 1) % max(1, len(plan.chains) // 10) == 0:
            progress(f"{chain.index + 1:,} chains, {builder.executions:,} executions "
                     f"({time.perf_counter() - started:.0f} s)")  # fmt: skip
    builder.finish()
    if engine.dialect.name == "postgresql":
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.execute(text("VACUUM ANALYZE"))
    engine.dispose()
    return builder.loader.counts


# Timing.


@dataclass
class Sampled:
    seconds: list[float] = field(default_factory=list)
    nodes: list[int] = field(default_factory=list)

    def ms(self, percent: int) -> float:
        """The ``percent``-th percentile (nearest rank), in milliseconds."""
        ordered = sorted(self.seconds)
        rank = min(len(ordered), max(1, -(-percent * len(ordered) // 100)))
        return ordered[rank - 1] * 1000


def time_calls(catalog: Any, project_id: str, call: Callable[..., dict[str, Any]], refs: list[str],
               warm_up: list[str]) -> tuple[list[float], list[dict[str, Any]]]:  # fmt: skip
    for ref in warm_up:
        with catalog.read() as session:
            call(session, project_id, ref)
    seconds, views = [], []
    clock = time.perf_counter
    for ref in refs:
        before = clock()
        with catalog.read() as session:
            view = call(session, project_id, ref)
        seconds.append(clock() - before)
        views.append(view)
    return seconds, views


@dataclass
class Query:
    name: str
    call: Callable[..., dict[str, Any]]
    refs: list[str]  # timed, one call each
    warm_up: list[str]
    largest: str  # timed separately: best of 3
    nodes: Callable[[dict[str, Any]], int]  # how many nodes an answer covered
    what: str
    size: Callable[[dict[str, Any]], int]  # and how many of ``what``


def measure(url: str, plan: Plan, samples: int, warm_up: int, seed: int) -> tuple[list[str], list[str]]:
    from sqlalchemy import select

    from assay.catalog import Catalog, lineage_views
    from assay.catalog.tables import Project

    rng = random.Random(seed + 3)
    heads = sorted({c.head[1] for c in plan.chains if c.head[0] == "raw"})  # corpus versions heading a chain
    chains = range(len(plan.chains))
    queries = [
        Query("affected", lineage_views.affected,
              [plan.raw_ref(k) for k in rng.sample(heads, min(len(heads), samples))],
              [plan.raw_ref(k) for k in rng.sample(heads, min(len(heads), warm_up))],
              plan.raw_ref(max(heads, key=lambda k: downstream_chains(plan, k))),
              lambda v: int(v["nodes"]), "model versions", lambda v: len(v["model_versions"])),
        Query("show", lineage_views.show,
              [plan.model_ref(c) for c in rng.sample(chains, min(len(chains), samples))],
              [plan.model_ref(c) for c in rng.sample(chains, min(len(chains), warm_up))],
              plan.model_ref(max(chains, key=lambda c: expected_show(plan, c)[0])),
              lambda v: sum(len(v[k]) for k in ("datasets", "models", "executions", "datums")),
              "executions", lambda v: len(v["executions"])),
    ]  # fmt: skip
    lines: list[str] = []
    checks: list[str] = []
    gc.collect()  # the build's garbage is not the queries' to collect
    with Catalog.open(url) as catalog:  # as the CLI opens it (WAL, synchronous=NORMAL on SQLite)
        with catalog.read() as session:
            project_id = session.scalars(select(Project.id).where(Project.name == "bench")).one()
        for query in queries:
            seconds, views = time_calls(catalog, project_id, query.call, query.refs, query.warm_up)
            sampled = Sampled(seconds, [query.nodes(v) for v in views])
            sizes = [query.size(v) for v in views]
            verdict = "PASS" if sampled.ms(95) <= TARGET_MS else "MISS"
            lines.append(
                f"{query.name:8}  {len(seconds)} samples  p50 {sampled.ms(50):5.1f} ms  "
                f"p95 {sampled.ms(95):5.1f} ms  max {sampled.ms(100):5.1f} ms  "
                f"(p95 ≤ {TARGET_MS:.0f} ms: {verdict})  nodes p50 "
                f"{statistics.median(sampled.nodes):,.0f} max {max(sampled.nodes):,}; {query.what} p50 "
                f"{statistics.median(sizes):,.0f} max {max(sizes):,}"
            )
            slowest = max(range(len(seconds)), key=seconds.__getitem__)
            lines.append(f"{'':8}  slowest: {query.refs[slowest]}  nodes {sampled.nodes[slowest]:,}")
            best, largest = time_calls(catalog, project_id, query.call, [query.largest] * 3, [])
            verdict = "PASS" if min(best) * 1000 <= TARGET_MS else "MISS"
            lines.append(
                f"{'':8}  largest: {query.largest}  {min(best) * 1000:5.1f} ms best of 3 ({verdict})  "
                f"nodes {query.nodes(largest[0]):,}; {query.what} {query.size(largest[0]):,}"
            )
            for ref, view in [*zip(query.refs, views, strict=True), (query.largest, largest[0])]:
                checks.append(check(plan, query.name, ref, view))
    return lines, checks


def check(plan: Plan, name: str, ref: str, view: dict[str, Any]) -> str:
    if name == "affected":
        k = next(k for k in range(plan.raw_versions) if plan.raw_ref(k) == ref)
        versions, used_by = expected_affected(plan, k)
        found = {v["ref"]: v["how"] for v in view["model_versions"]}
        ok = found == versions and sorted((u["step"], u["input"]) for u in view["used_by"]) == sorted(used_by)
        by_how: dict[str, set[str]] = {}
        for version, hows in versions.items():
            for how in hows:
                by_how.setdefault(how, set()).add(version)
        ok = ok and {h: set(v) for h, v in view["by_how"].items()} == by_how
        planned = len(versions)
        return f"{'ok  ' if ok else 'FAIL'} affected {ref}: {len(found)} model versions ({planned} planned)"
    c = next(c for c in range(len(plan.chains)) if plan.model_ref(c) == ref)
    executions, datasets, models = expected_show(plan, c)
    ok = (
        len(view["executions"]) == executions
        and {d["ref"] for d in view["datasets"]} == datasets
        and {m["ref"] for m in view["models"]} == models
    )
    return (
        f"{'ok  ' if ok else 'FAIL'} show {ref}: {len(view['executions'])} executions ({executions} planned)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=1.0, help="1: 100,000 executions, 1,000,000 datums")
    parser.add_argument("--chain", type=int, default=20, help="executions per chain (at least 6)")
    parser.add_argument("--samples", type=int, default=50, help="timed calls of each query")
    parser.add_argument("--warm-up", type=int, default=5, help="untimed calls first, on other references")
    parser.add_argument("--database-url", help="default: a fresh SQLite file in a temporary folder")
    parser.add_argument("--keep", action="store_true", help="keep the database (and print its URL)")
    parser.add_argument("--reuse", metavar="URL", help="time the catalog at URL, built earlier with --keep")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--profile", metavar="FILE", help="write a cProfile of the timed calls to FILE")
    args = parser.parse_args()
    if args.chain < FEATURIZE + 2 or args.samples < 1:
        parser.error("--chain is at least 6 and --samples at least 1")
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
    from sqlalchemy.engine import make_url

    from assay.catalog import normalize_url

    plan = make_plan(args.scale, args.chain, args.seed)
    context = (
        database(args.database_url, "assay-bench-lineage-", args.keep)
        if args.reuse is None
        else _given(args.reuse)
    )
    with context as url:
        shown = make_url(normalize_url(url)).render_as_string(hide_password=True)
        print(f"database: {shown}")
        print(f"plan: {len(plan.chains):,} chains of {plan.length} executions, {plan.families} models, "
              f"{plan.raw_versions:,} corpus versions in {plan.raw_datasets} datasets")  # fmt: skip
        if args.reuse is None:
            started = time.perf_counter()
            counts = build(url, plan, args.seed, lambda line: print(f"  built {line}", flush=True))
            print(f"built in {time.perf_counter() - started:.0f} s: "
                  + ", ".join(f"{n} {v:,}" for n, v in counts.items()))  # fmt: skip
        print(f"timed: lineage_views.affected and .show, each call in its own read session, after "
              f"{args.warm_up} untimed calls")  # fmt: skip
        arguments = (url, plan, args.samples, args.warm_up, args.seed)
        if args.profile:
            import cProfile

            profiler = cProfile.Profile()
            lines, checks = profiler.runcall(measure, *arguments)
            profiler.dump_stats(args.profile)
        else:
            lines, checks = measure(*arguments)
        if args.keep:
            print(f"kept: {url}")
    print()
    for line in lines:
        print(line)
    failed = [line for line in checks if line.startswith("FAIL")]
    print(f"\nchecked {len(checks)} answers against the plan: {len(checks) - len(failed)} ok")
    for line in failed[:20]:
        print(f"  {line}")
    if failed:
        raise SystemExit(1)


@contextmanager
def _given(url: str) -> Iterator[str]:
    yield url


if __name__ == "__main__":
    main()
