"""Tables in Markdown and LaTeX from one list of rows, for the papers' layouts."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return "–" if value != value else f"{value:.3f}"
    return "–" if value is None else str(value)


def to_markdown(rows: Sequence[dict[str, Any]], columns: Sequence[str]) -> str:
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(_cell(row.get(c)) for c in columns) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def _tex(text: str) -> str:
    for char, escaped in (("\\", r"\textbackslash{}"), ("&", r"\&"), ("%", r"\%"), ("_", r"\_"),
                          ("#", r"\#"), ("$", r"\$")):
        text = text.replace(char, escaped)
    return text


def to_latex(rows: Sequence[dict[str, Any]], columns: Sequence[str], caption: str = "") -> str:
    spec = "l" + "r" * (len(columns) - 1)
    lines = [r"\begin{table}[t]", r"\centering", rf"\begin{{tabular}}{{{spec}}}", r"\toprule",
             " & ".join(_tex(c) for c in columns) + r" \\", r"\midrule"]
    lines += [" & ".join(_tex(_cell(row.get(c))) for c in columns) + r" \\" for row in rows]
    lines += [r"\bottomrule", r"\end{tabular}"]
    if caption:
        lines.append(rf"\caption{{{_tex(caption)}}}")
    lines.append(r"\end{table}")
    return "\n".join(lines) + "\n"


def write_table(folder: Path, name: str, rows: Sequence[dict[str, Any]],
                columns: Sequence[str], caption: str = "") -> None:
    """Write ``name.md`` and ``name.tex`` into ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{name}.md").write_text(to_markdown(rows, columns))
    (folder / f"{name}.tex").write_text(to_latex(rows, columns, caption))
