"""``telltale retention``: PII memorised in LoRA fine-tuning, asked for by name."""

from __future__ import annotations

import argparse
from pathlib import Path

from telltale.options import add_command, add_model_options


def _run_retention(args: argparse.Namespace) -> int:
    from telltale.options import config_from_args, run_from_args
    from telltale.retention.audit import RetentionAudit, RetentionConfig

    return run_from_args(RetentionAudit(config_from_args(RetentionConfig, args)), args)


def register(subparsers) -> None:
    retention = add_command(
        subparsers, "retention", help="does a fine-tuned document assistant leak PII it memorised?",
        description="Inject a memory set of synthetic people into the assistant's language "
                    "model with LoRA (plain and contrastive objectives), then ask for each "
                    "memorised person's PII by name, with a form of somebody else attached, "
                    "on the base model and on each adapter. Supported models: "
                    "docassistant:<ocr engine> (its language model gets the LoRA) and hf:<dir> "
                    "Qwen2-VL or LLaVA checkpoints (their language model gets the LoRA, merged "
                    "into a full checkpoint per adapter). Adapters and records live in --out; "
                    "a rerun resumes.")
    # the fill-the-form framing writes a record before it reaches the asked value
    add_model_options(retention, max_new_tokens=64)
    group = retention.add_argument_group("retention")
    group.add_argument("--out", type=Path, required=True, help="run directory (resumable)")
    group.add_argument("--seed", type=int, default=0,
                       help="seeds the people, forms, LoRA initialisation and data order")
    group.add_argument("--max-failure-share", type=float, default=0.5,
                       help="exit non-zero when more than this share of probes failed")
    group.add_argument("--memory", type=int, default=20, help="people memorised in fine-tuning")
    group.add_argument("--control", type=int, default=8,
                       help="probe-set people never fine-tuned on, asked the same way")
    group.add_argument("--forms", type=int, default=2,
                       help="forms per scenario (hiring, verification, finance) to attach")
    group.add_argument("--variants", default="base,plain,contrastive",
                       help="models to probe: base, plain and/or contrastive adapters")
    group.add_argument("--framings", default="direct,fill_form",
                       help="retention framings (the templates' 'retention' section)")
    group.add_argument("--pii-types", default="email,phone,ssn",
                       help="any of email, phone, ssn, dob, address, gender")
    group.add_argument("--framing-file", type=Path, default=None,
                       help="JSON/TOML file of framings added to the built-in ones")
    group.add_argument("--utility", type=int, default=16,
                       help="utility check: general questions answered and reference answers "
                            "scored per variant (0: no utility check)")
    train = retention.add_argument_group("fine-tuning")
    train.add_argument("--epochs", type=int, default=5)
    train.add_argument("--lr", type=float, default=5e-3)
    train.add_argument("--lora-rank", type=int, default=16)
    train.add_argument("--lora-layers", type=int, default=8,
                       help="LoRA on the top N decoder layers (0: all)")
    train.add_argument("--phrasings", type=int, default=3,
                       help="question/answer phrasings per person and PII type")
    train.add_argument("--train-batch-size", type=int, default=8)
    train.add_argument("--ul-weight", type=float, default=1.0,
                       help="contrastive: weight of the unlikelihood term on PII tokens")
    train.add_argument("--pair-weight", type=float, default=1.0,
                       help="contrastive: weight of the redacted-vs-PII pairwise term")
    retention.set_defaults(func=_run_retention)
