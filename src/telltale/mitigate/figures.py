"""The privacy-utility plot of a mitigation run: one point per defence and strength, with
intervals on both axes, for each way privacy is measured."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from telltale.mitigate.config import ORIGINAL, MitigateConfig, label
from telltale.mitigate.verdicts import auc_side


def _interval(est: dict[str, Any] | None) -> tuple[float, float, float]:
    if not est or est.get("value") is None:
        return math.nan, math.nan, math.nan
    value = est["value"]
    low = est.get("low") if est.get("low") is not None else value
    high = est.get("high") if est.get("high") is not None else value
    return value, value - low, high - value


def privacy_utility_figure(path: Path, results: dict[str, Any],
                           config: MitigateConfig) -> Path | None:
    """WER (x) against each privacy figure (y): lazy-informed EER, membership AUC and the
    first attribute's accuracy; the undefended original is the reference point. Nothing
    is drawn without WER (``classical`` off)."""
    classical = results.get("classical")
    if not classical:
        return None
    from telltale.figures import pyplot, save_figure

    plt = pyplot()
    attribute = config.attributes[0] if config.attributes else None
    mode = config.modes[0]
    panels = [("EER, lazy-informed attacker (higher: more private)",
               lambda v: classical.get(v, {}).get("eer_lazy_informed"), 0.5, "chance 0.5")]
    if "membership" in results:
        # an AUC far below 0.5 still tells members apart: closeness to 0.5 is privacy
        panels.append(("membership AUC (closer to 0.5: more private; hollow: beyond its "
                       "label-shuffle band)",
                       lambda v: results["membership"].get(v, {}).get("auc"), 0.5,
                       "chance 0.5"))
    if attribute:
        # over answered replies, as the attribute verdicts count it
        def accuracy(v: str) -> dict[str, Any] | None:
            cell = results["attributes"].get(attribute, {}).get(mode, {}).get(v)
            return cell["metrics"]["accuracy_answered"] if cell else None
        base = accuracy(ORIGINAL)
        majority = results["attributes"][attribute][mode][ORIGINAL]["metrics"][
            "majority_baseline"] if base else None
        panels.append((f"{attribute} accuracy, answered replies ({mode})", accuracy,
                       majority, "majority label"))
    fig, axes = plt.subplots(1, len(panels), figsize=(4.6 * len(panels), 4.0), squeeze=False)
    markers = "os^Dvp*h"
    for ax, (title, getter, line, line_label) in zip(axes[0], panels, strict=True):
        for index, version in enumerate(config.versions()):
            x, x_lo, x_hi = _interval(classical.get(version, {}).get("wer"))
            y, y_lo, y_hi = _interval(getter(version))
            if math.isnan(x) or math.isnan(y):
                continue
            colour = "black" if version == ORIGINAL else f"C{index}"
            beyond = title.startswith("membership") and auc_side(
                results["membership"].get(version, {})) is not None
            ax.errorbar(x, y, xerr=[[x_lo], [x_hi]], yerr=[[y_lo], [y_hi]], capsize=3,
                        marker=markers[index % len(markers)], ls="none", color=colour,
                        markerfacecolor="white" if beyond else colour, label=label(version))
        if line is not None:
            ax.axhline(line, color="k", ls=":", lw=0.8, label=line_label)
        ax.set_xlabel("WER, PocketSphinx with a held-out task LM (0-1; right: less usable)")
        ax.set_ylabel(title.split(" (")[0] + " (0-1)")
        ax.set_ylim(0, 1)
        ax.set_title(title, fontsize=9)
    axes[0][0].legend(fontsize=7, loc="best")
    fig.suptitle("Privacy against utility per defence (95% intervals on both axes)")
    fig.tight_layout()
    return save_figure(fig, path, "Each defence's privacy (y) against its recogniser WER (x), "
                                  "the undefended original in black. Error bars: 95% "
                                  "bootstrap intervals for WER (over utterances), EER (over "
                                  "enrolled speakers) and membership AUC, and 95% Wilson "
                                  "intervals for attribute accuracy.")
