"""The audio LM through a real vLLM server against the same model through ``hf:``.

Usage::

    python benchmarks/bench_audiolm_vllm.py --out runs/audiolm [--vllm-python PY]

Needs the output of ``bench_audiolm.py`` (the build, its ``dose`` and ``attributes`` runs)
and the vLLM environment (``scripts/vllm_env.sh``; its python by default). Serves the
target checkpoint with vLLM on loopback, runs the attribute audit and the membership audit
with the same options as the ``hf:`` runs, then puts each pair side by side:
``telltale compare`` (``OUT/compare-*``) and, computed here from the two runs' records,
what compare does not give: the paired bootstrap of the MIA AUC difference on the same
clips, how often the two backends' greedy replies are the same text, and on identical
transcriptions how far vLLM's top-k statistics are from the exact ones (the observed
token's log-probability is exact over top-k, the entropy only a lower bound). Results go
to ``OUT/bench.json`` under ``vllm``.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
from bench_audiolm import _telltale, membership_figures, update_bench
from machine import load_average

from telltale import stats


def _records(run: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (run / "records.jsonl").read_text().splitlines()]


def _originals(run: Path) -> dict[str, dict[str, Any]]:
    return {r["sample_id"]: r for r in _records(run)
            if r.get("probe", {}).get("condition", "original") == "original"
            and r.get("error") is None}


def agreement(hf_run: Path, vllm_run: Path) -> dict[str, Any]:
    """Membership: the paired AUC difference and the statistics of identical replies."""
    a, b = _originals(hf_run), _originals(vllm_run)
    shared = sorted(i for i in set(a) & set(b) if a[i]["scores"].get("mia_score") is not None
                    and b[i]["scores"].get("mia_score") is not None)
    y = [int(a[i]["labels"]["member"]) for i in shared]
    diff = stats.paired_auc_difference(y, [a[i]["scores"]["mia_score"] for i in shared],
                                       [b[i]["scores"]["mia_score"] for i in shared])
    same = [i for i in shared if a[i]["output"] == b[i]["output"]]
    logprob, entropy, tail = [], [], []
    extra_tokens = 0
    for i in same:
        exact, topk = a[i]["token_stats"], b[i]["token_stats"]
        # token by token from the first: a run made before the openai: backend dropped
        # vLLM's trailing end-of-turn token has one more, which must not shift the others
        n = min(len(exact["logprob"]), len(topk["logprob"]))
        extra_tokens += len(topk["logprob"]) - len(exact["logprob"])
        if n == 0 or exact["tokens"][:n] != topk["tokens"][:n]:
            continue
        logprob += list(np.abs(np.subtract(exact["logprob"][:n], topk["logprob"][:n])))
        entropy += list(np.subtract(exact["entropy"][:n], topk["entropy"][:n]))
        tail += list(topk.get("tail_mass", [])[:n])
    return {"auc_difference_vllm_minus_hf": diff, "clips": len(shared),
            "identical_transcriptions": len(same), "extra_vllm_tokens": extra_tokens,
            "logprob_abs_error": _summary(logprob),
            "entropy_exact_minus_topk": _summary(entropy), "tail_mass": _summary(tail),
            "top_k": b[same[0]]["token_stats"].get("top_k") if same else None}


def _summary(values: list[float]) -> dict[str, float] | None:
    if not values:
        return None
    arr = np.asarray(values, dtype=float)
    return {"mean": float(arr.mean()), "max": float(arr.max()), "n_tokens": int(arr.size)}


def reply_agreement(hf_run: Path, vllm_run: Path) -> dict[str, Any]:
    """Attributes: how often the two backends gave the same reply and the same outcome."""
    a = {r["key"]: r for r in _records(hf_run) if r.get("error") is None}
    b = {r["key"]: r for r in _records(vllm_run) if r.get("error") is None}
    shared = sorted(set(a) & set(b))
    same_text = sum(a[k]["output"] == b[k]["output"] for k in shared)
    same_outcome = sum((a[k].get("parsed") or {}).get("label") ==
                       (b[k].get("parsed") or {}).get("label") and
                       (a[k].get("parsed") or {}).get("status") ==
                       (b[k].get("parsed") or {}).get("status") for k in shared)
    return {"probes": len(shared), "identical_replies": same_text,
            "identical_outcomes": same_outcome}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--vllm-python", default=None,
                        help="python of the vLLM environment (default: scripts/vllm_env.sh)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--attributes-limit", type=int, default=None,
                        help="clips of the vLLM attribute run (default: the hf run's); "
                             "another limit writes runs/attributes-vllm-limit<N>, and the "
                             "hf comparison covers the probes both runs asked")
    parser.add_argument("--compare-only", action="store_true",
                        help="no server: compare the runs a previous call made")
    args = parser.parse_args(argv)
    out = args.out
    bench_path = out / "bench.json"
    python = args.vllm_python or args.compare_only or subprocess.run(
        ["bash", str(Path(__file__).parent.parent / "scripts" / "vllm_env.sh")],
        check=True, capture_output=True, text=True).stdout.strip().splitlines()[-1]
    model = out / "model"
    card = json.loads((model / "card.json").read_text())
    name = card["checkpoints"]["target"]
    hf_membership, hf_attributes = out / "runs" / f"dose-{name}", out / "runs" / "attributes"
    vllm_membership = out / "runs" / "membership-vllm"
    attributes_config = json.loads((hf_attributes / "run.json").read_text())["config"]
    if args.attributes_limit and args.attributes_limit != attributes_config.get("limit"):
        attributes_config["limit"] = args.attributes_limit
        vllm_attributes = out / "runs" / f"attributes-vllm-limit{args.attributes_limit}"
    else:
        vllm_attributes = out / "runs" / "attributes-vllm"

    from telltale.audiolm.vllm_server import vllm_server

    key = "vllm" if vllm_attributes.name == "attributes-vllm" else f"vllm-{vllm_attributes.name}"
    result: dict[str, Any]

    if args.compare_only:  # the runs are there: compare them again, no server
        result = json.loads(bench_path.read_text())[key]
    else:
        result = {"load_average_at_start": load_average()}
        started = time.perf_counter()
        with vllm_server(model / name, python, out / f"{key}-server.log") as spec:
            result["server_start_seconds"] = round(time.perf_counter() - started, 1)
            # a finished run is kept (a stopped one resumes on the restarted server: vLLM
            # names its weights, so the fingerprint does not hold the changing port)
            if not (vllm_membership / "results.json").exists():
                clock = time.perf_counter()
                _telltale("membership", "--model", spec, "--data", model / "membership.csv",
                          "--out", vllm_membership, "--methods", "indicators,dataset",
                          "--conditions", "original", "--seed", args.seed, "--no-cache")
                result["membership_seconds"] = round(time.perf_counter() - clock, 1)
                result["load_average_after_membership"] = load_average()
                update_bench(bench_path, **{key: result})
            clock = time.perf_counter()
            limit = (["--limit", attributes_config["limit"]]
                     if attributes_config.get("limit") else [])
            _telltale("attributes", "--model", spec, "--data", attributes_config["data"],
                      "--out", vllm_attributes,
                      "--attributes", ",".join(attributes_config["attributes"]),
                      "--modes", ",".join(attributes_config["modes"]), "--seed", args.seed,
                      "--no-cache", *limit)
            result["attributes_seconds"] = round(time.perf_counter() - clock, 1)
            result["load_average_at_end"] = load_average()
        update_bench(bench_path, **{key: result})
    result["membership"] = membership_figures(vllm_membership)
    pairs = [("attributes", hf_attributes, vllm_attributes)]
    if (hf_membership / "results.json").exists():
        result["membership_hf"] = membership_figures(hf_membership)
        result["membership_agreement"] = agreement(hf_membership, vllm_membership)
        pairs.insert(0, ("membership", hf_membership, vllm_membership))
    else:
        result["membership_hf"] = f"{hf_membership} has no results yet (bench_audiolm.py dose)"
    vllm_results = json.loads((vllm_attributes / "results.json").read_text())
    result["attributes_summary"] = vllm_results["summary"]
    result["attributes_verdicts"] = vllm_results["verdicts"]
    result["attributes_run"] = vllm_attributes.name
    result["attributes_agreement"] = reply_agreement(hf_attributes, vllm_attributes)
    suffix = "" if key == "vllm" else key[len("vllm"):]
    for kind, hf_run, vllm_run in pairs:
        proc = subprocess.run([sys.executable, "-m", "telltale", "-q", "compare", str(hf_run),
                               str(vllm_run), "--out", str(out / f"compare-{kind}{suffix}")],
                              capture_output=True, text=True, check=False)
        result[f"compare_{kind}"] = {"exit": proc.returncode,
                                     "message": (proc.stdout + proc.stderr).strip()[-2000:]}
    update_bench(bench_path, **{key: result})
    print(json.dumps({k: v for k, v in result.items() if "summary" not in k}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
