"""Small real runs for the page tests: the attribute and membership audits through the real
runner, scorer, metrics and report on a dozen synthetic clips, with a scripted model in
place of the target (no weights; replies that vary by clip and question so that every
outcome occurs), and a disclosure run whose replies are scored by the real PII scorer.
The demo-based tests (tests/e2e) and the slow suite look at runs of real models."""

from __future__ import annotations

import zlib
from pathlib import Path

import numpy as np
import soundfile as sf

from telltale.models.base import STAT_NAMES, BaseModel, Generation, TokenStats

#: replies an attribute question may get: answers, a refusal, an unparsed reply
REPLIES = ("The speaker sounds female.", "This is a man speaking.",
           "I'd rather not guess that.", "Hmm, hard to tell from this.", "british accent")


class ScriptedModel(BaseModel):
    """Replies chosen by a hash of the request; transcriptions with statistics that are
    more confident on members' clips (their audio is louder), so an attack has a signal."""

    name = "scripted"
    fingerprint = "scripted-pages"
    capabilities = frozenset({"generate", "score", "audio", "batch", "stats_on_generate"})

    def _stats(self, text: str, request) -> TokenStats:
        tokens = text.split() or [""]
        level = float(np.abs(request.audio).max()) if request.audio is not None else 0.0
        rng = np.random.default_rng(zlib.crc32(text.encode()))
        return TokenStats(tokens, {n: rng.normal(-2.0 + 4 * level, 0.3, len(tokens))
                                   for n in STAT_NAMES})

    def generate(self, requests, decoding=None, with_stats=False):
        out = []
        for request in requests:
            pick = zlib.crc32(f"{request.text}|{request.media_sha256()}".encode())
            if "transcribe" in request.text.lower():
                text = "the quick brown fox jumps"
            else:
                text = REPLIES[pick % len(REPLIES)]
            out.append(Generation(text, self._stats(text, request) if with_stats else None))
        return out

    def score(self, requests, continuations):
        return [self._stats(c, r) for r, c in zip(requests, continuations, strict=True)]


def clips(folder: Path, n: int = 24) -> Path:
    """A manifest of ``n`` clips, half members (louder), two voices per gender."""
    folder.mkdir(parents=True, exist_ok=True)
    rows = ["id,audio,text,member,speaker,gender,accent,dataset"]
    for i in range(n):
        t = np.arange(int(0.6 * 16000)) / 16000
        amplitude = 0.45 if i % 2 else 0.15
        wave = amplitude * np.sin(2 * np.pi * (130 + 20 * i) * t)
        sf.write(folder / f"c{i:02d}.wav", wave.astype("float32"), 16000)
        rows.append(f"c{i:02d},c{i:02d}.wav,the quick brown fox {i},{i % 2},s{i % 4},"
                    f"{'male' if i % 4 < 2 else 'female'},{'british' if i % 3 else 'american'},"
                    "set")
    (folder / "clips.csv").write_text("\n".join(rows) + "\n")
    return folder / "clips.csv"


def build(folder: Path) -> dict[str, Path]:
    """An attribute run (96 records: two pages of the browser) and a membership run (with
    silence and noise, scored by the indicator attack) in ``folder``; name -> run folder."""
    import telltale.runner as runner
    from telltale.attributes.audit import AttributesAudit, AttributesConfig
    from telltale.config import RunOptions
    from telltale.membership.audit import MembershipAudit, MembershipConfig

    data = clips(folder / "data")
    audits = {
        "attributes": AttributesAudit(AttributesConfig(
            data=data, limit=12, attributes=("gender", "accent"), modes=("direct", "defense"),
            max_new_tokens=8)),
        "membership": MembershipAudit(MembershipConfig(
            data=data, folds=2, permutations=0, conditions=("original", "silence", "noise"),
            baselines=False,
            max_new_tokens=8)),
    }
    real_open = runner.open_model
    runner.open_model = lambda options, spec=None, **backend: ScriptedModel()
    try:
        for name, audit in audits.items():
            outcome = runner.run_audit(audit, RunOptions(
                out=folder / name, model="docassistant:rapidocr", no_cache=True, jobs=1))
            assert outcome.status == 0, outcome.line
    finally:
        runner.open_model = real_open
    return {name: folder / name for name in audits}
