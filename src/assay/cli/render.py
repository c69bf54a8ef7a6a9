"""Rich renderings of executions and datums for people (``--json`` prints the raw views).

Every string a user or a step wrote goes through ``shown`` (``cli/literal.py``).
"""

from __future__ import annotations

import json
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.tree import Tree

from assay.cli.literal import shown

STATUS_STYLE = {
    "completed": "green",
    "error": "red",
    "stopped": "yellow",
    "started": "cyan",
    "created": "dim",
}


def status_text(status: str) -> str:
    return f"[{STATUS_STYLE.get(status, 'white')}]{shown(status)}[/]"


def human_size(size: int) -> str:
    value = float(size)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{size} B"


def short_value(value: Any, limit: int = 60) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def execution_list(console: Console, views: list[dict[str, Any]]) -> None:
    if not views:
        console.print("No executions yet. Run one with `assay run STEP`.")
        return
    table = Table(box=None, pad_edge=False)
    for column in ("#", "step", "status", "started", "duration"):
        table.add_column(column)
    for view in views:
        duration = f"{view['duration_seconds']:.2f} s" if view["duration_seconds"] is not None else ""
        started = (view["started_at"] or view["created_at"] or "")[:19].replace("T", " ")
        table.add_row(
            f"#{view['counter']}", shown(view["step"]), status_text(view["status"]), started, duration
        )
    console.print(table)


def execution_detail(console: Console, view: dict[str, Any]) -> None:
    console.print(
        f"[bold]Execution #{view['counter']}[/] {shown(view['step'])} — {status_text(view['status'])}"
        + (f" ({shown(view['message'])})" if view["message"] else "")
    )
    console.print(f"[dim]id[/] {shown(view['ref'])}   [dim]image[/] {shown(view['image'])}")
    if view["duration_seconds"] is not None:
        console.print(
            f"[dim]duration[/] {view['duration_seconds']:.2f} s   [dim]exit code[/] {view['exit_code']}"
        )
    env = view.get("environment") or {}
    source = view.get("source") or {}
    if source.get("adhoc"):
        console.print(f"[dim]code[/] an uploaded working tree, {shown(source.get('tree') or '?')}")
    elif source.get("commit"):
        console.print(f"[dim]code[/] {shown(source['commit'])} ({shown(source.get('ref') or '')} of "
                      f"{shown(source.get('repository') or '?')})")  # fmt: skip
    if env:
        commit = env.get("git_commit") or "not a git repository"
        dirty = " (dirty)" if env.get("git_dirty") else ""
        code = "" if source else f"[dim]code[/] {shown(commit)}{dirty}   "
        console.print(f"{code}[dim]sandbox[/] {shown(env.get('sandbox'))}")
    _mapping(console, "Parameters", view.get("parameters") or {})
    inputs = view.get("inputs") or {}
    if inputs:
        table = Table(title="Inputs", title_justify="left", box=None, pad_edge=False)
        for column in ("input", "file", "from", "datum"):
            table.add_column(column)
        for name, files in inputs.items():
            for f in files:
                table.add_row(
                    shown(name), shown(f["name"]), shown(short_value(f["uri"], 50)), shown(f["datum"])
                )
        console.print(table)
    _mapping(console, "Metadata (last value of each key)", view.get("metadata") or {})
    outputs = view.get("outputs") or []
    if outputs:
        table = Table(title="Outputs", title_justify="left", box=None, pad_edge=False)
        for column in ("file", "size", "datum", "sha256"):
            table.add_column(column)
        for datum in outputs:
            table.add_row(
                shown(datum["name"]), human_size(datum["size"]), shown(datum["uri"]), datum["sha256"][:12]
            )
        console.print(table)
    made = [*(view.get("model_versions") or []), *(view.get("dataset_versions") or [])]
    if made:
        console.print("[bold]created[/] " + shown(", ".join(made)))
    if view.get("verdicts"):
        from assay.cli.render_registry import verdict_table

        for verdict in view["verdicts"]:
            verdict_table(console, verdict)
    for problem in view.get("problems") or []:
        console.print(f"[yellow]problem:[/] {shown(problem)}")


def _mapping(console: Console, title: str, values: dict[str, Any]) -> None:
    if not values:
        return
    table = Table(title=title, title_justify="left", box=None, pad_edge=False, show_header=False)
    table.add_column("key", style="dim")
    table.add_column("value")
    for key, value in values.items():
        table.add_row(shown(key), shown(short_value(value)))
    console.print(table)


def datum_detail(console: Console, view: dict[str, Any]) -> None:
    console.print(f"[bold]{shown(view['uri'])}[/] {shown(view['name'])}  {human_size(view['size'])}")
    console.print(f"[dim]sha256[/] {view['sha256']}")
    producer = view.get("produced_by")
    if producer:
        console.print(f"[dim]produced by[/] execution #{producer['counter']} ({shown(producer['step'])})")
    elif view.get("source_uri"):
        console.print(f"[dim]from[/] {shown(view['source_uri'])}")
    if view.get("aliases"):
        console.print(f"[dim]aliases[/] {shown(', '.join(view['aliases']))}")
    if view.get("tags"):
        console.print(f"[dim]tags[/] {shown(', '.join(view['tags']))}")
    _mapping(console, "Metadata", view.get("metadata") or {})


NODE_MARK = {
    "completed": "[green]✔[/]",
    "error": "[red]✘[/]",
    "running": "[cyan]▶[/]",
    "waiting-approval": "[yellow]⏸[/]",
    "skipped": "[dim]–[/]",
    "stopped": "[yellow]■[/]",
    "pending": "[dim]·[/]",
}


def run_list(console: Console, views: list[dict[str, Any]]) -> None:
    if not views:
        console.print("No pipeline runs yet. Start one with `assay pipeline run NAME`.")
        return
    table = Table(box=None, pad_edge=False)
    for column in ("#", "pipeline", "status", "started", "by", "message"):
        table.add_column(column)
    for view in views:
        started = (view["created_at"] or "")[:19].replace("T", " ")
        table.add_row(f"#{view['counter']}", shown(view["pipeline"]), status_text(view["status"]), started,
                      shown(view["created_by"]), shown(short_value(view["message"] or "", 50)))  # fmt: skip
    console.print(table)


def run_tree(view: dict[str, Any]) -> Tree:
    title = (
        f"[bold]Pipeline run #{view['counter']}[/] {shown(view['pipeline'])} — {status_text(view['status'])}"
    )
    if view.get("message"):
        title += f" [dim]({shown(view['message'])})[/]"
    tree = Tree(title)
    for warning in view.get("warnings", []):
        tree.add(f"[yellow]warning:[/] {shown(warning)}")
    for node in view.get("nodes", []):
        runs = shown(", ".join(f"#{e['counter']} {e['status']}" for e in node["executions"]))
        mark = NODE_MARK.get(node["status"], "?")
        line = f"{mark} [bold]{shown(node['name'])}[/] {status_text(node['status'])}"
        if runs:
            line += f"  [dim]executions:[/] {runs}" + (" [dim](reused)[/]" if node["reused"] else "")
        if node["attempts"] > 1:
            line += f"  [dim]attempts:[/] {node['attempts']}"
        branch = tree.add(line)
        gate = node.get("gate")
        if gate:
            decided = (
                f"{shown(gate['status'])} by {shown(gate['decided_by'])} at {(gate['decided_at'] or '')[:19]}"
                if gate["decided_by"]
                else "waiting for a decision"
            )
            said = f": “{shown(gate['comment'])}”" if gate.get("comment") else ""
            branch.add(f"[yellow]gate[/] {decided}{said}")
        for verdict in node.get("verdicts", []):
            colour = {"pass": "green", "fail": "red"}.get(verdict["outcome"], "yellow")
            against = shown(verdict["baseline"] or "no baseline yet")
            rows = "; ".join(
                f"{r['metric']} {r['candidate']} vs {r['baseline']}"
                + (f" (Δ {r['delta']:+g})" if r.get("delta") is not None else "")
                + f" {r['result']}"
                for r in verdict["rows"]
            )
            branch.add(f"[{colour}]verdict {shown(verdict['outcome'])}[/] against {against}: {shown(rows)}")
        if node.get("message") and node["status"] in ("error", "skipped", "stopped", "pending"):
            branch.add(f"[dim]{shown(node['message'])}[/]")
    if view.get("model_versions"):
        tree.add("[bold]model versions:[/] " + shown(", ".join(view["model_versions"])))
    return tree
