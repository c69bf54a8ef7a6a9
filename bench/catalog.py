"""The model registry on the catalog database: registrations, alias moves, lookups.

    .venv/bin/python bench/catalog.py [--versions 5000] [--lookups 2000] [--database-url URL]

One model gets ``--versions`` versions, each registered in its own transaction the way an
output registers one (the model looked up by name with ``models.ensure_model``, then
``models.create_version``). One registration writes, then commits: the model's version counter
(UPDATE models), one ``model_versions`` row (2 metrics, 3 tags, its source in ``properties``:
no execution row is made), 3 ``model_version_tags`` rows and one ``model.version.created``
event.

Aliases, each move one transaction: the version looked up by name (``models.resolve``), then
``aliases.move_alias``, which writes the ``aliases`` row, an ``alias_moves`` history row and a
``model.alias.moved`` event:

* ``production`` moved onto every version in turn (``--versions`` moves of one alias);
* every version given an alias of its own, ``rc-N`` (then ``--versions`` aliases are in the
  table).

Lookups, ``--lookups`` calls each on random aliases and tags, after 50 untimed warm-up calls:

* get-by-alias, ``models.resolve(model://m/rc-N)``: with a read session opened per call (as an
  MLflow client call opens a session per call: the comparable figure) and within one open
  session;
* search by tag: each version N carries ``all``, ``shard-K`` (K = N mod versions/100, so ~100
  versions each) and ``block-B`` (B = N div 100); a search for ``shard-K`` returns its newest
  20 (one page), through ``models.search`` (any model of the project) and
  ``models.versions_of`` (one model); a read session per call. Searching ``all`` (every
  version matches) is shown too.

The reference is MLflow 3's registry on SQLite, measured on a machine of this kind with the
client straight on the database and 500 versions: about 40 full registrations/s (run +
metrics + tags + version), 45 alias moves/s, get-by-alias p50 5 ms, search-by-tag p50
7-14 ms. The targets are 10 times that: 400 registrations/s, 450 alias moves/s, lookups at or
under 0.5 ms p50. Latencies are wall-clock per call; ops/s is calls over their total time.
Results are checked after the timing, outside it.

The default database is a fresh SQLite file in a temporary folder, opened as ``Catalog``
opens it (WAL, synchronous=NORMAL: a commit is not fsync'ed until the WAL is checkpointed);
``--synchronous full`` fsyncs every commit, as SQLite's defaults do. With ``--database-url
postgresql://...`` a fresh database is created on that server and dropped afterwards.
"""

from __future__ import annotations

import argparse
import itertools
import random
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from databases import database  # bench/databases.py

MODEL = "m"
ACTOR = "bench"
PAGE = 20
WARM_UP = 50
TARGET_RATE = {"registrations": 400.0, "alias moves": 450.0}  # 10x MLflow's ~40/s and ~45/s
TARGET_LOOKUP_MS = 0.5  # 10x MLflow's get-by-alias p50 of 5 ms


@dataclass
class Timings:
    seconds: list[float] = field(default_factory=list)
    results: list[Any] = field(default_factory=list)
    total: float = 0.0

    def rate(self) -> float:
        return len(self.seconds) / self.total

    def ms(self, percent: int) -> float:
        """The ``percent``-th percentile (nearest rank), in milliseconds."""
        ordered = sorted(self.seconds)
        rank = min(len(ordered), max(1, -(-percent * len(ordered) // 100)))
        return ordered[rank - 1] * 1000


def timed(call: Callable[[Any], Any], arguments: Iterable[Any], warm_up: Iterable[Any] = ()) -> Timings:
    for argument in warm_up:
        call(argument)
    result = Timings()
    clock = time.perf_counter
    start = clock()
    for argument in arguments:
        before = clock()
        value = call(argument)
        result.seconds.append(clock() - before)
        result.results.append(value)
    result.total = clock() - start
    return result


@dataclass
class Figure:
    name: str
    value: str
    target: str = ""
    mlflow: str = ""
    verdict: str = ""
    note: str = ""


def rate(name: str, timings: Timings, target: float, mlflow: str) -> Figure:
    value = timings.rate()
    verdict = "PASS" if value >= target else "MISS"
    note = f"p50 {timings.ms(50):.2f} ms, p95 {timings.ms(95):.2f} ms"
    return Figure(name, f"{value:,.0f}/s", f"≥ {target:,.0f}/s", mlflow, verdict, note)


def latency(name: str, timings: Timings, target: float | None, mlflow: str = "", note: str = "") -> Figure:
    p50 = timings.ms(50)
    verdict = "" if target is None else ("PASS" if p50 <= target else "MISS")
    return Figure(name, f"{p50:.3f} ms", "" if target is None else f"≤ {target} ms", mlflow, verdict,
                  f"p95 {timings.ms(95):.3f} ms" + (f"; {note}" if note else ""))  # fmt: skip


def tags_of(n: int, shards: int) -> list[str]:
    return ["all", f"shard-{n % shards}", f"block-{n // 100}"]


def run(url: str, versions: int, lookups: int, seed: int, synchronous: str) -> tuple[list[Figure], list[str]]:
    from sqlalchemy import event, func, select

    from assay.catalog import Catalog, aliases, models, projects
    from assay.catalog.registry_tables import Alias, AliasMove, ModelVersion
    from assay.catalog.tables import Event

    rng = random.Random(seed)
    shards = max(1, versions // 100)
    figures: list[Figure] = []
    with Catalog.open(url) as catalog:
        if catalog.dialect == "sqlite" and synchronous != "normal":

            @event.listens_for(catalog.engine, "connect")
            def _synchronous(dbapi_connection: Any, _record: Any) -> None:
                dbapi_connection.execute(f"PRAGMA synchronous={synchronous.upper()}")

            catalog.engine.dispose()  # pooled connections are opened again, with the pragma

        with catalog.transaction() as session:
            project_id = projects.ensure_project(session, "bench").id
            model_id = models.ensure_model(session, project_id, MODEL, ACTOR).id

        def register(n: int) -> None:
            with catalog.transaction() as session:
                model = models.ensure_model(session, project_id, MODEL, ACTOR)
                models.create_version(
                    session, model=model, name=None, files=[], actor=ACTOR,
                    metrics={"loss": 1.0 / n, "accuracy": 1.0 - 1.0 / (n + 1)},
                    properties={"source": "bench/catalog.py", "seed": seed}, tags=tags_of(n, shards),
                )  # fmt: skip

        figures.append(rate("registrations", timed(register, range(1, versions + 1)),
                            TARGET_RATE["registrations"], "~40/s"))  # fmt: skip

        def mover(alias: Callable[[int], str]) -> Callable[[int], Any]:
            def move(n: int) -> Any:
                with catalog.transaction() as session:
                    model, version = models.resolve(session, project_id, f"model://{MODEL}/v{n}")
                    return aliases.move_alias(
                        session, project_id=project_id, kind=models.KIND, owner_id=model.id,
                        owner_name=model.name, name=alias(n), version_id=version.id, actor=ACTOR,
                        version_name=version.name,
                    )  # fmt: skip

            return move

        moves: list[Any] = []
        for name, alias in (("production", lambda n: "production"), ("rc-N", lambda n: f"rc-{n}")):
            moved = timed(mover(alias), range(1, versions + 1))
            moves += moved.results
            label = "alias moves (production → each version)" if name == "production" else \
                "alias moves (a new alias rc-N per version)"  # fmt: skip
            figures.append(rate(label, moved, TARGET_RATE["alias moves"], "~45/s"))

        # Lookups.
        picks = [rng.randint(1, versions) for _ in range(lookups + WARM_UP)]

        def by_alias(n: int) -> tuple[int, int]:
            with catalog.read() as session:
                return n, models.resolve(session, project_id, f"model://{MODEL}/rc-{n}")[1].counter

        def by_name(n: int) -> tuple[int, int]:
            with catalog.read() as session:
                return n, models.resolve(session, project_id, f"model://{MODEL}/v{n}")[1].counter

        per_call = timed(by_alias, picks[WARM_UP:], picks[:WARM_UP])
        with catalog.read() as session:

            def in_session(n: int) -> tuple[int, int]:
                return n, models.resolve(session, project_id, f"model://{MODEL}/rc-{n}")[1].counter

            one_session = timed(in_session, picks[WARM_UP:], picks[:WARM_UP])
        named = timed(by_name, picks[WARM_UP:], picks[:WARM_UP])
        figures += [
            latency("get-by-alias p50, a read session per call", per_call, TARGET_LOOKUP_MS, "5 ms",
                    "comparable to MLflow's client call"),
            latency("get-by-alias p50, within one open session", one_session, None),
            latency("get-by-version-name p50, a read session per call", named, None),
        ]  # fmt: skip

        shard_picks = [rng.randrange(shards) for _ in range(lookups + WARM_UP)]

        def search(tag: str) -> tuple[str, list[int]]:
            with catalog.read() as session:
                return tag, [v.counter for _, v in models.search(session, project_id, tag, limit=PAGE)]

        def listing(tag: str) -> tuple[str, list[int]]:
            with catalog.read() as session:
                return tag, [v.counter for v in models.versions_of(session, model_id, tag=tag, limit=PAGE)]

        tags = [f"shard-{k}" for k in shard_picks]
        searched = timed(search, tags[WARM_UP:], tags[:WARM_UP])
        listed = timed(listing, tags[WARM_UP:], tags[:WARM_UP])
        everything = timed(search, ["all"] * max(100, lookups // 10), ["all"] * 5)
        matches = len(range(shards, versions + 1, shards))
        figures += [
            latency(f"search by tag p50 (models.search: ~{matches} match, newest {PAGE})", searched,
                    TARGET_LOOKUP_MS, "7-14 ms", "10x MLflow's 7 ms would be 0.7 ms"),
            latency(f"search by tag p50 (models.versions_of: ~{matches} match, newest {PAGE})", listed,
                    TARGET_LOOKUP_MS, "7-14 ms", "one model's versions"),
            latency(f"search by tag p50 (models.search: all {versions} match, newest {PAGE})", everything,
                    None),
        ]  # fmt: skip

        # Check the answers, then what was recorded.
        def newest(tag: str) -> list[int]:
            if tag == "all":
                return list(range(versions, 0, -1))[:PAGE]
            shard = int(tag.removeprefix("shard-"))
            return [n for n in range(versions, 0, -1) if n % shards == shard][:PAGE]

        pages = {tag: newest(tag) for tag in {*tags, "all"}}
        answers = [*per_call.results, *one_session.results, *named.results]
        found = [*searched.results, *listed.results, *everything.results]
        with catalog.read() as session:

            def count(entity: Any, *where: Any) -> int:
                return int(session.scalar(select(func.count()).select_from(entity).where(*where)) or 0)

            version_rows = count(ModelVersion, ModelVersion.model_id == model_id)
            created = count(Event, Event.project_id == project_id, Event.kind == "model.version.created")
            history = count(AliasMove, AliasMove.owner_id == model_id)
            moved_events = count(Event, Event.project_id == project_id, Event.kind == "model.alias.moved")
            alias_rows = count(Alias, Alias.owner_id == model_id)
            production = models.resolve(session, project_id, f"model://{MODEL}/production")[1].counter
            trail = aliases.history(session, models.KIND, model_id, "production")
        made = sum(1 for m in moves if m is not None)
        checks = [
            (f"lookups answered the version asked for: {len(answers)}", all(n == c for n, c in answers)),
            (f"searches returned the newest {PAGE} of the tag, newest first: {len(found)}",
             all(counters == pages[tag] for tag, counters in found)),
            (f"model versions: {version_rows} (registrations: {versions})", version_rows == versions),
            (f"model.version.created events: {created} (registrations: {versions})", created == versions),
            (f"alias history rows: {history} (moves made: {made} of {len(moves)})",
             history == made == len(moves)),
            (f"model.alias.moved events: {moved_events} (moves made: {made})", moved_events == made),
            (f"aliases now: {alias_rows} (production and {versions} rc-N)", alias_rows == versions + 1),
            (f"production is on v{production} (moved last to v{versions})", production == versions),
            (f"production's history: {len(trail)} moves, each from the version before",
             len(trail) == versions and trail[0].previous_version_id is None
             and all(m.previous_version_id == p.version_id for p, m in itertools.pairwise(trail))),
        ]  # fmt: skip
    return figures, [f"{'ok  ' if ok else 'FAIL'} {text}" for text, ok in checks]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--versions", type=int, default=5000)
    parser.add_argument(
        "--lookups", type=int, default=2000, help="timed calls of each lookup (at least 1000)"
    )
    parser.add_argument("--database-url", help="default: a fresh SQLite file in a temporary folder")
    parser.add_argument(
        "--synchronous", choices=["normal", "full"], default="normal",
        help="SQLite only: normal (as Catalog opens it) or full (fsync every commit)",
    )  # fmt: skip
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--profile", metavar="FILE", help="write a cProfile of the run to FILE")
    args = parser.parse_args()
    if args.versions < 100 or args.lookups < 1000:
        parser.error("--versions is at least 100 and --lookups at least 1000")
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
    from sqlalchemy.engine import make_url

    from assay.catalog import normalize_url

    with database(args.database_url, "assay-bench-catalog-") as url:
        shown = make_url(normalize_url(url)).render_as_string(hide_password=True)
        sqlite = shown.startswith("sqlite")
        print(f"database: {shown}" + (f" (synchronous={args.synchronous})" if sqlite else ""))
        print(f"{args.versions} versions of one model; {args.lookups} timed calls per lookup")
        print("one registration = one transaction: SELECT the model by name; UPDATE its version counter;")
        print("  INSERT model_versions (2 metrics, 3 tags, source in properties), 3 model_version_tags,")
        print("  1 event; COMMIT.  One alias move = one transaction: SELECT the version by name;")
        print(
            "  SELECT the alias (FOR UPDATE); INSERT or UPDATE aliases, INSERT alias_moves, 1 event; COMMIT."
        )
        arguments = (url, args.versions, args.lookups, args.seed, args.synchronous)
        if args.profile:
            import cProfile

            profiler = cProfile.Profile()
            figures, checks = profiler.runcall(run, *arguments)
            profiler.dump_stats(args.profile)
        else:
            figures, checks = run(*arguments)

    width = max(len(f.name) for f in figures)
    print(f"\n{'':{width}}  {'figure':>10}  {'target':>11}  {'MLflow 3':>8}")
    for f in figures:
        line = f"{f.name:{width}}  {f.value:>10}  {f.target:>11}  {f.mlflow:>8}  {f.verdict:4}  {f.note}"
        print(line.rstrip())
    print("\nchecked:")
    for line in checks:
        print(f"  {line}")
    if any(line.startswith("FAIL") for line in checks):
        raise SystemExit(1)


if __name__ == "__main__":
    main()
