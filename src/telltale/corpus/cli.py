"""``telltale corpus ...``: build or import data sets as telltale manifests.

- ``telltale corpus speech --out DIR --clips N``: synthetic labelled speech (offline TTS).
- ``telltale corpus librispeech|vctk|commonvoice ROOT --out MANIFEST``: real corpus layouts.
- ``telltale corpus csv TABLE --out MANIFEST --map id=utt,audio=file,...``: any table.
- ``telltale corpus forms --out DIR``: synthetic PII form images (:mod:`telltale.corpus.forms`).
- ``telltale corpus membership MANIFEST --organism DIR --out MANIFEST``: the member column
  from a calibration organism's card (:mod:`telltale.corpus.members`).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from telltale.arguments import add_command, split_list


def run_speech(args: argparse.Namespace) -> int:
    """Build the TTS speech corpus; prints the manifest path."""
    from telltale.console import log
    from telltale.corpus.speech import build_speech_corpus
    from telltale.corpus.tts import TTSError

    try:
        print(build_speech_corpus(args.out, args.clips, seed=args.seed,
                                  engines=tuple(split_list(args.engines)), jobs=args.jobs))
    except TTSError as exc:
        log.error("%s", exc)
        return 2
    return 0


def run_voices(args: argparse.Namespace) -> int:
    """List the installed TTS voices and their labels."""
    from telltale.console import log
    from telltale.corpus.tts import TTSError, available_voices

    try:
        voices = available_voices(tuple(split_list(args.engines)))
    except TTSError as exc:
        log.error("%s", exc)
        return 2
    for v in voices:
        pitch = "" if v.pitch_control else "  (fixed pitch)"
        print(f"{v.engine:10} {v.voice:24} {v.gender:7} {v.accent:10} {v.region}{pitch}")
    return 0 if voices else 1


def run_loader(args: argparse.Namespace) -> int:
    """Write a manifest for a real corpus layout or a table; prints its path."""
    from telltale.corpus import loaders

    members, nonmembers = split_list(args.members), split_list(args.nonmembers)
    if args.corpus == "librispeech":
        out = loaders.load_librispeech(args.root, args.out, members, nonmembers,
                                       lowercase=not args.keep_case)
    elif args.corpus == "vctk":
        out = loaders.load_vctk(args.root, args.out, mic=args.mic, member_speakers=members,
                                nonmember_speakers=nonmembers)
    elif args.corpus == "commonvoice":
        out = loaders.load_commonvoice(args.root, args.out, split_list(args.splits),
                                       members, nonmembers)
    else:
        pairs = split_list(args.map)
        bad = [p for p in pairs if "=" not in p]
        if bad or not pairs:
            raise SystemExit(f"--map takes manifest=table column pairs, e.g. "
                             f"id=utt,audio=file,text=words (got {args.map!r})")
        mapping = dict(p.split("=", 1) for p in pairs)
        out = loaders.load_csv(args.root, args.out, mapping,
                               delimiter="\t" if args.tsv else ",",
                               split_column=args.split_column, member_splits=members,
                               nonmember_splits=nonmembers)
    print(out)
    return 0


def run_forms(args: argparse.Namespace) -> int:
    """Render the synthetic PII form corpus; prints the manifest path."""
    from telltale.corpus.forms import build_forms_corpus

    print(build_forms_corpus(args.out, n_per_scenario=args.forms, seed=args.seed,
                             variants=not args.no_variants))
    return 0


def run_membership(args: argparse.Namespace) -> int:
    """Write the member/non-member manifest of an organism; prints its path."""
    from telltale.corpus.members import organism_membership

    print(organism_membership(args.manifest, args.organism, args.out))
    return 0


def register(subparsers) -> None:
    """Add ``telltale corpus`` and its subcommands to ``subparsers``."""
    corpus = add_command(subparsers, "corpus", help="build or import data sets as manifests")
    sub = corpus.add_subparsers(dest="corpus", metavar="KIND", required=True)
    engines = "espeak-ng,flite,festival"

    speech = add_command(sub, "speech", help="synthesise a labelled speech corpus offline")
    speech.add_argument("--out", type=Path, required=True, help="output folder")
    speech.add_argument("--clips", type=int, default=200, help="number of clips")
    speech.add_argument("--seed", type=int, default=0)
    speech.add_argument("--engines", default=engines, help="comma list")
    speech.add_argument("--jobs", type=int, default=2, help="clips synthesised at once")
    speech.set_defaults(func=run_speech)

    voices = add_command(sub, "voices", help="list the installed TTS voices and their labels")
    voices.add_argument("--engines", default=engines)
    voices.set_defaults(func=run_voices)

    layouts = (("librispeech", "a LibriSpeech root (with SPEAKERS.TXT) or split folder",
                "split patterns, e.g. 'train-*'"),
               ("vctk", "a VCTK root (with speaker-info.txt)", "speaker patterns, e.g. 'p2*'"),
               ("commonvoice", "a Common Voice language folder (with <split>.tsv, clips/)",
                "split patterns, e.g. 'train'"),
               ("csv", "any CSV/TSV table, with --map", "values of --split-column"))
    for name, what, patterns in layouts:
        loader = add_command(sub, name, help=f"write a manifest for {what}")
        loader.add_argument("root", type=Path, help=what)
        loader.add_argument("--out", type=Path, required=True,
                            help="manifest to write (.csv, .jsonl or .parquet)")
        loader.add_argument("--members", default="", help=f"member=1 for these {patterns}")
        loader.add_argument("--nonmembers", default="", help=f"member=0 for these {patterns}")
        if name == "librispeech":
            loader.add_argument("--keep-case", action="store_true",
                                help="keep the upper-case transcripts")
        elif name == "vctk":
            loader.add_argument("--mic", default="mic1", choices=("mic1", "mic2"))
        elif name == "commonvoice":
            loader.add_argument("--splits", default="validated",
                                help="TSVs to read, comma list")
        else:
            loader.add_argument("--map", required=True,
                                help="manifest=table columns, e.g. id=utt,audio=file,text=words")
            loader.add_argument("--split-column", default=None,
                                help="table column naming each row's split")
            loader.add_argument("--tsv", action="store_true", help="tab-separated table")
        loader.set_defaults(func=run_loader)

    members = add_command(sub, "membership", help="the member/non-member manifest of a "
                          "calibration organism (its card's training set)")
    members.add_argument("manifest", type=Path, help="the manifest the organism was trained "
                                                     "from")
    members.add_argument("--organism", type=Path, required=True,
                         help="the organism's folder (telltale organism train --out)")
    members.add_argument("--out", type=Path, required=True,
                         help="manifest to write, with a member column (.csv, .jsonl or "
                              ".parquet)")
    members.set_defaults(func=run_membership)

    forms = add_command(sub, "forms", help="render synthetic PII form images")
    forms.add_argument("--out", type=Path, required=True, help="output folder")
    forms.add_argument("--forms", type=int, default=4, help="forms per scenario")
    forms.add_argument("--seed", type=int, default=0)
    forms.add_argument("--no-variants", action="store_true", help="clean renders only")
    forms.set_defaults(func=run_forms)
