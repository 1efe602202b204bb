"""Loaders for the layouts of real speech corpora; each writes a telltale manifest.

- LibriSpeech: ``<split>/<speaker>/<chapter>/<spk>-<chap>-<utt>.flac`` with
  ``<spk>-<chap>.trans.txt``; speaker sex from ``SPEAKERS.TXT``.
- VCTK: ``wav48_silence_trimmed/pXXX/pXXX_YYY_mic1.flac`` (or ``wav48/pXXX/pXXX_YYY.wav``),
  ``txt/pXXX/pXXX_YYY.txt`` and ``speaker-info.txt`` (age, gender, accent, region).
- Common Voice: ``<split>.tsv`` files (client_id, path, sentence, age, gender, accents) with
  the clips in ``clips/``.
- Generic CSV: any table, with a mapping from its columns to manifest columns.

``member_splits`` marks membership by split name (e.g. LibriSpeech ``train-*`` as members
and ``test-*`` as non-members); ``dataset`` becomes ``<corpus>/<split>``.
"""

from __future__ import annotations

import csv
import fnmatch
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from telltale.manifest import write_manifest

CV_AGES = {"teens": "10-20", "twenties": "20-30", "thirties": "30-40", "fourties": "40-50",
           "forties": "40-50", "fifties": "50-60", "sixties": "60-70", "seventies": "70-80",
           "eighties": "80-90", "nineties": "80-90"}
CV_GENDERS = {"male": "male", "male_masculine": "male", "female": "female",
              "female_feminine": "female"}


class CorpusLayoutError(ValueError):
    """The folder does not have the corpus's layout; the message says what is missing."""


def _membership(split: str, member_splits: Iterable[str], nonmember_splits: Iterable[str]):
    if any(fnmatch.fnmatch(split, pat) for pat in member_splits):
        return 1
    if any(fnmatch.fnmatch(split, pat) for pat in nonmember_splits):
        return 0
    return None


def _finish(rows: list[dict[str, Any]], out: Path, what: str) -> Path:
    if not rows:
        raise CorpusLayoutError(f"no utterances found in {what}")
    return write_manifest(out, rows)


def load_librispeech(root: str | Path, out: str | Path, member_splits: Iterable[str] = (),
                     nonmember_splits: Iterable[str] = ()) -> Path:
    root = Path(root)
    speakers_file = root / "SPEAKERS.TXT"
    if not speakers_file.is_file():
        raise CorpusLayoutError(f"{root}: SPEAKERS.TXT not found (is this a LibriSpeech root?)")
    sex: dict[str, str] = {}
    for line in speakers_file.read_text(encoding="utf-8", errors="replace").splitlines():
        if line.startswith(";") or "|" not in line:
            continue
        fields = [f.strip() for f in line.split("|")]
        sex[fields[0]] = {"M": "male", "F": "female"}.get(fields[1].upper(), "")
    rows = []
    for trans in sorted(root.glob("*/*/*/*.trans.txt")):
        split = trans.parts[-4]
        for line in trans.read_text(encoding="utf-8").splitlines():
            utt, _, text = line.partition(" ")
            audio = trans.parent / f"{utt}.flac"
            speaker = utt.split("-")[0]
            rows.append({"id": utt, "audio": str(audio.resolve()), "text": text.strip().lower(),
                         "dataset": f"librispeech/{split}", "speaker": speaker,
                         "gender": sex.get(speaker, ""),
                         "member": _membership(split, member_splits, nonmember_splits)})
    return _finish(rows, Path(out), f"{root} (*/<speaker>/<chapter>/*.trans.txt)")


def load_vctk(root: str | Path, out: str | Path) -> Path:
    root = Path(root)
    info_file = root / "speaker-info.txt"
    if not info_file.is_file():
        raise CorpusLayoutError(f"{root}: speaker-info.txt not found (is this a VCTK root?)")
    info: dict[str, dict[str, str]] = {}
    for line in info_file.read_text(encoding="utf-8", errors="replace").splitlines()[1:]:
        fields = line.split()
        if len(fields) < 4:
            continue
        speaker = fields[0] if fields[0].startswith("p") else f"p{fields[0]}"
        info[speaker] = {"age": fields[1], "gender": {"M": "male", "F": "female"}.get(
            fields[2].upper(), ""), "accent": fields[3].lower(),
            "region": " ".join(fields[4:]).strip("()")}
    audio_dirs = [d for d in (root / "wav48_silence_trimmed", root / "wav48") if d.is_dir()]
    if not audio_dirs:
        raise CorpusLayoutError(f"{root}: neither wav48_silence_trimmed/ nor wav48/ found")
    rows = []
    for audio in sorted(p for d in audio_dirs for p in d.glob("p*/*") if p.suffix in
                        (".flac", ".wav")):
        match = re.match(r"(p\d+)_(\d+)(?:_mic(\d))?$", audio.stem)
        if not match or match.group(3) == "2":  # keep one microphone per utterance
            continue
        speaker, utt = match.group(1), match.group(2)
        text_file = root / "txt" / speaker / f"{speaker}_{utt}.txt"
        if not text_file.is_file():
            continue
        meta = info.get(speaker, {})
        age = meta.get("age", "")
        rows.append({"id": f"{speaker}_{utt}", "audio": str(audio.resolve()),
                     "text": text_file.read_text(encoding="utf-8").strip(),
                     "dataset": "vctk", "speaker": speaker, "gender": meta.get("gender", ""),
                     "age": _decade(age), "age_years": age, "accent": meta.get("accent", ""),
                     "region": meta.get("region", "")})
    return _finish(rows, Path(out), f"{root} (wav48*/pXXX/ with txt/pXXX/)")


def _decade(age: str) -> str:
    if not age.isdigit():
        return ""
    low = int(age) // 10 * 10
    return f"{low}-{low + 10}"


def load_commonvoice(root: str | Path, out: str | Path, splits: Iterable[str] = ("validated",),
                     member_splits: Iterable[str] = (),
                     nonmember_splits: Iterable[str] = ()) -> Path:
    root = Path(root)
    rows = []
    seen: set[str] = set()
    for split in splits:
        tsv = root / f"{split}.tsv"
        if not tsv.is_file():
            raise CorpusLayoutError(f"{root}: {split}.tsv not found (is this a Common Voice "
                                    "language folder?)")
        with open(tsv, newline="", encoding="utf-8") as fh:
            for row in csv.DictReader(fh, delimiter="\t", quoting=csv.QUOTE_NONE):
                clip_id = Path(row["path"]).stem
                if clip_id in seen:
                    continue
                seen.add(clip_id)
                rows.append({"id": clip_id, "audio": str((root / "clips" / row["path"]).resolve()),
                             "text": row.get("sentence", "").strip(),
                             "dataset": f"commonvoice/{split}", "speaker": row.get("client_id", ""),
                             "gender": CV_GENDERS.get(row.get("gender", ""), ""),
                             "age": CV_AGES.get(row.get("age", ""), ""),
                             "accent": (row.get("accents") or row.get("accent") or "").lower(),
                             "member": _membership(split, member_splits, nonmember_splits)})
    return _finish(rows, Path(out), f"{root} (<split>.tsv)")


def load_csv(path: str | Path, out: str | Path, mapping: dict[str, str],
             delimiter: str = ",") -> Path:
    """A table with its own column names; ``mapping`` maps manifest column -> table column.
    Media paths are taken relative to the table's folder."""
    path = Path(path)
    with open(path, newline="", encoding="utf-8-sig") as fh:
        table = list(csv.DictReader(fh, delimiter=delimiter))
    if not table:
        raise CorpusLayoutError(f"{path}: the table has no rows")
    missing = [col for col in mapping.values() if col not in table[0]]
    if missing:
        raise CorpusLayoutError(f"{path}: column(s) {', '.join(missing)} not found "
                                f"(found: {', '.join(table[0])})")
    rows = []
    for row in table:
        out_row = {dest: row[src] for dest, src in mapping.items()}
        for media in ("audio", "image"):
            if out_row.get(media) and not Path(out_row[media]).is_absolute():
                out_row[media] = str((path.parent / out_row[media]).resolve())
        rows.append(out_row)
    return _finish(rows, Path(out), str(path))
