"""Phase 1 of the membership protocol: blind baselines that never query the model.

If members and non-members can be told apart from metadata, transcript text or the sound
alone, a membership "attack" may only be detecting distribution shift (Lee et al., 2026,
"Membership Inference Attacks against Large Audio Language Models", section 2.2; Das et
al., 2025, "Blind Baselines Beat Membership Inference Attacks for Foundation Models").
Each feature family is scored by a logistic regression under stratified K-fold
cross-validation; out-of-fold scores are kept per sample for the phase 2 diagnosis.

Families
--------
metadata : container and transcript structure (:data:`METADATA_NAMES`).
text : TF-IDF of word unigrams and bigrams, fitted inside each training fold.
acoustic : utterance-level MFCC, spectral, pitch, energy and ZCR statistics
    (:mod:`telltale.membership.acoustic_utterance`).
combined : all the families above in one logistic regression.

Every family is evaluated on the same samples and the same folds (a sample whose audio
cannot be read is left out of all of them and reported), so their AUCs compare directly.

Built on these scores: the blind AUC between datasets
(:mod:`telltale.membership.blind_pairwise`) and a distribution-matched subset
(:mod:`telltale.membership.blind_matching`).
"""

from __future__ import annotations

import string
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from telltale import calibration, stats
from telltale.console import log
from telltale.records import Sample
from telltale.tables import format_interval, format_p

FAMILIES = ("metadata", "text", "acoustic")
METADATA_NAMES = (
    "duration", "file_size", "native_rate", "channels", "bytes_per_second",
    "words", "characters", "chars_per_second", "words_per_second", "mean_word_length",
    "punctuation", "uppercase_fraction", "digits",
)
#: low false-positive rates at which the true-positive rate is reported
LOW_FPR = {"tpr_at_1pct_fpr": 0.01, "tpr_at_0.1pct_fpr": 0.001}
#: label shuffles per blind family (and per membership AUC) by default: about a second
#: each (all blind families) for 240 clips; a family is shifted only above all of them
#: (:mod:`telltale.calibration`: one-sided p <= 0.05, exactly 1/31 = 3.2% under the null)
PERMUTATIONS = calibration.PERMUTATIONS
#: a blind family counts as shifted from this AUC on (see :func:`is_shifted`). Lee et al.
#: (2026) use no fixed threshold; 0.6 is the lowest blind AUC their Table 1 treats as a
#: confound (VoxPopuli text, 60.3, is borderline)
SHIFT_AUC = 0.6
#: fewest members and fewest non-members for a verdict. Below it the blind baselines have
#: no power (a label-shuffle band at 20 + 20 clips already spans about 0.35-0.65, so a
#: shifted corpus passes as "matched") and the MIA interval is dominated by a few clips
MIN_PER_CLASS = 20


def too_few(members: int, nonmembers: int) -> str | None:
    """Why a verdict is inconclusive at these class sizes, or None."""
    if min(members, nonmembers) >= MIN_PER_CLASS:
        return None
    return (f"Inconclusive: {members} members and {nonmembers} non-members are too few for "
            f"a verdict (at least {MIN_PER_CLASS} of each are needed; with fewer, neither "
            "distribution shift nor memorisation can be ruled in or out).")


def below_band(blind: dict[str, Any]) -> list[str]:
    """Families whose AUC falls below their label-shuffle band (worse than chance)."""
    return [f for f, v in blind.items() if isinstance(v, dict) and "auc" in v and v.get("null")
            and v["null"].get("below", v["auc"]["value"] < v["null"]["band"][0])]


def below_band_note(blind: dict[str, Any]) -> str:
    """A sentence flagging families below their shuffle band ('' when none is)."""
    low = below_band(blind)
    if not low:
        return ""
    return (f" Note: {', '.join(low)} blind AUC is below its label-shuffle band, worse than "
            "chance: clips that move together (one voice, one session) sit on both sides of "
            "the split in an unusual way; this split's blind figures deserve a second look.")


@dataclass
class BlindFeatures:
    """Per-sample features of every family; row ``i`` belongs to ``samples[i]``.

    ``errors`` maps a row to the reason its features could not be computed (the message
    names the file); such rows are left out of every score.
    """

    samples: list[Sample]
    metadata: np.ndarray
    metadata_names: list[str]
    acoustic: np.ndarray
    acoustic_names: list[str]
    texts: list[str]
    families: tuple[str, ...] = FAMILIES
    errors: dict[int, str] = field(default_factory=dict)

    def usable(self) -> np.ndarray:
        """Boolean mask of rows with features and a known membership (1 or 0)."""
        return np.array([i not in self.errors and s.member in (0, 1)
                         for i, s in enumerate(self.samples)], dtype=bool)

    def subset(self, rows: Sequence[int]) -> BlindFeatures:
        """The features of ``rows`` only (errors re-indexed)."""
        rows = list(rows)
        index = {old: new for new, old in enumerate(rows)}
        return BlindFeatures(
            [self.samples[i] for i in rows], self.metadata[rows], self.metadata_names,
            self.acoustic[rows], self.acoustic_names, [self.texts[i] for i in rows],
            self.families, {index[i]: e for i, e in self.errors.items() if i in index})


def _text_stats(text: str) -> list[float]:
    words = text.split()
    letters = [c for c in text if c.isalpha()]
    return [len(words), len(text), np.mean([len(w) for w in words]) if words else 0.0,
            sum(c in string.punctuation for c in text),
            sum(c.isupper() for c in letters) / len(letters) if letters else 0.0,
            sum(c.isdigit() for c in text)]


def metadata_features(samples: Sequence[Sample]) -> tuple[np.ndarray, list[str], dict[int, str]]:
    """Structural statistics of each sample's file and transcript.

    Duration, native rate and channels come from the container header; a file libsndfile
    cannot parse (e.g. m4a) is decoded instead (through ffmpeg), its native rate and channel
    count then unknown (NaN, imputed inside each training fold).

    Returns
    -------
    matrix : np.ndarray [shape=(len(samples), len(METADATA_NAMES))]
    names : list of str, :data:`METADATA_NAMES`.
    errors : dict mapping row -> reason, for samples whose audio is missing or unreadable.
    """
    from telltale.media.audio import TARGET_RATE, audio_info, load_audio
    from telltale.media.errors import MediaError

    matrix = np.full((len(samples), len(METADATA_NAMES)), np.nan)
    errors: dict[int, str] = {}
    for i, sample in enumerate(samples):
        if sample.media is None:
            errors[i] = f"sample {sample.id}: no audio file"
            continue
        path = Path(sample.media)
        try:
            try:
                info = audio_info(path)
                duration, rate, channels = (float(info["duration"]), info["sample_rate"],
                                            info["channels"])
            except MediaError:
                duration = load_audio(path).size / TARGET_RATE
                rate = channels = np.nan
            size = path.stat().st_size
        except (MediaError, OSError) as exc:
            errors[i] = str(exc) if str(path) in str(exc) else f"{path}: {exc}"
            continue
        duration = max(duration, 1e-6)
        words, chars, *text_rest = _text_stats(sample.text or "")
        matrix[i] = [duration, size, rate, channels, size / duration, words, chars,
                     chars / duration, words / duration, *text_rest]
    return matrix, list(METADATA_NAMES), errors


def extract_features(samples: Sequence[Sample], families: Sequence[str] = FAMILIES,
                     n_jobs: int | None = None) -> BlindFeatures:
    """Features of every requested family for ``samples``.

    Parameters
    ----------
    samples : manifest samples with audio (``telltale.manifest.load_manifest``).
    families : any of ``"metadata"``, ``"text"``, ``"acoustic"``.
    n_jobs : processes for the acoustic features (``None``: every core).
    """
    from telltale.membership.acoustic_utterance import extract_acoustic, feature_names

    families = _check_families(families)
    samples = list(samples)
    # metadata is always read: it also finds missing and unreadable files cheaply
    metadata, names, errors = metadata_features(samples)
    if "acoustic" in families:
        log.info("acoustic features of %d clips", len(samples))
        acoustic, acoustic_names, acoustic_errors = extract_acoustic(
            [s.media for s in samples], n_jobs=n_jobs)
        for row, reason in acoustic_errors.items():
            errors.setdefault(row, reason)
    else:
        acoustic_names = feature_names()
        acoustic = np.full((len(samples), 0), np.nan)
    return BlindFeatures(samples, metadata, names, acoustic, acoustic_names,
                         [s.text or "" for s in samples], families, errors)


def _check_families(families: Sequence[str]) -> tuple[str, ...]:
    families = tuple(dict.fromkeys(f.strip() for f in families if f.strip()))
    unknown = [f for f in families if f not in FAMILIES]
    if unknown or not families:
        raise ValueError(f"unknown blind feature families {unknown}; choose from {FAMILIES}")
    return families


def _model(with_text: bool, with_dense: bool, C: float = 1.0):
    """Logistic regression on TF-IDF uni+bigrams and/or imputed, standardised dense
    features. Input: an object array, column 0 the transcript, the rest numbers. Every
    step is fitted on the training fold only."""
    from sklearn.compose import ColumnTransformer
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline, make_pipeline
    from sklearn.preprocessing import StandardScaler

    parts = []
    if with_text:
        parts.append(("text", TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True), 0))
    if with_dense:
        parts.append(("dense", make_pipeline(
            SimpleImputer(strategy="median", keep_empty_features=True), StandardScaler()),
            slice(1, None)))
    # Newton-CG, not the default L-BFGS: same objective, but with thousands of TF-IDF
    # columns beside the dense block L-BFGS needs ~150 iterations whose own bookkeeping
    # grows with the vocabulary, Newton-CG about 6 (5x faster on 960 clips, probabilities
    # within 0.003); this family is refitted K times per label shuffle
    return Pipeline([("features", ColumnTransformer(parts)),
                     ("classifier", LogisticRegression(C=C, solver="newton-cg",
                                                       max_iter=2000,
                                                       class_weight="balanced"))])


def oof_scores(features: BlindFeatures, family: str, rows: np.ndarray, y: np.ndarray,
               folds: int = 10, seed: int = 0, C: float = 1.0,
               groups: np.ndarray | None = None) -> np.ndarray:
    """Out-of-fold membership probabilities of one family (or ``"combined"``: every family
    that can be scored on ``rows``) for ``rows`` of ``features`` with labels ``y``, from a
    logistic regression with inverse regularisation strength ``C``, on the folds of
    :func:`telltale.stats.cv_folds` (``groups``, e.g. speakers, each kept in one fold).

    The TF-IDF vocabulary and weights, the imputer medians and the scaler are fitted on
    each training fold only, so nothing of a held-out sample reaches its own score.
    """
    if family == "combined":
        families = _available(features, rows)
        with_text, dense_parts = "text" in families, [
            m for f, m in (("metadata", features.metadata), ("acoustic", features.acoustic))
            if f in families]
    else:
        with_text = family == "text"
        dense_parts = {"metadata": [features.metadata], "acoustic": [features.acoustic],
                       "text": []}[family]
    dense = np.hstack([m[rows] for m in dense_parts]) if dense_parts else np.empty((rows.size, 0))
    if dense.shape[1]:
        dense = np.where(np.isfinite(dense), dense, np.nan)
        dense = dense[:, ~np.all(np.isnan(dense), axis=0)]  # never observed: no information
    if not with_text:
        return stats.oof_logistic_scores(dense, y, folds, seed, C=C, groups=groups)
    table = np.empty((rows.size, 1 + dense.shape[1]), dtype=object)
    table[:, 0] = [features.texts[i] for i in rows]
    table[:, 1:] = dense
    out = np.empty(y.size)
    for train, test in stats.cv_folds(y, folds, seed, groups):
        model = _model(True, dense.shape[1] > 0, C).fit(table[train], y[train])
        out[test] = model.predict_proba(table[test])[:, 1]
    return out


def summarize_scores(y: np.ndarray, scores: np.ndarray, n_boot: int = 1000,
                     seed: int = 0) -> dict[str, Any]:
    """AUC with a bootstrap CI and the TPR at 1% and 0.1% FPR of one score vector."""
    y = np.asarray(y).astype(int)
    out: dict[str, Any] = {"auc": stats.roc_auc(y, scores, n_boot=n_boot, seed=seed).to_dict(),
                           "n": int(y.size), "n_members": int(y.sum()),
                           "n_nonmembers": int(y.size - y.sum())}
    for name, fpr in LOW_FPR.items():
        out[name] = stats.low_fpr_tpr(y, scores, fpr)
    return out


def clusters_of(features: BlindFeatures, rows: np.ndarray) -> np.ndarray | None:
    """Cluster codes (the manifest's ``speaker``) of ``rows``, or None where not every row
    names one (:func:`telltale.calibration.cluster_codes`)."""
    return calibration.cluster_codes([features.samples[i].extra.get("speaker") for i in rows],
                                     rows.size)


def family_auc(payload: tuple[BlindFeatures, str, np.ndarray, int, int], rows: np.ndarray,
               y: np.ndarray, groups: np.ndarray | None) -> float:
    """The cross-validated AUC of one family (a :data:`telltale.calibration.Statistic`;
    ``payload`` is ``(features, family, usable rows, folds, seed)``)."""
    features, family, usable, folds, seed = payload
    scores = oof_scores(features, family, usable[rows], y, folds, seed, groups=groups)
    return stats.roc_auc(y, scores, n_boot=0).value


def permutation_null(features: BlindFeatures, family: str, rows: np.ndarray, y: np.ndarray,
                     observed_auc: float, n_permutations: int, folds: int = 10,
                     seed: int = 0, n_jobs: int | None = None) -> dict[str, Any]:
    """Blind AUCs of the same cross-validated classifier on shuffled membership labels
    (:func:`telltale.calibration.label_shuffle_null`; speakers, where the manifest names
    them, kept in one fold and together in the shuffles).

    With a few hundred clips and a hundred features, cross-validated AUCs scatter far
    more around 0.5 than the bootstrap CI of one run suggests (clips of one speaker, one
    template or one engine move together), and they fall *below* chance about as often as
    above it. Shuffling the labels and scoring again gives the spread that chance alone
    produces on these very samples (Ojala & Garriga, 2010, test 1).

    Returns
    -------
    dict
        As :func:`telltale.calibration.label_shuffle_null`: ``band``, ``p_shift`` (the
        one-sided p of an AUC at least as high as ``observed_auc``), ``above`` / ``below``.
    """
    return calibration.label_shuffle_null(
        family_auc, (features, family, rows, folds, seed), y, observed_auc, n_permutations,
        seed, clusters_of(features, rows), n_jobs)


def chance_control(family_result: dict[str, Any]) -> str:
    """What a blind AUC is compared with: 0.5, and where there is one, the spread that
    shuffled labels give on the same samples."""
    null = family_result.get("null")
    if not null:
        return "chance 0.5"
    familywise = (f", family-wise p {format_p(null['p_familywise'])}"
                  if "p_familywise" in null else "")
    return (f"chance: {format_interval(*null['band'])} on {null['n_permutations']} label "
            f"shuffles (p {format_p(null['p_shift'])}{familywise})")


def is_shifted(auc: float, low: float, null: dict[str, Any] | None = None,
               shift_auc: float = SHIFT_AUC) -> bool:
    """Whether a blind family shows distribution shift: AUC ``auc`` at least ``shift_auc``
    and, where labels were shuffled (``null`` from :func:`permutation_null`), above the
    band chance gives (one-sided permutation p <= 0.05); without shuffles, its bootstrap
    CI's lower bound ``low`` above 0.5.

    The bootstrap resamples fixed out-of-fold scores and so misses how much the
    cross-validated classifier itself varies: on random splits of 240 TTS clips, 4-8% of
    families per split reached 0.6 with a CI above 0.5 (``benchmarks/bench_blind_null.py``).
    The shuffle band carries that variance, which keeps small samples from crying wolf.
    Where :func:`score_families` read every family against the largest of all families on
    each shuffle (``p_familywise``), that p decides: the verdict claims a shift in *any*
    family, and four families tested apart at 5% each called 20 of 200 null draws shifted
    (``benchmarks/bench_null.py``).
    """
    if null is None:
        return bool(auc >= shift_auc and low > 0.5)
    if "p_familywise" in null:  # read against every family's shuffles (score_families)
        return bool(auc >= shift_auc and null["p_familywise"] <= null["alpha"])
    # runs scored before the permutation p decided kept only the band
    above = null.get("above", auc > null["band"][1])
    return bool(auc >= shift_auc and above)


def _available(features: BlindFeatures, rows: np.ndarray) -> list[str]:
    """Families that can be scored: text only when some transcript has a word in it."""
    return [f for f in features.families
            if f != "text" or any(features.texts[i].split() for i in rows)]


def score_families(features: BlindFeatures, folds: int = 10, seed: int = 0,
                   n_boot: int = 1000, permutations: int = 0, n_jobs: int | None = None
                   ) -> tuple[dict[str, Any], dict[str, dict[str, float]]]:
    """Score every family of ``features`` and all of them combined; with ``permutations``
    > 0, each family also gets the :func:`permutation_null` of its AUC under ``"null"``
    (shuffles on ``n_jobs`` processes).

    Returns
    -------
    results : dict family -> {"auc": {value, low, high, n}, "tpr_at_1pct_fpr",
        "tpr_at_0.1pct_fpr", "n", "n_members", "n_nonmembers", "n_features" (dense columns;
        plus "text_features" where TF-IDF is used)}; a family that could not be scored
        (e.g. text without transcripts) gets {"skipped": reason}.
    scores : dict family -> {sample id: out-of-fold probability of membership}.
    """
    rows = np.flatnonzero(features.usable())
    y = np.array([features.samples[i].member for i in rows], dtype=int)
    families = _available(features, rows)
    results: dict[str, Any] = {f: {"skipped": "no transcripts"}
                               for f in features.families if f not in families}
    if "text" in results:
        log.warning("text blind baseline skipped: no sample has a transcript")
    scores: dict[str, dict[str, float]] = {}
    sizes = {"metadata": features.metadata.shape[1], "acoustic": features.acoustic.shape[1]}
    groups = clusters_of(features, rows)
    for family in [*families, "combined"] if len(families) > 1 else families:
        values = oof_scores(features, family, rows, y, folds, seed, groups=groups)
        results[family] = summarize_scores(y, values, n_boot, seed)
        # the TF-IDF vocabulary is fitted per training fold, so only dense columns count
        results[family]["n_features"] = (sizes.get(family, 0) if family != "combined" else
                                         sum(sizes.get(f, 0) for f in families))
        if family in ("text", "combined") and "text" in families:
            results[family]["text_features"] = "TF-IDF word uni+bigrams, fitted per fold"
        if permutations > 0:
            results[family]["null"] = permutation_null(
                features, family, rows, y, results[family]["auc"]["value"], permutations,
                folds, seed, n_jobs)
        scores[family] = {features.samples[i].id: float(v)
                          for i, v in zip(rows, values, strict=True)}
    add_familywise(results)
    return results, scores


def add_familywise(results: dict[str, Any]) -> None:
    """Each family's family-wise p (:func:`telltale.calibration.familywise`) into its
    ``null``: one seed shuffles every family the same way, so the largest family on each
    shuffle is the null of "some family is shifted"."""
    nulls = {f: r["null"] for f, r in results.items() if isinstance(r, dict) and r.get("null")}
    p = calibration.familywise(nulls, {f: results[f]["auc"]["value"] for f in nulls})
    for family, value in p.items():
        results[family]["null"]["p_familywise"] = value
