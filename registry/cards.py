"""Model cards, pure: plain facts about a version in, a card (dict) and its Markdown out. No Django, no ORM.

Most of a card is generated from what the registry already pinned (data lineage, signature, metrics,
params, the last fairness gate), so it cannot drift from the version it describes. Only three sections
are written by people, because no lineage can say what a model is for or where it must not be used.
`registry.services.cards.card_facts` gathers the facts; the version page and the Markdown export read
the same `build` output.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Collection, Mapping, Sequence
from datetime import datetime
from typing import Any

from experiments.metrics import lower_is_better  # the one definition (errors and losses)

SECTIONS = ("intended_use", "limitations", "ethical_considerations")
LABELS = {
    "intended_use": "Intended use",
    "limitations": "Limitations",
    "ethical_considerations": "Ethical considerations",
}
HINTS = {
    "intended_use": "Who should use this model, for which decisions, on which population; and what it is not for.",
    "limitations": "Where it is known to be weak: data it has not seen, segments with poor metrics, assumptions "
    "that must hold.",
    "ethical_considerations": "Who could be harmed by a wrong prediction, sensitive attributes involved, and what "
    "a human checks before acting on it.",
}
MAX_SECTION_CHARS = 10_000
NOT_WRITTEN = "_Not written yet._"


def build(facts: Mapping[str, Any]) -> dict[str, Any]:
    """The card's parts, from plain facts (see `registry.services.cards.card_facts` for their shape).

    Missing facts give empty parts rather than errors: versions registered from logged runs may have
    no signature or lineage, and their card still shows what is known.
    """
    model = facts.get("model") or {}
    version = facts.get("version") or {}
    run = facts.get("run") or {}
    training = facts.get("training") or {}
    signature = facts.get("signature") or {}
    output = signature.get("output") or {}
    metrics = facts.get("metrics") or {}
    params = facts.get("params") or {}
    written = facts.get("sections") or {}
    number = version.get("number")
    return {
        "title": f"Model card: {model.get('name', '')} v{number}" if number is not None else "Model card",
        "model": {"name": model.get("name", ""), "description": (model.get("description") or "").strip()},
        "version": {
            "number": number,
            "stage": version.get("stage") or "none",
            "aliases": list(version.get("aliases") or []),
            "created": _when(version.get("created_at")),
            "created_by": version.get("created_by") or "",
            "sha256": version.get("sha256") or "",
            "description": (version.get("description") or "").strip(),
        },
        "run": {
            "id": run.get("id"),
            "name": run.get("name") or "",
            "experiment": run.get("experiment") or "",
            "algorithm": training.get("algorithm") or params.get("algorithm") or "",
        },
        "training_data": [_data(item) for item in facts.get("data") or []],
        "split": {key: training[key] for key in ("holdout", "seed", "cv_folds") if training.get(key) is not None},
        "features": [
            {"name": str(column.get("name", "")), "kind": column.get("kind") or "", "dtype": column.get("dtype") or ""}
            for column in signature.get("inputs") or []
        ],
        "output": {
            "target": training.get("target") or "",
            "task": output.get("task") or training.get("task") or "",
            "classes": [str(label) for label in output.get("classes") or []],
        },
        "metrics": [
            {"name": key, "value": metrics[key], "better": "lower" if lower_is_better(key) else "higher"}
            for key in sorted(metrics)
        ],
        "params": [{"name": key, "value": params[key]} for key in sorted(params)],
        "fairness": _fairness(facts.get("fairness")),
        "sections": [
            {"key": key, "label": LABELS[key], "hint": HINTS[key], "text": str(written.get(key) or "").strip()}
            for key in SECTIONS
        ],
    }


def _when(value: Any) -> str:
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M UTC")
    return str(value or "")


def _data(item: Mapping[str, Any]) -> dict[str, Any]:
    """One input dataset version with its ancestry, newest first, each step saying how it was made."""
    chain = []
    for node in item.get("chain") or []:
        recipe = node.get("recipe") or []
        chain.append(
            {
                "id": node.get("id"),
                "number": node.get("number"),
                "sha256": node.get("sha256") or "",
                "recipe": [describe_step(step) for step in recipe],
                "parent": None,
            }
        )
    for node, parent in itertools.pairwise(chain):
        node["parent"] = parent["number"]
    head = chain[0] if chain else {}
    return {
        "dataset": item.get("dataset") or "",
        "version_id": item.get("version"),
        "number": head.get("number"),
        "rows": item.get("rows"),
        "columns": item.get("columns"),
        "sha256": head.get("sha256", ""),
        "chain": chain,
    }


def describe_step(step: Any) -> str:
    """`{"op": "impute", "column": "income", "strategy": "median"}` -> `impute(column=income, strategy=median)`."""
    if not isinstance(step, Mapping):
        return str(step)
    arguments = ", ".join(f"{key}={_plain(value)}" for key, value in step.items() if key != "op")
    return f"{step.get('op', '?')}({arguments})"


def _plain(value: Any) -> str:
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_plain(item) for item in value) + "]"
    if isinstance(value, Mapping):
        return "{" + ", ".join(f"{key}: {_plain(item)}" for key, item in value.items()) + "}"
    return str(value)


def _fairness(result: Mapping[str, Any] | None) -> dict[str, Any]:
    """The last fairness gate's per-group rates, or why there are none."""
    if not result:
        return {
            "measured": False,
            "message": "Not measured: no promotion request has run a fairness gate on this version.",
        }
    details = result.get("details") or {}
    groups = [
        {
            "group": str(row.get("group", "")),
            "n": row.get("n"),
            "positives": row.get("positives"),
            "positive_rate": row.get("positive_rate"),
            "recall": row.get("recall"),
        }
        for row in details.get("groups") or []
    ]
    measured = len(groups) >= 2
    return {
        "measured": measured,
        "status": result.get("status") or "",
        "message": result.get("message") if measured else f"Not measured: {result.get('message') or 'no groups.'}",
        "column": result.get("column") or details.get("column") or "",
        "max_gap": details.get("max_gap"),
        "positive": details.get("positive"),
        "positive_rate_gap": details.get("positive_rate_gap"),
        "recall_gap": details.get("recall_gap"),
        "groups": groups,
        "request": result.get("request"),
        "requested": _when(result.get("requested_at")),
    }


# ---------------------------------------------------------------------------------------------------
# Markdown
# ---------------------------------------------------------------------------------------------------


def to_markdown(card: Mapping[str, Any]) -> str:
    """A self-contained Markdown document, in the order of Mitchell et al.'s model cards."""
    sections = {section["key"]: section for section in card.get("sections") or []}
    lines: list[str] = [f"# {card.get('title') or 'Model card'}", ""]
    lines += _details(card)
    lines += _section(sections.get("intended_use"), "intended_use")
    lines += _training_data(card)
    lines += _features(card)
    lines += _metrics(card)
    lines += _params(card)
    lines += _fairness_md(card.get("fairness") or {})
    lines += _section(sections.get("limitations"), "limitations")
    lines += _section(sections.get("ethical_considerations"), "ethical_considerations")
    lines.append(
        "_Generated by the model registry from the version's pinned lineage, metrics and gate results; "
        "the intended use, limitations and ethical considerations are written by the team._"
    )
    return "\n".join(lines).rstrip() + "\n"


def _details(card: Mapping[str, Any]) -> list[str]:
    model, version, run = card.get("model") or {}, card.get("version") or {}, card.get("run") or {}
    lines = ["## Model details", ""]
    if model.get("description"):
        lines += [model["description"], ""]
    rows = [
        ("Model", model.get("name")),
        ("Version", version.get("number")),
        ("Stage", version.get("stage")),
        ("Aliases", ", ".join(version.get("aliases") or [])),
        ("Registered", " by ".join(part for part in (version.get("created"), version.get("created_by")) if part)),
        ("Training run", _run_label(run)),
        ("Experiment", run.get("experiment")),
        ("Algorithm", run.get("algorithm")),
        ("Model file sha256", f"`{version['sha256']}`" if version.get("sha256") else ""),
    ]
    lines += [f"- **{label}:** {_inline(value)}" for label, value in rows if value not in (None, "")]
    if version.get("description"):
        lines += ["", version["description"]]
    return [*lines, ""]


def _run_label(run: Mapping[str, Any]) -> str:
    if run.get("id") is None:
        return ""
    return f"#{run['id']}" + (f" {run['name']}" if run.get("name") else "")


def _section(section: Mapping[str, Any] | None, key: str) -> list[str]:
    text = (section or {}).get("text") or ""
    return [f"## {LABELS[key]}", "", text.strip() or NOT_WRITTEN, ""]


def _training_data(card: Mapping[str, Any]) -> list[str]:
    lines = ["## Training data", ""]
    data = card.get("training_data") or []
    if not data:
        return [*lines, "_No dataset version is recorded for the training run._", ""]
    for item in data:
        lines.append(f"### {_inline(item.get('dataset'))} v{item.get('number')}")
        lines.append("")
        if item.get("rows") is not None:
            lines.append(f"- **Rows:** {_fmt(item['rows'])}")
        if item.get("columns") is not None:
            lines.append(f"- **Columns:** {_fmt(item['columns'])}")
        if item.get("sha256"):
            lines.append(f"- **sha256:** `{item['sha256']}`")
        lines += ["- **Lineage** (newest first):", ""]
        for position, node in enumerate(item.get("chain") or [], start=1):
            parent = f"v{node['parent']}" if node.get("parent") is not None else "its parent"
            origin = (
                f"derived from {parent} by: " + "; ".join(f"`{step}`" for step in node["recipe"])
                if node.get("recipe")
                else "uploaded"
            )
            digest = f" `{node['sha256'][:12]}…`" if node.get("sha256") else ""
            lines.append(f"  {position}. v{node.get('number')}{digest} — {origin}")
        lines.append("")
    split = card.get("split") or {}
    if split:
        parts = []
        if split.get("holdout") is not None:
            parts.append(f"{_fmt(100 * float(split['holdout']))}% of rows held out for evaluation")
        if split.get("cv_folds"):
            parts.append(f"{split['cv_folds']}-fold cross-validation")
        if split.get("seed") is not None:
            parts.append(f"seed {split['seed']}")
        lines += [f"Split: {', '.join(parts)}.", ""]
    return lines


def _features(card: Mapping[str, Any]) -> list[str]:
    lines = ["## Features and output", ""]
    features = card.get("features") or []
    if features:
        lines += _table(["Column", "Kind", "dtype"], [[f["name"], f["kind"], f["dtype"]] for f in features])
    else:
        lines += ["_No signature was recorded for this version._", ""]
    output = card.get("output") or {}
    facts = [
        ("Target", output.get("target")),
        ("Task", output.get("task")),
        ("Classes", ", ".join(output.get("classes") or [])),
    ]
    lines += [f"- **{label}:** {_inline(value)}" for label, value in facts if value]
    return [*lines, ""]


def _metrics(card: Mapping[str, Any]) -> list[str]:
    lines = ["## Metrics", ""]
    metrics = card.get("metrics") or []
    if not metrics:
        return [*lines, "_No metrics were recorded when the version was registered._", ""]
    lines += _table(
        ["Metric", "Value", "Better"], [[m["name"], _fmt(m["value"]), m["better"]] for m in metrics], numeric={1}
    )
    return [*lines, "Measured on the training run's holdout rows when the version was registered.", ""]


def _params(card: Mapping[str, Any]) -> list[str]:
    params = card.get("params") or []
    if not params:
        return []
    return ["## Training parameters", "", *_table(["Param", "Value"], [[p["name"], p["value"]] for p in params])]


def _fairness_md(fairness: Mapping[str, Any]) -> list[str]:
    lines = ["## Fairness", ""]
    if not fairness.get("measured"):
        return [*lines, f"_{fairness.get('message') or 'Not measured.'}_", ""]
    source = f"promotion request #{fairness['request']}" if fairness.get("request") else "a promotion request"
    when = f" (opened {fairness['requested']})" if fairness.get("requested") else ""
    column = f"“{fairness['column']}”" if fairness.get("column") else "the sensitive column"
    lines += [
        f"Across the groups of {column} on the holdout rows, from the fairness gate of {source}{when}:",
        "",
    ]
    lines += _table(
        ["Group", "Rows", "Actual positives", "Positive rate", "Recall"],
        [
            [g["group"], _fmt(g["n"]), _fmt(g["positives"]), _fmt(g["positive_rate"]), _fmt(g["recall"])]
            for g in fairness["groups"]
        ],
        numeric={1, 2, 3, 4},
    )
    gaps = [
        f"positive-rate gap {_fmt(fairness.get('positive_rate_gap'))}",
        f"recall gap {_fmt(fairness.get('recall_gap'))}",
    ]
    if fairness.get("max_gap") is not None:
        gaps.append(f"allowed {_fmt(fairness['max_gap'])}")
    lines += [f"- **Gaps:** {', '.join(gaps)}", f"- **Gate result:** {fairness.get('status') or '—'}", ""]
    return lines


def _table(header: Sequence[str], rows: Sequence[Sequence[Any]], numeric: Collection[int] = ()) -> list[str]:
    align = ["---:" if index in numeric else "---" for index in range(len(header))]
    lines = ["| " + " | ".join(header) + " |", "| " + " | ".join(align) + " |"]
    lines += ["| " + " | ".join(_cell(value) for value in row) + " |" for row in rows]
    return [*lines, ""]


def _cell(value: Any) -> str:
    """A table cell: pipes escaped and line breaks flattened, so user text cannot break the table."""
    return _inline(value).replace("|", "\\|") or "—"


def _inline(value: Any) -> str:
    return " ".join(str("" if value is None else value).split())


def _fmt(value: Any) -> str:
    """Numbers as people read them: 4 significant digits below 1, 4 decimals above, integers whole."""
    if value is None or value == "":
        return "—"
    if isinstance(value, bool) or not isinstance(value, int | float):
        return str(value)
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, int) or float(value).is_integer():
        return f"{value:,.0f}"
    return f"{value:.4g}" if abs(value) < 1 else f"{value:,.4f}".rstrip("0").rstrip(".")
