"""The ladder as a markdown table and the decisions as a list: shared by TensorBoard and report.md."""
from __future__ import annotations

from .ladder import Ladder


def fmt(v) -> str:
    if v is None:
        return "–"
    return f"{v:.4g}" if isinstance(v, float) else str(v)  # NaN/inf print as nan/inf


def cause_line(stage) -> str:
    """One line: a failed stage's most likely cause, or that none was found."""
    c = stage.cause
    if not c:
        return (f"Most likely cause (`{stage.name}`): none found: no check raised a warning or error "
                f"(the step may just be too hard for this budget)")
    return (f"Most likely cause (`{stage.name}`): **{c['severity']}** `{c['code']}`: {c['message']} "
            f"(why: {c['why']})")


def causes_markdown(ladder: Ladder) -> str:
    """The most likely cause of each judged stage, one line each ("" when none)."""
    return "\n".join(f"- {cause_line(s)}" for s in judged(ladder))


def judged(ladder: Ladder) -> list:
    """The stages with a cause line: each failed stage, one that met its goal but stopped the ladder on a bug, and
    one that failed and was then searched (a stage's cause is cleared when a new attempt starts: it is set only on
    those)."""
    return [s for s in ladder.order() if s.status == "failed" or s.cause]


def stalled_on(ladder: Ladder) -> list:
    """The judged stages that keep the run from having converged: all but those a search then brought to their goal
    (their cause line says why they were searched; the ladder went on from the trial that converged)."""
    return [s for s in judged(ladder) if not (s.status == "converged" and s.trials)]


def stages_markdown(ladder: Ladder) -> str:
    rows = ["| stage | after | knobs | status | iterations / budget | goal | best | lr |",
            "|---|---|---|---|---|---|---|---|"]
    for s in ladder.order():
        name = f"{s.name} (inserted)" if s.inserted else s.name
        knobs = ", ".join(f"{k}={fmt(v)}" for k, v in s.knobs.items())
        sign = ">=" if s.goal.mode == "max" else "<="
        rows.append(f"| {name} | {', '.join(s.after) or '–'} | {knobs} | {s.status} | "
                    f"{s.iterations} / {fmt(s.budget)} | {s.goal.metric} {sign} {s.goal.target:g} | "
                    f"{fmt(s.best)} | {fmt(s.lr_used)} |")
    return "\n".join(rows)


def translations_markdown(rows) -> str:
    """(source, reference, model output) rows as a markdown table."""
    lines = ["| source | reference | model |", "|---|---|---|"]
    lines += ["| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def decision_markdown(d: dict) -> str:
    return f"**{d['kind']}** `{d['stage']}`: {d['reason']}"


def decisions_markdown(decisions: list[dict]) -> str:
    return "\n".join(f"{i + 1}. {decision_markdown(d)}" for i, d in enumerate(decisions)) or "(none yet)"


def diagnoses_markdown(ladder: Ladder) -> str:
    """Each failed stage's most likely cause, then every diagnosis in the order it was recorded."""
    found = [(s, d) for s in ladder.order() for d in s.diagnoses]
    found.sort(key=lambda sd: sd[1].get("time") or 0.0)  # stable: files without times keep stage order
    lines = []
    for s, d in found:
        applied = f" Applied: {d['applied']}." if d.get("applied") else ""
        lines.append(f"- `{s.name}` it {d['iteration']} **{d['severity']}** `{d['code']}`: "
                     f"{d['message']} Fix: {d['fix']}{applied}")
    causes = causes_markdown(ladder)
    body = "\n".join(lines) or "(none)"
    return f"{causes}\n\n{body}" if causes else body


# how each severity opens a diagnosis: an error must stand out in a list of infos
# (words, not emoji: a browser without an emoji font shows boxes)
SEVERITY_MARK = {"error": "**ERROR**", "warning": "**WARNING**", "info": "info"}
EVIDENCE_ROWS = 12  # a diagnosis's evidence table stays short: the full numbers are in ladder.json


def rounded(v) -> str:
    """A number as a person reads it (4 significant digits); lists shortened; everything else as text."""
    if isinstance(v, bool) or v is None:
        return str(v)
    if isinstance(v, float):
        return f"{v:.4g}"
    if isinstance(v, dict):
        return "{" + ", ".join(f"{k}: {rounded(x)}" for k, x in v.items()) + "}"
    if isinstance(v, (list, tuple)):
        items = [rounded(x) for x in v[:5]]
        return "[" + ", ".join(items) + (f", … ({len(v)} in all)" if len(v) > 5 else "") + "]"
    return str(v)


def flatten(evidence: dict, prefix: str = "") -> list[tuple[str, str]]:
    """Nested evidence as (dotted key, rounded value) rows."""
    rows = []
    for k, v in evidence.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            rows += flatten(v, key + ".")
        else:
            rows.append((key, rounded(v)))
    return rows


def evidence_markdown(evidence: dict) -> str:
    rows = flatten(evidence or {})
    if not rows:
        return ""
    cell = lambda text: text.replace("|", "\\|").replace("\n", " ")  # noqa: E731
    lines = ["| evidence | value |", "|---|---|"]
    lines += [f"| {cell(k)} | {cell(v)} |" for k, v in rows[:EVIDENCE_ROWS]]
    if len(rows) > EVIDENCE_ROWS:
        lines.append(f"| … | {len(rows) - EVIDENCE_ROWS} more in ladder.json |")
    return "\n".join(lines)


def diagnosis_markdown(stage_name: str, d: dict) -> str:
    """One diagnosis for a reader: severity first, the message, its evidence as a table, the fix alone."""
    mark = SEVERITY_MARK.get(d["severity"], d["severity"])
    parts = [f"{mark} `{d['code']}` · stage `{stage_name}`, iteration {d['iteration']}", d["message"]]
    table = evidence_markdown(d.get("evidence") or {})
    if table:
        parts.append(table)
    if d.get("fix"):
        parts.append(f"**Fix:** {d['fix']}")
    if d.get("applied"):
        parts.append(f"**Applied:** {d['applied']}")
    return "\n\n".join(parts)
