"""The member/non-member manifest of a calibration organism: its corpus manifest with a
``member`` column from the organism's card, which records its exact training set (ids and
the sha256 of each clip). ``telltale corpus membership`` writes it; the membership, blind
and mitigate audits read it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from telltale.digest import file_sha256
from telltale.manifest import ManifestError, read_table, write_manifest


def membership_manifest(manifest: str | Path, card: dict[str, Any],
                        out: str | Path) -> Path:
    """Write ``out``: every row of ``manifest`` with ``member`` 1 when the organism trained
    on it (its card's ``training_set``), else 0.

    Parameters
    ----------
    manifest : str or Path
        The corpus manifest the organism was trained from (any manifest format).
    card : dict
        The organism's ``card.json``.
    out : str or Path
        The manifest to write (its format follows the suffix); media paths are rewritten
        relative to its folder.

    Raises
    ------
    ValueError
        When no row is a member, or a member's clip is not the one the organism trained on
        (another file under the same id), naming the rows.
    """
    manifest = Path(manifest)
    trained = {str(row["id"]): row.get("sha256") for row in card["training_set"]}
    rows = read_table(manifest)
    changed = []
    for number, row in enumerate(rows, start=1):
        column = "audio" if row.get("audio") else "image" if row.get("image") else None
        path = None
        if column:  # absolute here; write_manifest makes it relative to ``out``
            path = Path(row[column]) if Path(row[column]).is_absolute() \
                else manifest.parent / row[column]
            row[column] = str(path.resolve())
        key = str(row.get("id"))
        row["member"] = int(key in trained)
        if row["member"] and trained[key] and (path is None or not path.is_file()
                                               or file_sha256(path) != trained[key]):
            changed.append(f"row {number} ({key})")
    if changed:
        raise ManifestError(manifest, message=f"{manifest}: {len(changed)} clips differ from "
                                              "the ones the organism trained on: "
                                              + ", ".join(changed[:5]))
    if not any(row["member"] for row in rows):
        raise ValueError(f"{manifest}: no row is in the organism's training set; is it the "
                         "manifest the organism was trained from?")
    return write_manifest(out, rows)


def organism_membership(manifest: str | Path, organism: str | Path, out: str | Path) -> Path:
    """:func:`membership_manifest` with the card of the organism in folder ``organism``."""
    card_path = Path(organism) / "card.json"
    if not card_path.is_file():
        raise FileNotFoundError(f"{card_path} not found: --organism names the folder "
                                "`telltale organism train --out` wrote")
    return membership_manifest(manifest, json.loads(card_path.read_text(encoding="utf-8")),
                               out)
