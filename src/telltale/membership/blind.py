"""Phase 1 of the membership protocol: blind baselines that never query the model.

If members and non-members can be told apart from metadata, transcript text or the sound
alone, a membership "attack" may only be detecting distribution shift (Lee et al., 2026,
"Membership Inference Attacks against Large Audio Language Models"). Each feature family
is scored by a logistic regression under stratified K-fold cross-validation; out-of-fold
scores are kept per sample for the phase 2 diagnosis.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from telltale import stats
from telltale.console import log
from telltale.records import Sample

FAMILIES = ("metadata", "text", "acoustic")
METADATA_NAMES = ("duration", "file_size", "native_rate", "channels", "bytes_per_second",
                  "words", "characters", "chars_per_second", "words_per_second",
                  "mean_word_length")


@dataclass
class BlindFeatures:
    """Per-sample features of every family (rows follow ``samples``)."""

    samples: list[Sample]
    metadata: np.ndarray
    acoustic: np.ndarray
    acoustic_names: list[str]
    texts: list[str]
    errors: dict[int, str] = field(default_factory=dict)


def metadata_features(samples: list[Sample]) -> tuple[np.ndarray, dict[int, str]]:
    from telltale.media.audio import audio_info
    from telltale.media.errors import MediaError

    rows, errors = [], {}
    for i, sample in enumerate(samples):
        text = sample.text or ""
        words = text.split()
        try:
            info = audio_info(sample.media)
        except MediaError as exc:
            errors[i] = str(exc)
            rows.append([np.nan] * len(METADATA_NAMES))
            continue
        size = sample.media.stat().st_size
        duration = max(float(info["duration"]), 1e-6)
        rows.append([duration, size, info["sample_rate"], info["channels"], size / duration,
                     len(words), len(text), len(text) / duration, len(words) / duration,
                     np.mean([len(w) for w in words]) if words else 0.0])
    return np.array(rows, dtype=float).reshape(len(samples), len(METADATA_NAMES)), errors


def extract(samples: list[Sample], families: tuple[str, ...] = FAMILIES,
            n_jobs: int = 2) -> BlindFeatures:
    from telltale.membership.acoustic import extract_acoustic, feature_names

    metadata, errors = metadata_features(samples)
    if "acoustic" in families:
        log.info("acoustic features of %d clips (%d jobs)", len(samples), n_jobs)
        acoustic, names, acoustic_errors = extract_acoustic([s.media for s in samples], n_jobs)
        errors.update(acoustic_errors)
    else:
        names = feature_names()
        acoustic = np.full((len(samples), len(names)), np.nan)
    return BlindFeatures(samples, metadata, acoustic, names, [s.text or "" for s in samples],
                         errors)


def _oof_text(texts: list[str], y: np.ndarray, folds: int, seed: int,
              dense: np.ndarray | None = None) -> np.ndarray:
    """Out-of-fold scores of TF-IDF (uni- and bigrams) [+ dense features]; the vectoriser
    and scaler are fitted inside each training fold, so no vocabulary leaks."""
    from scipy.sparse import csr_matrix, hstack
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold
    from sklearn.preprocessing import StandardScaler

    k = min(folds, int(np.bincount(y, minlength=2).min()))
    out = np.empty(y.size)
    texts_arr = np.array(texts, dtype=object)
    for train, test in StratifiedKFold(k, shuffle=True, random_state=seed).split(texts_arr, y):
        vectoriser = TfidfVectorizer(ngram_range=(1, 2), min_df=1, sublinear_tf=True)
        x_train = vectoriser.fit_transform(texts_arr[train])
        x_test = vectoriser.transform(texts_arr[test])
        if dense is not None:
            imputer = SimpleImputer(strategy="median", keep_empty_features=True)
            scaler = StandardScaler()
            d_train = scaler.fit_transform(imputer.fit_transform(dense[train]))
            d_test = scaler.transform(imputer.transform(dense[test]))
            x_train = hstack([x_train, csr_matrix(d_train)]).tocsr()
            x_test = hstack([x_test, csr_matrix(d_test)]).tocsr()
        model = LogisticRegression(max_iter=2000).fit(x_train, y[train])
        out[test] = model.predict_proba(x_test)[:, 1]
    return out


def _summary(y: np.ndarray, scores: np.ndarray, n_features: int, seed: int) -> dict[str, Any]:
    auc = stats.roc_auc(y, scores, seed=seed)
    return {"auc": auc.to_dict(), "tpr_at_1pct_fpr": stats.tpr_at_fpr(y, scores, 0.01),
            "tpr_at_0.1pct_fpr": stats.tpr_at_fpr(y, scores, 0.001), "n_features": n_features}


def score_families(features: BlindFeatures, families: tuple[str, ...] = FAMILIES,
                   folds: int = 10, seed: int = 0) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """AUC (bootstrap CI) and low-FPR TPR of each family and of all combined, with the
    out-of-fold score of every sample. Samples with a feature error are left out."""
    keep = np.array([i not in features.errors for i in range(len(features.samples))])
    y = np.array([s.member for s in features.samples])[keep].astype(int)
    texts = [t for t, k in zip(features.texts, keep, strict=True) if k]
    results: dict[str, Any] = {}
    scores: dict[str, np.ndarray] = {}
    dense_parts = []
    if "metadata" in families:
        scores["metadata"] = stats.oof_logistic_scores(features.metadata[keep], y, folds, seed)
        results["metadata"] = _summary(y, scores["metadata"], features.metadata.shape[1], seed)
        dense_parts.append(features.metadata[keep])
    if "acoustic" in families:
        scores["acoustic"] = stats.oof_logistic_scores(features.acoustic[keep], y, folds, seed)
        results["acoustic"] = _summary(y, scores["acoustic"], features.acoustic.shape[1], seed)
        dense_parts.append(features.acoustic[keep])
    if "text" in families:
        scores["text"] = _oof_text(texts, y, folds, seed)
        results["text"] = _summary(y, scores["text"], -1, seed)
    dense = np.hstack(dense_parts) if dense_parts else None
    if "text" in families:
        scores["combined"] = _oof_text(texts, y, folds, seed, dense)
    elif dense is not None:
        scores["combined"] = stats.oof_logistic_scores(dense, y, folds, seed)
    if "combined" in scores:
        results["combined"] = _summary(y, scores["combined"], -1, seed)
    ids = [s.id for s, k in zip(features.samples, keep, strict=True) if k]
    return results, {name: dict(zip(ids, values, strict=True)) for name, values in scores.items()}


def pairwise_dataset_auc(features: BlindFeatures, folds: int = 5,
                         seed: int = 0) -> tuple[list[str], np.ndarray]:
    """Blind AUC of every membership-neutral pairing of (dataset, membership) groups:
    dataset A's members against dataset B's members, A's non-members against B's
    non-members (and across membership within one dataset, the usual question). A high
    AUC between groups that membership does not separate is pure distribution shift."""
    dense = np.hstack([features.metadata, features.acoustic])
    groups: dict[str, list[int]] = {}
    for i, sample in enumerate(features.samples):
        if i in features.errors:
            continue
        role = {1: "members", 0: "non-members"}.get(sample.member, "unknown")
        groups.setdefault(f"{sample.dataset or '?'}:{role}", []).append(i)
    labels = sorted(g for g, idx in groups.items() if len(idx) >= 4)
    matrix = np.full((len(labels), len(labels)), np.nan)
    for a in range(len(labels)):
        for b in range(a + 1, len(labels)):
            ia, ib = groups[labels[a]], groups[labels[b]]
            y = np.r_[np.ones(len(ia)), np.zeros(len(ib))].astype(int)
            s = stats.oof_logistic_scores(dense[ia + ib], y, folds, seed)
            matrix[a, b] = matrix[b, a] = stats.roc_auc(y, s, n_boot=0).value
    return labels, matrix


def heatmap_figure(labels: list[str], matrix: np.ndarray, path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(1.2 * len(labels) + 2, 1.0 * len(labels) + 1.5))
    image = ax.imshow(matrix, vmin=0.5, vmax=1.0, cmap="magma_r")
    ax.set_xticks(range(len(labels)), labels, rotation=45, ha="right")
    ax.set_yticks(range(len(labels)), labels)
    for a in range(len(labels)):
        for b in range(len(labels)):
            if np.isfinite(matrix[a, b]):
                ax.text(b, a, f"{matrix[a, b]:.2f}", ha="center", va="center", fontsize=8,
                        color="white" if matrix[a, b] > 0.8 else "black")
    fig.colorbar(image, ax=ax, label="blind AUC")
    ax.set_title("Blind separability of dataset groups")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def matched_subset(samples: list[Sample], scores: dict[str, float], caliper: float = 0.2,
                   seed: int = 0) -> list[Sample]:
    """Propensity-score matching on the blind score: each member is paired with the
    nearest unused non-member in logit space within ``caliper`` standard deviations
    (Austin, 2011); unmatched samples are dropped. The result is distribution-matched to
    the extent the blind features can see."""
    rng = np.random.default_rng(seed)
    logit = {sid: float(np.log(np.clip(p, 1e-6, 1 - 1e-6) / (1 - np.clip(p, 1e-6, 1 - 1e-6))))
             for sid, p in scores.items()}
    members = [s for s in samples if s.member == 1 and s.id in logit]
    pool = [s for s in samples if s.member == 0 and s.id in logit]
    width = caliper * float(np.std(list(logit.values())) or 1.0)
    chosen: list[Sample] = []
    for index in rng.permutation(len(members)):
        member = members[index]
        if not pool:
            break
        gaps = [abs(logit[member.id] - logit[p.id]) for p in pool]
        best = int(np.argmin(gaps))
        if gaps[best] <= width:
            chosen.extend([member, pool.pop(best)])
    return chosen
