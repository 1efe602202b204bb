"""``telltale mitigate``: the same audits on defended media, against the undefended original."""

from __future__ import annotations

import argparse

from telltale.options import (
    add_audio_options,
    add_command,
    add_model_options,
    add_run_options,
)


def _run(args: argparse.Namespace) -> int:
    """Voice defences run the voice mitigation audit, form defences the redaction audit."""
    from telltale.audit import ConfigError
    from telltale.mitigate.audit import MitigateAudit, MitigateConfig
    from telltale.mitigate.redaction_audit import FORM_DEFENCES, RedactionAudit, RedactionConfig
    from telltale.options import config_from_args, run_from_args, split_list

    if args.max_new_tokens is None:  # each audit's own default
        del args.max_new_tokens
    defences = split_list(args.defences)
    on_forms = [d for d in defences if d in FORM_DEFENCES]
    if on_forms and len(on_forms) < len(defences):
        raise ConfigError(f"--defences: {', '.join(on_forms)} defend form images and "
                          f"{', '.join(d for d in defences if d not in on_forms)} voices; "
                          "run them as two audits")
    if on_forms:
        config = config_from_args(RedactionConfig, args, photo_variants=not args.no_variants)
        return run_from_args(RedactionAudit(config), args)
    config = config_from_args(MitigateConfig, args, membership=not args.no_membership,
                              classical=not args.no_classical)
    return run_from_args(MitigateAudit(config), args)


def register(subparsers) -> None:
    parser = add_command(
        subparsers, "mitigate",
        help="does anonymising the voice stop the leak, and what does it cost? (attribute "
             "and membership audits, speaker verification EER and WER, per defence)")
    from telltale.attributes.cli import add_taxonomy_options
    from telltale.disclosure.cli import add_disclosure_options

    add_model_options(parser, max_new_tokens=None,
                      max_new_tokens_help="default: 48 for voices, 96 for forms")
    add_run_options(parser, data_required=False)
    parser.add_argument("--defences", default="mcadams,pitch,tts",
                        help="voices: mcadams (VoicePrivacy B2: alpha drawn per clip in "
                             "0.5-0.9), mcadams:ALPHA, pitch (+-4 semitones), "
                             "pitch:SEMITONES, tts (another TTS voice reads the transcript); "
                             "several strengths of one defence may be given. Form images: "
                             "redact (black boxes over the PII OCR finds), blur")
    parser.add_argument("--jobs", type=int, default=2,
                        help="processes for the defences, speaker embeddings, ASR and OCR "
                             "(0: every core)")
    voice = parser.add_argument_group("voice defences (--data: a manifest of clips)")
    add_audio_options(voice)
    voice.add_argument("--attributes", default="gender,accent",
                        help="attributes asked on every version ('' to skip)")
    voice.add_argument("--modes", default="direct", help="prompt modes of the attribute "
                                                         "questions")
    add_taxonomy_options(voice)
    voice.add_argument("--prompt", default="Transcribe the audio.",
                        help="the membership attack's transcription prompt")
    voice.add_argument("--folds", type=int, default=10,
                        help="folds of the out-of-fold membership classifier")
    voice.add_argument("--no-membership", action="store_true",
                        help="skip the membership attack (no member column needed)")
    voice.add_argument("--no-classical", action="store_true",
                        help="skip speaker verification (EER) and the recogniser's WER")
    add_disclosure_options(parser)
    parser.add_argument("--locator", default="rapidocr",
                        help="OCR engine the redactor finds the PII with (rapidocr, "
                             "tesseract)")
    parser.set_defaults(func=_run)
