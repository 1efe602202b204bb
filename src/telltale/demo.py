"""``telltale demo``: every audio audit, end to end, on data and a model telltale makes.

1. a labelled speech corpus from the offline TTS engines;
2. the calibration organism trained on half of it (planted refusal policy, recorded
   training set);
3. the membership audit (blind baselines, indicator attack, silence and noise controls);
4. the attribute audit with the organism's held-out question phrasings, direct and under
   a privacy (defense) system prompt, with the silence control;
5. an index page comparing what the audits measured with what was planted.

Finished steps are reused when the command is run again with the same ``--out``.
"""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Any

from telltale.console import log
from telltale.corpus.members import membership_manifest
from telltale.findings import Verdict
from telltale.membership.blind import chance_control
from telltale.report import STYLE, verdict_boxes
from telltale.tables import format_cell, format_estimate

# large: four times the clips, where a random split keeps every blind AUC near 0.5 (at 240
# about half the splits have a family beyond 0.5 +- 0.07), with the organism wide enough
# to memorise 480 members
SIZES = {"demo": {"clips": 240, "organism": "demo"},
         "small": {"clips": 32, "organism": "tiny"},
         "large": {"clips": 960, "organism": "large"}}


def _card_value(value: Any) -> str:
    """One card field as HTML: a nested table for a mapping, a folded table for a list of
    records (the training sets run to thousands of rows), the text otherwise."""
    if isinstance(value, dict):
        return "<table>" + "".join(f"<tr><th>{html.escape(str(k))}</th><td>{_card_value(v)}"
                                   "</td></tr>" for k, v in value.items()) + "</table>"
    if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
        columns = list(value[0])
        head = "".join(f"<th>{html.escape(str(c))}</th>" for c in columns)
        body = "".join("<tr>" + "".join(f"<td>{html.escape(str(row.get(c, '')))}</td>"
                                        for c in columns) + "</tr>" for row in value)
        return (f"<details><summary>{len(value)} rows</summary><table><tr>{head}</tr>{body}"
                "</table></details>")
    if isinstance(value, list):
        text = ", ".join(map(str, value))
        return (html.escape(text) if len(text) < 200 else
                f"<details><summary>{len(value)} items</summary>{html.escape(text)}</details>")
    return html.escape(format_cell(value))


def card_page(card: dict[str, Any]) -> str:
    """The organism card (``card.json``) as a readable page."""
    return ("<!doctype html><html lang='en'><head><meta charset='utf-8'><title>organism card"
            "</title><style>body{font-family:system-ui,sans-serif;max-width:1000px;margin:2em "
            "auto}td,th{border:1px solid #ccd;padding:.2em .5em;text-align:left;"
            "vertical-align:top}table{border-collapse:collapse}</style></head><body>"
            f"<h1>organism card</h1>{_card_value(card)}"
            "<p><a href='card.json'>card.json</a></p></body></html>")


def _index(out: Path, card: dict[str, Any]) -> Path:
    membership = json.loads((out / "membership" / "results.json").read_text())
    attributes = json.loads((out / "attributes" / "results.json").read_text())
    figures = card["figures"]
    planted = card["policy"]["planted_rates"]
    gender = attributes["metrics"]["gender"]
    rows = [
        ("organism training time (s)", figures["train_seconds"],
         "≤ 180" if card.get("size") == "demo" else f"{card.get('size')} organism"),
        ("CER on training clips / held-out clips",
         f"{format_cell(figures['cer_train'])} / {format_cell(figures['cer_heldout'])}",
         "train ≪ held-out"),
        ("MIA AUC (aggregated)", format_estimate(membership["attack"]["aggregated"]["auc"]),
         "signal expected: the organism memorised its members"),
    ]
    rows += [(f"blind AUC ({family})", format_estimate(membership["blind"][family]["auc"]),
              "random split, " + chance_control(membership["blind"][family]))
             for family in ("metadata", "text", "acoustic", "combined")
             if "auc" in membership["blind"].get(family, {})]
    expected = {"silence": "≈ 0.5: no voice, no memory", "noise": "≈ 0.5: no voice, no memory",
                "tts": "≈ 0.5 if memory binds voice and words (Lee et al., 2026)"}
    for condition, values in membership["disentanglement"].items():
        if condition == "original":
            continue
        if values.get("realisations", 1) > 1:  # mean and SD over the resynthesised voices
            rows.append((f"MIA AUC under {condition} ({values['realisations']} voices)",
                         format_estimate({"value": values["auc_mean"], "sd": values["auc_sd"]}),
                         expected.get(condition, "")))
        else:
            rows.append((f"MIA AUC under {condition}", format_estimate(values["auc"]),
                         expected.get(condition, "")))
    direct = gender["direct"]
    rows += [
        # over answered replies: refusals are the same on audio and on silence, so they
        # would only dilute both accuracies alike
        ("gender accuracy, answered replies (direct prompt)",
         format_estimate(direct["original"]["accuracy_answered"]),
         f"majority {format_cell(direct['original']['majority_baseline'])}"),
        ("gender accuracy on silence, answered replies (direct prompt)",
         format_estimate(direct["silence"]["accuracy_answered"]),
         f"chance {format_cell(direct['silence']['chance'])}"),
        ("gender refusal rate (direct prompt)", format_estimate(direct["original"]["refusal_rate"]),
         f"planted {format_cell(planted['no_system'])}"),
        ("gender refusal rate (defense prompt)",
         format_estimate(gender["defense"]["original"]["refusal_rate"]),
         f"planted {format_cell(planted['privacy_system'])}"),
    ]
    body = "".join(f"<tr><td>{html.escape(a)}</td><td class='v'>{html.escape(str(b))}</td>"
                   f"<td>{html.escape(c)}</td></tr>" for a, b, c in rows)
    audits = "".join(_audit_section(out, name, title) for name, title in (
        ("membership", "Membership (was this clip trained on?)"),
        ("attributes", "Attributes (what does the voice give away, and does it refuse?)")))
    page = (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width, initial-scale=1'>"
        f"<title>telltale demo</title><style>{STYLE}</style></head><body>"
        "<h1>telltale demo</h1><p>Audits of the calibration organism, measured against what "
        "was planted in it (<a href='organism/card.html'>organism card</a>).</p>"
        "<h2>Measured against the truth</h2><div class='wrap'><table><tr><th>figure</th>"
        f"<th>measured [95% CI]</th><th>truth / control</th></tr>{body}</table></div>"
        f"{audits}</body></html>")
    (out / "organism" / "card.html").write_text(card_page(card), encoding="utf-8")
    (out / "index.html").write_text(page, encoding="utf-8")
    print("\n".join(f"{a:<52} {b!s:<24} {c}" for a, b, c in rows))
    return out / "index.html"


def _audit_section(out: Path, name: str, title: str) -> str:
    """One audit on the index: its verdicts as its report shows them, and its pages."""
    results = json.loads((out / name / "results.json").read_text())
    boxes = verdict_boxes([Verdict.from_dict(v) for v in results.get("verdicts", [])])
    return (f"<h2>{html.escape(title)}</h2>" + "".join(boxes)
            + f"<p><a href='{name}/report.html'>{name} report</a> (every figure, table and "
            f"verdict) · <a href='{name}/samples.html'>{name} sample browser</a> (every "
            "probe with its truth, the media the model heard, its reply and outcome)</p>")


def run_demo(out: Path, size: str = "demo", seed: int = 0) -> int:
    """Every step of the demo into ``out`` (finished steps are reused); the exit status."""
    from telltale.attributes.audit import AttributesAudit, AttributesConfig
    from telltale.config import RunOptions
    from telltale.corpus.speech import build_speech_corpus
    from telltale.membership.audit import MembershipAudit, MembershipConfig
    from telltale.organism.train import train_organism
    from telltale.rundir import RunDir
    from telltale.runner import print_summary, run_audit

    plan = SIZES[size]
    out.mkdir(parents=True, exist_ok=True)
    corpus = out / "corpus"
    if not (corpus / "manifest.csv").exists():
        log.info("step 1/4: synthesising %d clips", plan["clips"])
        build_speech_corpus(corpus, plan["clips"], seed=seed)
    organism = out / "organism"
    if not (organism / "card.json").exists():
        log.info("step 2/4: training the calibration organism (%s)", plan["organism"])
        train_organism(corpus / "manifest.csv", organism, size=plan["organism"], seed=seed)
    card = json.loads((organism / "card.json").read_text())
    manifest = membership_manifest(corpus / "manifest.csv", card, corpus / "membership.csv")

    def options(name: str) -> RunOptions:
        return RunOptions(out=out / name, model=f"organism:{organism}", batch_size=32,
                          cache=out / "cache.sqlite")

    log.info("step 3/4: membership audit")
    audit = MembershipAudit(MembershipConfig(
        data=manifest, seed=seed, conditions=("original", "silence", "noise", "tts"),
        max_new_tokens=48))
    outcome = run_audit(audit, options("membership"))
    print_summary(outcome, RunDir(out / "membership"))
    if outcome.status:
        return outcome.status
    log.info("step 4/4: attribute audit (the organism's held-out question phrasings)")
    audit = AttributesAudit(AttributesConfig(
        data=manifest, seed=seed, attributes=("gender", "accent"), modes=("direct", "defense"),
        max_new_tokens=24))
    outcome = run_audit(audit, options("attributes"))
    print_summary(outcome, RunDir(out / "attributes"))
    if outcome.status:
        return outcome.status
    print(f"\ndemo index: {_index(out, card)}")
    return 0


def register(subparsers) -> None:
    from telltale.arguments import add_command

    parser = add_command(
        subparsers, "demo", help="train the calibration organism and run every audio audit on it")
    parser.add_argument("--out", type=Path, default=Path("demo-run"))
    parser.add_argument("--size", choices=tuple(SIZES), default="demo",
                        help="demo (about 4 minutes on 2 cores), small (seconds, for tests) or "
                             "large (960 clips, about 15 minutes)")
    parser.add_argument("--seed", type=int, default=0)
    parser.set_defaults(func=lambda args: run_demo(args.out, args.size, args.seed))
