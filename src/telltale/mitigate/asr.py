"""Utility of defended speech: the word error rate (WER) of a real recogniser.

The recogniser is CMU PocketSphinx 5 with the US English acoustic model, language model
and dictionary its PyPI wheel ships, so it runs offline on CPU. (faster-whisper's
``tiny.en`` was the other candidate the issue names; its CTranslate2 weights are not on the
package index this project installs from, so PocketSphinx it is.) A small HMM recogniser is
less robust than the recognisers the VoicePrivacy Challenge uses, so its absolute WER on
synthetic voices is high; what the mitigation audit reads is the paired change against the
original audio, measured on the same clips by the same recogniser.

The recogniser's language model must not know the sentences it is tested on: a model built
from the tested clips' own transcripts is a closed-set oracle that favours exactly those
word sequences, halves the measured cost of a defence and changes with ``--limit``
(issue 24). So each clip is decoded with a trigram model of the *other* clips' transcripts
(:func:`heldout_lms`: two folds by sentence, each decoded with the model of the other
fold), and with the generic US English model beside it; both are named wherever a WER is
reported (:data:`HELDOUT_LM`, :data:`GENERIC_LM`).

The WER arithmetic is :mod:`telltale.wer`'s.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from telltale.media.audio import TARGET_RATE
from telltale.wer import words

_DECODERS: dict[str | None, Any] = {}


#: the language models a WER is reported with, by name
HELDOUT_LM = ("PocketSphinx, held-out task LM (trigram of the other fold's transcripts, 2 "
              "folds by sentence)")
GENERIC_LM = "PocketSphinx, generic en-us LM"
#: folds of the held-out task language model
LM_FOLDS = 2


def heldout_lms(texts: Mapping[str, str], folder: str | Path, folds: int = LM_FOLDS,
                seed: int = 0) -> dict[str, Path]:
    """For each clip id of ``texts`` (id -> transcript), a trigram model
    (:func:`write_task_lm`) of transcripts that are not its own: the distinct sentences
    are dealt to ``folds`` folds (seeded), so clips that read the same sentence share a
    fold, and a clip is decoded with the model of every other fold's sentences. The
    models are written to ``folder/asr_lm_fold{f}.arpa``.

    Raises
    ------
    ValueError
        Fewer distinct transcripts than folds: no model could leave a clip's own out.
    """
    sentences = sorted({" ".join(words(t)) for t in texts.values()} - {""})
    if len(sentences) < folds:
        raise ValueError(f"{len(sentences)} distinct transcripts: a language model that "
                         f"leaves each clip's own sentence out needs at least {folds}")
    order = np.random.default_rng(seed).permutation(len(sentences))
    fold_of = {sentences[j]: i % folds for i, j in enumerate(order)}
    paths = {}
    for f in range(folds):
        paths[f] = write_task_lm([t for t, g in fold_of.items() if g != f],
                                 Path(folder) / f"asr_lm_fold{f}.arpa")
    # a clip without words is decoded with the first fold's model (its WER has no words)
    return {i: paths[fold_of.get(" ".join(words(t)), 0)] for i, t in texts.items()}


def write_task_lm(transcripts: Iterable[str], path: str | Path) -> Path:
    """A trigram ARPA language model of ``transcripts`` (PocketSphinx's ``ArpaBoLM``, the
    fixed-discount back-off model of CMU's lmtool, Rudnicky), written to ``path``.

    The generic US English model leaves synthetic voices reading names and rare words at a
    WER near 1 even undefended (measured on the demo corpus: 0.98), where no defence can
    show a cost. A task model over the corpus's sentences, as small-vocabulary ASR
    evaluations use, lowers it; built from sentences other than the ones decoded
    (:func:`heldout_lms`) it knows the task's words and phrasing, not the answer. Words
    missing from the CMU dictionary still cannot be recognised.
    """
    from pocketsphinx.lm import ArpaBoLM

    # normalised here: ArpaBoLM's own normalisation strips the <s> and </s> markers
    text = "\n".join(" ".join(words(t)) for t in transcripts if words(t))
    if not text:
        raise ValueError("no transcript to build the recogniser's language model from")
    model = ArpaBoLM(text=text, add_start=True)
    model.compute()
    model.write_file(str(path))
    return Path(path)


def transcribe(audio: np.ndarray, lm: str | Path | None = None) -> str:
    """PocketSphinx's best hypothesis for a 16 kHz mono clip (empty when it hears nothing).

    ``lm`` is an ARPA language model (e.g. from :func:`write_task_lm`); None uses the
    generic US English model the wheel ships."""
    from pocketsphinx import Decoder

    key = str(lm) if lm is not None else None
    if key not in _DECODERS:
        options = {"lm": key} if key else {}
        _DECODERS[key] = Decoder(samprate=TARGET_RATE, loglevel="FATAL", **options)
    decoder = _DECODERS[key]
    pcm = (np.clip(np.asarray(audio, dtype=np.float32), -1.0, 1.0) * 32767).astype("<i2")
    decoder.start_utt()
    decoder.process_raw(pcm.tobytes(), full_utt=True)
    decoder.end_utt()
    hypothesis = decoder.hyp()
    return hypothesis.hypstr if hypothesis is not None else ""
