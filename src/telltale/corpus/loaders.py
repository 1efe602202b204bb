"""Loaders for the layouts of real speech corpora; each writes a telltale manifest.

- LibriSpeech: ``<root>/<split>/<speaker>/<chapter>/<spk>-<chap>-<utt>.flac`` with
  ``<spk>-<chap>.trans.txt``; speaker sex from ``<root>/SPEAKERS.TXT``.
- VCTK: ``wav48_silence_trimmed/pXXX/pXXX_YYY_mic1.flac`` (release 0.92) or
  ``wav48/pXXX/pXXX_YYY.wav`` (0.80), ``txt/pXXX/pXXX_YYY.txt`` and ``speaker-info.txt``
  (age, gender, accent, region).
- Common Voice: ``<lang>/<split>.tsv`` (client_id, path, sentence, up_votes, down_votes,
  age, gender, accents) with the clips in ``<lang>/clips/``.
- Generic CSV: any table, with a mapping from its columns to manifest columns.

Membership for the membership audit is set from split names with shell patterns: e.g.
``member_splits=["train-*"], nonmember_splits=["test-*"]`` for LibriSpeech; a split
matching neither leaves ``member`` empty. ``dataset`` becomes ``<corpus>/<split>``.
Transcript lines or table rows whose audio file is missing are left out with a warning.
"""

from __future__ import annotations

import csv
import fnmatch
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from telltale.console import log
from telltale.manifest import write_manifest

GENDERS = {"m": "male", "f": "female", "male": "male", "female": "female",
           "male_masculine": "male", "female_feminine": "female"}
# Common Voice age buckets -> decade bins; "fourties" is the spelling older releases use
CV_AGES = {"teens": "10-20", "twenties": "20-30", "thirties": "30-40", "fourties": "40-50",
           "forties": "40-50", "fifties": "50-60", "sixties": "60-70", "seventies": "70-80",
           "eighties": "80-90", "nineties": "90-100"}
CV_SPLITS = ("validated", "train", "dev", "test", "other", "invalidated")


class CorpusLayoutError(ValueError):
    """The folder or table does not have the corpus's layout; the message says what is
    missing and where."""


def membership(split: str, member_splits: Iterable[str] = (),
               nonmember_splits: Iterable[str] = ()) -> int | None:
    """1 if ``split`` matches a member pattern, 0 if a non-member pattern, else None.

    Parameters
    ----------
    split : str
        A split (or speaker) name, e.g. ``"train-clean-100"``.
    member_splits, nonmember_splits : iterable of str
        Shell patterns (``fnmatch``), e.g. ``["train-*"]``.

    Raises
    ------
    ValueError
        If ``split`` matches both.
    """
    member = any(fnmatch.fnmatch(split, pat) for pat in member_splits)
    nonmember = any(fnmatch.fnmatch(split, pat) for pat in nonmember_splits)
    if member and nonmember:
        raise ValueError(f"split {split!r} matches both the member and non-member patterns")
    return 1 if member else 0 if nonmember else None


def _gender(value: str) -> str:
    """Normalised gender: male/female; other non-empty answers kept as given, lower case;
    an undisclosed one as ''."""
    value = value.strip().lower()
    if value in ("", "do_not_wish_to_say", "n/a"):
        return ""
    return GENDERS.get(value, value)


def _decade(age: str) -> str:
    """'23' -> '20-30'; '' for anything that is not a whole number."""
    if not age.strip().isdigit():
        return ""
    low = int(age) // 10 * 10
    return f"{low}-{low + 10}"


def _finish(rows: list[dict[str, Any]], out: str | Path, where: str, missing: int) -> Path:
    if missing:
        log.warning("%s: %d utterance(s) left out because their audio file is missing",
                    where, missing)
    if not rows:
        raise CorpusLayoutError(f"no utterances with audio found in {where}")
    return write_manifest(out, rows)


def read_librispeech_speakers(path: str | Path) -> dict[str, dict[str, str]]:
    """Parse LibriSpeech's ``SPEAKERS.TXT``.

    Lines are ``ID | SEX | SUBSET | MINUTES | NAME`` with ``;`` comment lines; a name may
    itself contain ``|``.

    Returns
    -------
    dict
        speaker id -> ``{"gender": "male"|"female", "subset": ..., "name": ...}``.
    """
    speakers: dict[str, dict[str, str]] = {}
    for line in Path(path).read_text(encoding="utf-8", errors="replace").splitlines():
        if line.lstrip().startswith(";") or line.count("|") < 2:
            continue
        fields = [f.strip() for f in line.split("|")]
        speakers[fields[0]] = {"gender": _gender(fields[1]), "subset": fields[2],
                               "name": "|".join(fields[4:]).strip()}
    return speakers


def load_librispeech(root: str | Path, out: str | Path, member_splits: Iterable[str] = (),
                     nonmember_splits: Iterable[str] = (), lowercase: bool = True) -> Path:
    """Write a manifest for a LibriSpeech tree.

    Parameters
    ----------
    root : str or Path
        The ``LibriSpeech`` folder (holding ``SPEAKERS.TXT`` and split folders), or one
        split folder inside it (e.g. ``LibriSpeech/test-clean``).
    out : str or Path
        Manifest to write (.csv, .jsonl or .parquet).
    member_splits, nonmember_splits : iterable of str
        Split patterns for ``member``, e.g. ``["train-*"]`` and ``["test-*"]``.
    lowercase : bool
        Lower-case the (all upper-case) transcripts.

    Returns
    -------
    Path
        The manifest; columns id, audio, text, dataset (``librispeech/<split>``), member,
        speaker, chapter, gender.

    Raises
    ------
    CorpusLayoutError
        No ``SPEAKERS.TXT``, or no transcript with audio.
    """
    root = Path(root)
    if (root / "SPEAKERS.TXT").is_file():
        speakers_file, trans_files = root / "SPEAKERS.TXT", root.glob("*/*/*/*.trans.txt")
    elif (root.parent / "SPEAKERS.TXT").is_file():
        speakers_file, trans_files = root.parent / "SPEAKERS.TXT", root.glob("*/*/*.trans.txt")
    else:
        raise CorpusLayoutError(f"{root}: SPEAKERS.TXT not found here or one level up "
                                "(is this a LibriSpeech root or split folder?)")
    speakers = read_librispeech_speakers(speakers_file)
    rows, missing = [], 0
    for trans in sorted(trans_files):
        split = trans.parts[-4]
        for number, line in enumerate(trans.read_text(encoding="utf-8").splitlines(), 1):
            if not line.strip():
                continue
            utt, _, text = line.strip().partition(" ")
            if utt.count("-") != 2 or not text:
                raise CorpusLayoutError(f"{trans}: line {number} is not '<spk>-<chap>-<utt> "
                                        f"TRANSCRIPT': {line[:80]!r}")
            audio = trans.parent / f"{utt}.flac"
            if not audio.is_file():
                missing += 1
                continue
            speaker, chapter, _ = utt.split("-")
            rows.append({"id": utt, "audio": str(audio.resolve()),
                         "text": text.strip().lower() if lowercase else text.strip(),
                         "dataset": f"librispeech/{split}",
                         "member": membership(split, member_splits, nonmember_splits),
                         "speaker": speaker, "chapter": chapter,
                         "gender": speakers.get(speaker, {}).get("gender", "")})
    return _finish(rows, out, f"{root} (<split>/<speaker>/<chapter>/*.trans.txt)", missing)


def read_vctk_speakers(path: str | Path) -> dict[str, dict[str, str]]:
    """Parse VCTK's ``speaker-info.txt``.

    Whitespace-separated columns ``ID AGE GENDER ACCENTS REGION [COMMENTS]``; the region
    may contain spaces, comments are in parentheses, and release 0.80 writes ids without
    the ``p``.

    Returns
    -------
    dict
        speaker id (``"p225"``) -> ``{"age", "gender", "accent", "region"}``, with age
        in years as written.
    """
    info: dict[str, dict[str, str]] = {}
    lines = Path(path).read_text(encoding="utf-8", errors="replace").splitlines()
    for line in lines:
        fields = re.sub(r"\(.*?\)", " ", line).split()
        if len(fields) < 4 or not fields[1].isdigit():
            continue  # the header, blank lines
        speaker = fields[0] if fields[0][0].isalpha() else f"p{fields[0]}"
        info[speaker] = {"age": fields[1], "gender": _gender(fields[2]),
                         "accent": fields[3].lower(), "region": " ".join(fields[4:]).lower()}
    return info


def load_vctk(root: str | Path, out: str | Path, mic: str = "mic1",
              member_speakers: Iterable[str] = (),
              nonmember_speakers: Iterable[str] = ()) -> Path:
    """Write a manifest for a VCTK tree (release 0.92 or 0.80).

    Parameters
    ----------
    root : str or Path
        The folder holding ``speaker-info.txt``, ``txt/`` and ``wav48_silence_trimmed/``
        or ``wav48/``.
    out : str or Path
        Manifest to write.
    mic : str
        Preferred microphone in 0.92 (``"mic1"`` or ``"mic2"``); the other is used when
        an utterance lacks it, so each utterance appears once.
    member_speakers, nonmember_speakers : iterable of str
        VCTK has no splits: speaker-id patterns (e.g. ``["p2*"]``) set ``member``.

    Returns
    -------
    Path
        The manifest; columns id, audio, text, dataset (``vctk``), member, speaker,
        gender, age (decade bin ``"20-30"``), age_years, accent, region.

    Raises
    ------
    CorpusLayoutError
        No ``speaker-info.txt``, no audio folder, or no utterance with a transcript.
    """
    root = Path(root)
    if not (root / "speaker-info.txt").is_file():
        raise CorpusLayoutError(f"{root}: speaker-info.txt not found (is this a VCTK root?)")
    info = read_vctk_speakers(root / "speaker-info.txt")
    audio_dirs = [d for d in (root / "wav48_silence_trimmed", root / "wav48") if d.is_dir()]
    if not audio_dirs:
        raise CorpusLayoutError(f"{root}: neither wav48_silence_trimmed/ nor wav48/ found")
    best: dict[tuple[str, str], tuple[int, Path]] = {}
    for audio in sorted(p for d in audio_dirs for p in d.glob("*/*")
                        if p.suffix in (".flac", ".wav")):
        match = re.fullmatch(r"([ps]\d+)_(\d+)(?:_(mic\d))?", audio.stem)
        if not match:
            continue
        rank = 0 if match.group(3) in (None, mic) else 1
        key = (match.group(1), match.group(2))
        if key not in best or rank < best[key][0]:
            best[key] = (rank, audio)
    rows, missing = [], 0
    for (speaker, utt), (_, audio) in sorted(best.items()):
        text_file = root / "txt" / speaker / f"{speaker}_{utt}.txt"
        if not text_file.is_file():
            missing += 1  # VCTK 0.92 has audio without transcripts (e.g. p315's)
            continue
        meta = info.get(speaker, {})
        rows.append({"id": f"{speaker}_{utt}", "audio": str(audio.resolve()),
                     "text": text_file.read_text(encoding="utf-8").strip(), "dataset": "vctk",
                     "member": membership(speaker, member_speakers, nonmember_speakers),
                     "speaker": speaker, "gender": meta.get("gender", ""),
                     "age": _decade(meta.get("age", "")), "age_years": meta.get("age", ""),
                     "accent": meta.get("accent", ""), "region": meta.get("region", "")})
    if missing:
        log.warning("%s: %d clip(s) without a transcript in txt/ left out", root, missing)
    return _finish(rows, out, f"{root} (wav48*/<speaker>/ with txt/<speaker>/)", 0)


def load_commonvoice(root: str | Path, out: str | Path, splits: Iterable[str] = ("validated",),
                     member_splits: Iterable[str] = (),
                     nonmember_splits: Iterable[str] = ()) -> Path:
    """Write a manifest for one Common Voice language folder.

    Parameters
    ----------
    root : str or Path
        The language folder (e.g. ``cv-corpus-17.0/en``) holding the split TSVs and
        ``clips/``.
    out : str or Path
        Manifest to write.
    splits : iterable of str
        TSV names to read, e.g. ``["train", "test"]``. A clip listed in several (every
        ``train`` clip is also in ``validated``) appears once, with the first split that
        decides its membership, else the first split.
    member_splits, nonmember_splits : iterable of str
        Split patterns for ``member``.

    Returns
    -------
    Path
        The manifest; columns id, audio, text, dataset (``commonvoice/<split>``), member,
        speaker (client_id), gender (``male_masculine`` -> ``male``...), age (decade bin,
        ``"twenties"`` -> ``"20-30"``), accent (as written, lower case), up_votes,
        down_votes.

    Raises
    ------
    CorpusLayoutError
        A split TSV missing or without the Common Voice columns, or no clip found.
    """
    root = Path(root)
    rows: dict[str, dict[str, Any]] = {}
    missing = 0
    for split in splits:
        tsv = root / f"{split}.tsv"
        if not tsv.is_file():
            present = sorted(p.stem for p in root.glob("*.tsv"))
            raise CorpusLayoutError(f"{root}: {split}.tsv not found (TSVs here: "
                                    f"{', '.join(present) or 'none'}; is this a Common "
                                    "Voice language folder?)")
        member = membership(split, member_splits, nonmember_splits)
        with open(tsv, newline="", encoding="utf-8") as fh:
            # sentences contain quotes that are not CSV quoting
            reader = csv.DictReader(fh, delimiter="\t", quoting=csv.QUOTE_NONE)
            lacking = {"client_id", "path", "sentence"} - set(reader.fieldnames or ())
            if lacking:
                raise CorpusLayoutError(f"{tsv}: column(s) {', '.join(sorted(lacking))} not "
                                        "found in the header")
            for row in reader:
                clip_id = Path(row["path"]).stem
                if clip_id in rows:
                    if rows[clip_id]["member"] is None and member is not None:
                        rows[clip_id].update(member=member, dataset=f"commonvoice/{split}")
                    continue
                audio = root / "clips" / row["path"]
                if not audio.is_file():
                    missing += 1
                    continue
                rows[clip_id] = {
                    "id": clip_id, "audio": str(audio.resolve()),
                    "text": row["sentence"].strip(), "dataset": f"commonvoice/{split}",
                    "member": member, "speaker": row["client_id"],
                    "gender": _gender(row.get("gender") or ""),
                    "age": CV_AGES.get((row.get("age") or "").strip().lower(), ""),
                    "accent": (row.get("accents") or row.get("accent") or "").strip().lower(),
                    "up_votes": row.get("up_votes", ""), "down_votes": row.get("down_votes", "")}
    return _finish(list(rows.values()), out, f"{root} (<split>.tsv with clips/)", missing)


def load_csv(path: str | Path, out: str | Path, mapping: Mapping[str, str],
             delimiter: str = ",", split_column: str | None = None,
             member_splits: Iterable[str] = (), nonmember_splits: Iterable[str] = ()) -> Path:
    """Write a manifest from any table whose columns have other names.

    Parameters
    ----------
    path : str or Path
        The table (CSV, or TSV with ``delimiter="\\t"``).
    out : str or Path
        Manifest to write.
    mapping : mapping of str to str
        Manifest column -> table column, e.g. ``{"id": "utt", "audio": "file"}``. Must
        include ``id`` and one of ``audio``/``image``. Media paths are taken relative to
        the table's folder.
    delimiter : str
        Field separator.
    split_column : str, optional
        A table column holding a split name; with the patterns it sets ``member`` (unless
        ``member`` is mapped) and ``dataset`` (unless mapped) to ``<table name>/<split>``.
    member_splits, nonmember_splits : iterable of str
        Split patterns for ``member``.

    Returns
    -------
    Path
        The manifest.

    Raises
    ------
    CorpusLayoutError
        An empty table, a mapped column that is not in it, or a mapping without ``id`` or
        media.
    """
    path = Path(path)
    if not path.is_file():
        raise CorpusLayoutError(f"{path}: table not found")
    if "id" not in mapping or not {"audio", "image"} & set(mapping):
        raise CorpusLayoutError(f"{path}: the mapping must give 'id' and 'audio' or 'image' "
                                f"(got {', '.join(mapping) or 'nothing'})")
    with open(path, newline="", encoding="utf-8-sig") as fh:
        reader = csv.DictReader(fh, delimiter=delimiter)
        table = list(reader)
        header = list(reader.fieldnames or ())
    if not table:
        raise CorpusLayoutError(f"{path}: the table has no rows")
    wanted = [*mapping.values(), *([split_column] if split_column else [])]
    lacking = [col for col in wanted if col not in header]
    if lacking:
        raise CorpusLayoutError(f"{path}: column(s) {', '.join(lacking)} not found "
                                f"(found: {', '.join(header)})")
    rows, missing = [], 0
    for row in table:
        out_row: dict[str, Any] = {dest: (row[src] or "").strip() for dest, src in mapping.items()}
        if split_column:
            split = (row[split_column] or "").strip()
            out_row.setdefault("dataset", f"{path.stem}/{split}")
            out_row.setdefault("member", membership(split, member_splits, nonmember_splits))
        media_column = "audio" if "audio" in out_row else "image"
        media = Path(out_row[media_column])
        media = media if media.is_absolute() else path.parent / media
        if not out_row[media_column] or not media.is_file():
            missing += 1
            continue
        out_row[media_column] = str(media.resolve())
        rows.append(out_row)
    return _finish(rows, out, str(path), missing)
