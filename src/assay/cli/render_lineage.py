"""Lineage answers as text: tables for people, Graphviz ``dot`` for drawing.

Every string a user or a step wrote goes through ``shown`` or ``visible`` (``cli/literal.py``).
"""

from __future__ import annotations

import json
from typing import Any

from rich.console import Console
from rich.table import Table

from assay.cli.literal import shown, visible


def _table(*columns: str, title: str | None = None) -> Table:
    table = Table(box=None, pad_edge=False, title=title, title_justify="left", title_style="bold")
    for column in columns:
        table.add_column(column)
    return table


def flags(console: Console, found: list[dict[str, Any]]) -> None:
    for flag in found:
        if flag["active"]:
            console.print(
                f"[bold red]⚠ flagged[/] {shown(flag.get('dataset') or '')} by {shown(flag['flagged_by'])} "
                f"at {shown(flag['flagged_at'][:19])}: {shown(flag['reason'])}"
            )
        else:
            console.print(
                f"[dim]flag lifted by {shown(flag['lifted_by'] or '?')} at {(flag['lifted_at'] or '')[:19]}"
                f" ({shown(flag['lift_reason'] or '')}); it said: {shown(flag['reason'])}[/]"
            )


def affected(console: Console, view: dict[str, Any]) -> None:
    console.print(f"[bold]Affected by {shown(view['subject'])}[/]")
    flags(console, view["flags"])
    if not view["model_versions"]:
        console.print("No model version was built from it.")
    for how, refs in view["by_how"].items():
        console.print(f"entered as input [bold]{shown(how)}[/]: {shown(', '.join(refs))}")
    table = _table("model version", "status", "aliases now", "entered as", "built by", "pipeline run")
    for entry in view["model_versions"]:
        source = entry["source_execution"]
        built = shown(f"#{source['counter']} {source['step']}") if source else ""
        aliases = shown(", ".join(entry["aliases"]))
        held = f"[bold yellow]{aliases}[/]" if aliases else ""
        how = shown(", ".join(entry["how"]))
        table.add_row(shown(entry["ref"]), shown(entry["status"]), held, how, built,
                      shown(entry["pipeline_run"] or ""))  # fmt: skip
    if view["model_versions"]:
        console.print(table)
    used = _table("used by execution", "step", "as input", "pipeline run", title="Used directly by")
    for entry in view["used_by"]:
        used.add_row(
            f"#{entry['counter']}",
            shown(entry["step"]),
            shown(", ".join(entry["input"])),
            shown(entry["pipeline_run"] or ""),
        )
    if view["used_by"]:
        console.print(used)


def show(console: Console, view: dict[str, Any]) -> None:
    console.print(f"[bold]Lineage of {shown(view['subject'])}[/]")
    flags(console, view["flags"])
    for key, title in (("replaced", "replaced"), ("replaced_by", "replaced by")):
        for entry in view.get(key, []):
            console.print(
                f"{title} {shown(entry['ref'])} as {shown(entry['alias'] or '')} at {shown(entry['at'][:19])}"
            )
    if view["datasets"]:
        console.print("datasets: " + ", ".join(shown(d["ref"]) for d in view["datasets"]))
    if view["models"]:
        console.print("models: " + ", ".join(shown(m["ref"]) for m in view["models"]))
    table = _table("execution", "step", "run", "parameters", "commit", "image", title="Executions")
    for execution in sorted(view["executions"], key=lambda e: e["counter"]):
        parameters = json.dumps(execution["parameters"], sort_keys=True)
        commit = shown((execution["commit"] or "")[:10])
        run = shown(execution["pipeline_run"] or "")
        table.add_row(
            f"#{execution['counter']}", shown(execution["step"]), run, shown(parameters[:60]), commit,
            shown(execution["image"]),
        )  # fmt: skip
    if view["executions"]:
        console.print(table)
    decisions = _table("run", "node", "decision", "by", "at", "comment", title="Gate decisions")
    for entry in view["decisions"]:
        decisions.add_row(
            shown(entry["pipeline_run"]), shown(entry["node"]), shown(entry["decision"]),
            shown(entry["by"] or ""), (entry["at"] or "")[:19], shown(entry["comment"] or ""),
        )  # fmt: skip
    if view["decisions"]:
        console.print(decisions)
    console.print(f"[dim]{len(view['datums'])} files upstream; --json lists them[/]")


def dot(view: dict[str, Any]) -> str:
    shape = {"execution": "box", "datum": "note", "dataset_version": "cylinder", "model_version": "component"}
    about = visible(f"{view['direction']}stream of {view['subject']}").replace("\n", " ")
    lines = [f"digraph lineage {{  // {about}", "  rankdir=LR;"]
    for node in view["nodes"]:
        style = ", style=bold" if node["ref"] == view["subject"] else ""
        lines.append(f"  {_quote(node['ref'])} [shape={shape.get(node['kind'], 'ellipse')}{style}];")
    for edge in view["edges"]:
        label = edge["kind"] + (f": {edge['label']}" if edge["label"] else "")
        lines.append(f"  {_quote(edge['from'])} -> {_quote(edge['to'])} [label={_quote(label)}];")
    lines.append("}")
    return "\n".join(lines) + "\n"


def _quote(text: str) -> str:
    return '"' + visible(text).replace("\\", "\\\\").replace('"', '\\"') + '"'
