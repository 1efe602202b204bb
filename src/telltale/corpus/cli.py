"""``telltale corpus ...``: build or import data sets as telltale manifests."""

from __future__ import annotations

import argparse
from pathlib import Path


def _split_list(text: str) -> tuple[str, ...]:
    return tuple(s.strip() for s in text.split(",") if s.strip())


def run_speech(args: argparse.Namespace) -> int:
    from telltale.corpus.speech import build_speech_corpus

    print(build_speech_corpus(args.out, args.n, seed=args.seed,
                              engines=_split_list(args.engines), jobs=args.jobs))
    return 0


def run_loader(args: argparse.Namespace) -> int:
    from telltale.corpus import loaders

    members, nonmembers = _split_list(args.member_splits), _split_list(args.nonmember_splits)
    if args.corpus == "librispeech":
        out = loaders.load_librispeech(args.root, args.out, members, nonmembers)
    elif args.corpus == "vctk":
        out = loaders.load_vctk(args.root, args.out)
    elif args.corpus == "commonvoice":
        out = loaders.load_commonvoice(args.root, args.out, _split_list(args.splits), members,
                                       nonmembers)
    else:
        mapping = dict(pair.split("=", 1) for pair in _split_list(args.map))
        out = loaders.load_csv(args.root, args.out, mapping)
    print(out)
    return 0


def run_forms(args: argparse.Namespace) -> int:
    from telltale.disclosure.forms import build_forms_corpus

    print(build_forms_corpus(args.out, n_per_scenario=args.n, seed=args.seed,
                             variants=not args.no_variants))
    return 0


def register(subparsers) -> None:
    corpus = subparsers.add_parser("corpus", help="build or import data sets as manifests")
    sub = corpus.add_subparsers(dest="corpus", metavar="KIND", required=True)

    speech = sub.add_parser("speech", help="synthesise a labelled speech corpus offline")
    speech.add_argument("--out", type=Path, required=True)
    speech.add_argument("-n", type=int, default=200, help="number of clips")
    speech.add_argument("--seed", type=int, default=0)
    speech.add_argument("--engines", default="espeak-ng,flite,festival")
    speech.add_argument("--jobs", type=int, default=2)
    speech.set_defaults(func=run_speech)

    for name, help_text in (("librispeech", "a LibriSpeech root (with SPEAKERS.TXT)"),
                            ("vctk", "a VCTK root (with speaker-info.txt)"),
                            ("commonvoice", "a Common Voice language folder"),
                            ("csv", "any CSV table, with --map")):
        loader = sub.add_parser(name, help=f"write a manifest for {help_text}")
        loader.add_argument("root", type=Path)
        loader.add_argument("--out", type=Path, required=True, help="manifest to write")
        loader.add_argument("--member-splits", default="", help="e.g. 'train-*'")
        loader.add_argument("--nonmember-splits", default="", help="e.g. 'test-*'")
        loader.add_argument("--splits", default="validated", help="Common Voice TSVs to read")
        loader.add_argument("--map", default="", help="csv: id=utt,audio=path,text=transcript")
        loader.set_defaults(func=run_loader)

    forms = sub.add_parser("forms", help="render synthetic PII form images")
    forms.add_argument("--out", type=Path, required=True)
    forms.add_argument("-n", type=int, default=4, help="forms per scenario")
    forms.add_argument("--seed", type=int, default=0)
    forms.add_argument("--no-variants", action="store_true", help="clean renders only")
    forms.set_defaults(func=run_forms)
