"""Tables in Markdown and LaTeX from one list of rows, for the papers' layouts, and the
one way every page writes a number.

A table is a sequence of row dicts and the column names to show, in order. Cells are
formatted once, the same way for both outputs: floats with ``digits`` decimals, missing
values (``None``, NaN) as an en dash, everything else with ``str``. Callers that need a
paper's own cell format (``71.9 (.59)``) pass strings.

Every number a report, a verdict, the sample browser or ``telltale compare`` shows goes
through :func:`format_cell` (a rate, AUC or share: ``0.775``, never ``78%``),
:func:`format_p` (a p-value: ``1.25e-37``, ``0.024``) or :func:`format_estimate` (a
figure with its interval), so one figure reads the same on every page.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

MISSING = "–"

# one pass over the characters, so the braces written for one escape are not escaped again
_TEX = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "_": r"\_", "#": r"\#",
        "$": r"\$", "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}",
        "±": r"$\pm$", "–": "--", "Δ": r"$\Delta$", "ρ": r"$\rho$", "≥": r"$\geq$",
        "≤": r"$\leq$"}


def format_cell(value: Any, digits: int = 3) -> str:
    """One cell as text.

    Parameters
    ----------
    value : Any
        The cell; ``None`` and NaN are missing, bools print as ``yes``/``no``.
    digits : int
        Decimals of float cells.

    Returns
    -------
    str
    """
    if value is None:
        return MISSING
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, numbers.Real) and not isinstance(value, numbers.Integral):
        value = float(value)
        if math.isnan(value):
            return MISSING
        text = f"{value:.{digits}f}"
        # a value that rounds to zero prints without a sign: "-0.000" reads as a finding
        return text[1:] if text.startswith("-") and float(text) == 0 else text
    return str(value)


def format_change(value: float | None) -> str:
    """A difference with its sign (``+0.050``, ``-0.120``; ``0.000`` unsigned), as
    :func:`format_cell` writes the number."""
    text = format_cell(value)
    return "+" + text if value is not None and text[0].isdigit() and float(text) != 0 else text


def format_p(p: float | None) -> str:
    """A p-value to three significant digits (``0.024``, ``1.25e-37``); never ``0.000``."""
    if p is None or (isinstance(p, float) and math.isnan(p)):
        return MISSING
    return f"{float(p):.3g}"


def format_interval(low: float | None, high: float | None) -> str:
    """``[0.400, 0.600]``, as :func:`format_estimate` writes an interval."""
    return f"[{format_cell(low)}, {format_cell(high)}]"


def format_estimate(estimate: Mapping[str, Any]) -> str:
    """A rate or AUC with its interval, as every page prints it: ``0.513 [0.400, 0.600]``,
    the value alone when it has no interval, or ``not estimable (n=…)`` without a value. A
    row with ``"kind": "p"`` holds a p-value (``1.25e-37``)."""
    if estimate.get("value") is None:
        return f"not estimable (n={estimate.get('n') or 0})"
    if estimate.get("kind") == "p":  # a p-value: three significant digits, not 0.000
        return format_p(estimate["value"])
    text = format_cell(estimate["value"])
    if estimate.get("low") is None or estimate.get("high") is None:
        # a mean over realisations (e.g. TTS voices) is shown with their spread
        return f"{text} ± {format_cell(estimate['sd'])}" if "sd" in estimate else text
    return f"{text} {format_interval(estimate['low'], estimate['high'])}"


def to_markdown(rows: Sequence[dict[str, Any]], columns: Sequence[str], digits: int = 3) -> str:
    """A GitHub-flavoured pipe table.

    Parameters
    ----------
    rows : sequence of dict
        One dict per row; a column missing from a row prints as missing.
    columns : sequence of str
        Column names, in order (also the header).
    digits : int
        Decimals of float cells.

    Returns
    -------
    str
        The table, ending with a newline. ``|`` inside a cell is escaped as ``\\|``.
    """
    def cell(text: str) -> str:
        return text.replace("|", r"\|").replace("\n", " ")

    lines = ["| " + " | ".join(cell(str(c)) for c in columns) + " |",
             "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(cell(format_cell(row.get(c), digits)) for c in columns) + " |"
              for row in rows]
    return "\n".join(lines) + "\n"


def tex_escape(text: str) -> str:
    """``text`` with LaTeX's special characters (and a few symbols) escaped."""
    return "".join(_TEX.get(char, char) for char in text)


def to_latex(rows: Sequence[dict[str, Any]], columns: Sequence[str], caption: str = "",
             label: str = "", digits: int = 3) -> str:
    """A ``table`` environment with a booktabs ``tabular`` (first column left-aligned,
    the others right-aligned).

    Parameters
    ----------
    rows, columns, digits
        As for :func:`to_markdown`.
    caption : str
        Caption text (escaped); none when empty.
    label : str
        ``\\label`` key (not escaped); none when empty.

    Returns
    -------
    str
        The LaTeX source, ending with a newline; needs ``\\usepackage{booktabs}``.
    """
    spec = "l" + "r" * (len(columns) - 1)
    lines = [r"\begin{table}[t]", r"\centering", rf"\begin{{tabular}}{{{spec}}}", r"\toprule",
             " & ".join(tex_escape(str(c)) for c in columns) + r" \\", r"\midrule"]
    lines += [" & ".join(tex_escape(format_cell(row.get(c), digits)) for c in columns) + r" \\"
              for row in rows]
    lines += [r"\bottomrule", r"\end{tabular}"]
    if caption:
        lines.append(rf"\caption{{{tex_escape(caption)}}}")
    if label:
        lines.append(rf"\label{{{label}}}")
    lines.append(r"\end{table}")
    return "\n".join(lines) + "\n"


def write_table(folder: Path, name: str, rows: Sequence[dict[str, Any]],
                columns: Sequence[str], caption: str = "", label: str = "",
                digits: int = 3) -> tuple[Path, Path]:
    """Write ``name.md`` and ``name.tex`` into ``folder`` (created if missing).

    Returns
    -------
    (Path, Path)
        The Markdown and LaTeX files.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    md, tex = folder / f"{name}.md", folder / f"{name}.tex"
    md.write_text(to_markdown(rows, columns, digits), encoding="utf-8")
    tex.write_text(to_latex(rows, columns, caption, label or f"tab:{name}", digits),
                   encoding="utf-8")
    return md, tex
