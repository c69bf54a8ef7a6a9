"""Rich renderings of models, model versions (their cards), datasets and alias histories.

Each takes the view dict that ``--json`` prints (``catalog/registry_views.py``); every string a
user or a step wrote goes through ``shown`` (``cli/literal.py``).
"""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.table import Table

from assay.cli.literal import shown
from assay.cli.render import human_size, short_value

STATUS_STYLE = {"approved": "green", "rejected": "red", "pending": "yellow"}
RESULT_STYLE = {"pass": "green", "fail": "red", "no-baseline": "dim"}


def status_text(status: str) -> str:
    return f"[{STATUS_STYLE.get(status, 'white')}]{shown(status)}[/]"


def _table(*columns: str, title: str | None = None) -> Table:
    table = Table(title=title, title_justify="left", box=None, pad_edge=False)
    for column in columns:
        table.add_column(column)
    return table


def _when(value: str | None) -> str:
    return (value or "")[:19].replace("T", " ")


def _short(uri: str | None) -> str:
    """``model://summarizer/v2`` → ``v2`` where the model is clear from the context."""
    return "–" if uri is None else shown(uri.rpartition("/")[2])


def _list(values: list[str]) -> str:
    return shown(", ".join(values))


def _aliases(mapping: dict[str, str]) -> str:
    return ", ".join(f"{shown(alias)} → {_short(uri)}" for alias, uri in mapping.items())


def _metrics(metrics: dict[str, Any], limit: int = 4) -> str:
    pairs = [f"{k} {short_value(v, 12)}" for k, v in list(metrics.items())[:limit]]
    return shown(", ".join(pairs)) + (" …" if len(metrics) > limit else "")


def _number(value: Any) -> str:
    return "" if value is None else shown(short_value(value, 20))


def model_list(console: Console, views: list[dict[str, Any]]) -> None:
    if not views:
        console.print("No models yet. A step creates one by naming model://NAME/ in its output metadata.")
        return
    table = _table("model", "versions", "aliases", "latest approved")
    for view in views:
        table.add_row(shown(view["name"]), str(view["version_count"]), _aliases(view["aliases"]),
                      _short(view["latest_approved"]))  # fmt: skip
    console.print(table)


def model_detail(console: Console, view: dict[str, Any]) -> None:
    console.print(
        f"[bold]{shown(view['uri'])}[/] — {view['version_count']} version(s), "
        f"created by {shown(view['created_by'])}"
    )
    if view["description"]:
        console.print(shown(view["description"]))
    if view["aliases"]:
        console.print(f"[dim]aliases[/] {_aliases(view['aliases'])}")
    console.print(f"[dim]latest approved[/] {_short(view['latest_approved'])}")
    version_list(console, view["versions"])


def version_list(console: Console, versions: list[dict[str, Any]]) -> None:
    if not versions:
        console.print("No versions.")
        return
    table = _table("version", "status", "aliases", "tags", "metrics", "created", "by")
    for v in versions:
        table.add_row(shown(v["version"]), status_text(v["status"]), _list(v["aliases"]), _list(v["tags"]),
                      _metrics(v["metrics"]), _when(v["created_at"]), shown(v["created_by"]))  # fmt: skip
    console.print(table)


def version_card(console: Console, view: dict[str, Any]) -> None:
    as_of = view.get("as_of")
    if as_of:
        console.print(f"[dim]{shown(as_of['alias'])} at {shown(as_of['at'])} →[/]")
    from assay.cli.render_lineage import flags

    flags(console, view.get("flags", []))
    line = f"[bold]{shown(view['uri'])}[/] — {status_text(view['status'])}"
    if view["status_by"]:
        line += f" by {shown(view['status_by'])} at {_when(view['status_at'])}"
    if view["status_comment"]:
        line += f": “{shown(view['status_comment'])}”"
    console.print(line)
    pairs = [
        ("aliases", _list(view["aliases"])),
        ("tags", _list(view["tags"])),
        ("created", f"{_when(view['created_at'])} by {shown(view['created_by'])}"),
        ("description", shown(view["description"])),
        ("release note", shown(view["release_note"] or "")),
        ("source", _source(view)),
    ]
    for key, value in pairs:
        if value:
            console.print(f"[dim]{key}[/] {value}")
    _key_values(console, "Metrics", view["metrics"])
    _key_values(console, "Properties", view["properties"])
    came_from = [(e, name, ref) for e in view.get("came_from", []) for name, refs in e["inputs"].items()
                 for ref in refs]  # fmt: skip
    if came_from:
        table = _table("execution", "step", "input", "version", title="Came from (as resolved when each ran)")
        for execution, name, ref in came_from:
            table.add_row(f"#{execution['counter']}", shown(execution["step"]), shown(name), shown(ref))
        console.print(table)
    if view["inputs"]:
        table = _table("input", "from", title="Inputs of the producing execution")
        for name, refs in view["inputs"].items():
            for ref in refs:
                table.add_row(shown(name), shown(ref))
        console.print(table)
    if view["files"]:
        table = _table("file", "size", "datum", "sha256", title="Files")
        for f in view["files"]:
            table.add_row(shown(f["name"]), human_size(f["size"]), shown(f["datum"]), f["sha256"][:12])
        console.print(table)
    _scores(console, [e for e in view["card"] if e["kind"] == "score"])
    _card(console, view["card"])
    for verdict in view["verdicts"]:
        verdict_table(console, verdict)


def _source(view: dict[str, Any]) -> str:
    parts = []
    if view["source_execution"]:
        source = view["source_execution"]
        parts.append(f"execution #{source['counter']} ({shown(source['step'])})")
    if view["pipeline_run"]:
        run = view["pipeline_run"]
        parts.append(f"pipeline run #{run['counter']} ({shown(run['pipeline'])})")
    return ", ".join(parts)


def _key_values(console: Console, title: str, values: dict[str, Any]) -> None:
    if not values:
        return
    table = Table(title=title, title_justify="left", box=None, pad_edge=False, show_header=False)
    table.add_column("key", style="dim")
    table.add_column("value")
    for key, value in values.items():
        table.add_row(shown(str(key)), shown(short_value(value)))
    console.print(table)


def _scores(console: Console, entries: list[dict[str, Any]]) -> None:
    if not entries:
        return
    by_rubric: dict[str, list[dict[str, Any]]] = {}
    for entry in entries:
        by_rubric.setdefault(entry["rubric"], []).append(entry)
    table = _table("rubric", "mean", "scores", title="Scores")
    for rubric, given in sorted(by_rubric.items()):
        mean = sum(e["score"] for e in given) / len(given)
        scores = ", ".join(f"{e['score']} ({e['author']})" for e in given)
        table.add_row(shown(rubric), f"{mean:.1f}", shown(scores))
    console.print(table)


def _card(console: Console, entries: list[dict[str, Any]]) -> None:
    if not entries:
        return
    table = _table("when", "who", "what", "", title="Card")
    for entry in entries:
        table.add_row(_when(entry["at"]), shown(entry["author"]), shown(entry["kind"]), _card_text(entry))
    console.print(table)


def _card_text(entry: dict[str, Any]) -> str:
    said = f"“{shown(entry['comment'])}”" if entry.get("comment") else ""
    if entry["kind"] == "comment":
        return f"“{shown(entry['text'])}”"
    if entry["kind"] == "score":
        return f"{shown(entry['rubric'])} {entry['score']}/5 {said}".rstrip()
    if entry["kind"] == "status":
        forced = f" (forced: {shown(entry['force_reason'])})" if entry.get("forced") else ""
        return f"{shown(entry['status'])} {said}".rstrip() + forced
    if entry["kind"] == "decision":
        where = shown(f"gate {entry['node']} of pipeline run #{entry['run']} ({entry['pipeline']})")
        evidence = _evidence(entry.get("evidence") or {})
        return f"{shown(entry['decision'])} at {where} {said}".rstrip() + evidence
    return shown(short_value({k: v for k, v in entry.items() if k not in ("kind", "author", "at")}, 80))


def _evidence(evidence: dict[str, Any]) -> str:
    """The metrics the reviewer saw, one line per upstream execution, and the verdicts' outcomes."""
    lines = []
    for node, runs in (evidence.get("upstream") or {}).items():
        for run in runs:
            seen = shown(f"{node} {run['execution']}")
            lines.append(f"\n  seen: {seen} {_metrics(run.get('metadata') or {}, 6)}")
    for verdict in evidence.get("verdicts") or []:
        against = shown(verdict["baseline"] or "no baseline")
        lines.append(f"\n  verdict: {shown(verdict['outcome'])} against {against}")
    return "".join(lines)


def verdict_table(console: Console, verdict: dict[str, Any]) -> None:
    outcome = verdict["outcome"]
    title = (
        f"Verdict [{RESULT_STYLE.get(outcome, 'white')}]{shown(outcome)}[/] against "
        f"{shown(verdict['baseline'] or 'no baseline')}"
        + (f" (node {shown(verdict['node'])})" if verdict["node"] else "")
    )
    table = _table("metric", "candidate", "baseline", "delta", "rule", "result", title=title)
    for row in verdict["rows"]:
        result = f"[{RESULT_STYLE.get(row['result'], 'white')}]{shown(row['result'])}[/]"
        if row.get("note"):
            result += f" [dim]({shown(row['note'])})[/]"
        table.add_row(shown(row["metric"]), _number(row["candidate"]), _number(row["baseline"]),
                      _delta(row["delta"]), shown(row["rule"]), result)  # fmt: skip
    console.print(table)


def _delta(value: Any) -> str:
    return "" if value is None else "0" if value == 0 else f"{value:+g}"


def comparison(console: Console, view: dict[str, Any]) -> None:
    first, second = view["first"], view["second"]
    table = _table("", shown(first["uri"]), shown(second["uri"]), "delta")
    table.add_row("[dim]status[/]", status_text(first["status"]), status_text(second["status"]), "")
    table.add_row("[dim]aliases[/]", _list(first["aliases"]), _list(second["aliases"]), "")
    table.add_row("[dim]tags[/]", _list(first["tags"]), _list(second["tags"]), "")
    for row in view["metrics"]:
        table.add_row(
            shown(row["metric"]), _number(row["first"]), _number(row["second"]), _delta(row["delta"])
        )
    console.print(table)


def alias_history(console: Console, moves: list[dict[str, Any]], owner: str) -> None:
    if not moves:
        console.print(f"No alias of {shown(owner)} has been set yet.")
        return
    table = _table("when", "alias", "from", "", "to", "by", "reason")
    for move in moves:
        table.add_row(_when(move["at"]), shown(move["alias"]), _short(move["from"]), "→", _short(move["to"]),
                      shown(move["by"]), shown(move["reason"] or ""))  # fmt: skip
    console.print(table)


def dataset_list(console: Console, views: list[dict[str, Any]]) -> None:
    if not views:
        console.print("No datasets yet. Create one with `assay datasets create NAME v1 FILES…`.")
        return
    table = _table("dataset", "versions", "aliases", "latest")
    for view in views:
        table.add_row(
            shown(view["name"]), str(view["version_count"]), _aliases(view["aliases"]), _short(view["latest"])
        )
    console.print(table)


def dataset_detail(console: Console, view: dict[str, Any]) -> None:
    console.print(
        f"[bold]{shown(view['uri'])}[/] — {view['version_count']} version(s), "
        f"created by {shown(view['created_by'])}"
    )
    if view["description"]:
        console.print(shown(view["description"]))
    if view["aliases"]:
        console.print(f"[dim]aliases[/] {_aliases(view['aliases'])}")
    table = _table("version", "files", "size", "aliases", "tags", "created", "by")
    for v in view["versions"]:
        table.add_row(shown(v["version"]), str(v["files"]), human_size(v["size"]), _list(v["aliases"]),
                      _list(v["tags"]), _when(v["created_at"]), shown(v["created_by"]))  # fmt: skip
    console.print(table)


def dataset_version_detail(console: Console, view: dict[str, Any]) -> None:
    console.print(f"[bold]{shown(view['uri'])}[/] — {len(view['files'])} file(s), {human_size(view['size'])}")
    source = view["source_execution"]
    pairs = [
        ("aliases", _list(view["aliases"])),
        ("tags", _list(view["tags"])),
        ("created", f"{_when(view['created_at'])} by {shown(view['created_by'])}"),
        ("from", shown(view["from"] or "")),
        ("source", f"execution #{source['counter']} ({shown(source['step'])})" if source else ""),
    ]
    for key, value in pairs:
        if value:
            console.print(f"[dim]{key}[/] {value}")
    _key_values(console, "Properties", view["properties"])
    table = _table("file", "size", "datum", "sha256", title="Files")
    for f in view["files"]:
        table.add_row(shown(f["name"]), human_size(f["size"]), shown(f["datum"]), f["sha256"][:12])
    console.print(table)
