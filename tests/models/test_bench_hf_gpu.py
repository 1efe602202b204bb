"""benchmarks/bench_hf_gpu.py at its tiny size on the CPU, and its 7B shape checked on the
meta device (no memory, no GPU)."""

import json
import sys
from pathlib import Path

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"
sys.path.insert(0, str(BENCHMARKS))

import bench_hf_gpu  # noqa: E402


def test_tiny_size_runs_every_route_and_the_batch_effect(tmp_path):
    out = tmp_path / "figures.json"
    result = bench_hf_gpu.main(["--size", "tiny", "--batch-sizes", "1,3", "--rounds", "1",
                                "--trials", "1", "--new-tokens", "4", "--clip-seconds", "1",
                                "--device", "cpu", "--dtype", "float32",
                                # bfloat16 matmuls are slow on a CPU; the same code runs
                                "--effect-dtype", "float32",
                                "--json", str(out)])
    assert json.loads(out.read_text()) == result
    assert [row["batch_size"] for row in result["throughput"]] == [1, 3]
    for row in result["throughput"]:
        assert row["samples"] == row["batch_size"]
        assert row["generate_per_s"] > 0 and row["generate_stats_per_s"] > 0
        # two passes take longer than the first of them alone
        assert row["generate_then_score_per_s"] < row["generate_per_s"]
        ratio = row["generate_per_s"] / row["generate_stats_per_s"]
        assert abs(row["stats_over_plain_time"] - ratio) < 0.01 * ratio + 1e-3
        assert 0 < row["mean_new_tokens"] <= 4 and row["same_text_with_stats"]
    effect = result["batch_effect"]
    assert effect["dtype"] == "float32"
    # eight requests with up to four generated tokens each (a generation may stop early)
    assert 0 < effect["tokens_scored"] <= 32
    assert effect["max_abs_token_logprob_diff"] >= effect["max_abs_mean_nll_diff"] >= 0


def test_7b_shape_is_qwen2_audio_7b(tmp_path):
    import torch
    import transformers as tf

    folder = bench_hf_gpu.write_checkpoint(tmp_path, "7b")
    config = tf.AutoConfig.from_pretrained(folder, local_files_only=True)
    with torch.device("meta"):
        model = tf.Qwen2AudioForConditionalGeneration(config)
    parameters = sum(p.numel() for p in model.parameters())
    # Qwen2-Audio-7B is published as an 8.4B-parameter model
    assert 8.3e9 < parameters < 8.5e9
    tokenizer = tf.AutoTokenizer.from_pretrained(folder, local_files_only=True)
    assert len(tokenizer) == config.text_config.vocab_size == 156032
