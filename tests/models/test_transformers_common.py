"""The plumbing the transformers-based backends share: length-grouped batches and the
per-step statistics recorder."""

import numpy as np
import torch

from telltale.models.base import STAT_NAMES
from telltale.models.distribution import position_stats
from telltale.models.transformers_common import StepStats, kept_length, plan_batches


def test_batches_share_a_key_follow_length_and_cover_every_index_once():
    keys = ["audio", "image", "audio", "audio", "image", "audio", "audio"]
    lengths = [50, 3, 10, 40, 1, 10, 20]
    batches = plan_batches(keys, lengths, batch_size=2)
    assert sorted(i for b in batches for i in b) == list(range(len(keys)))
    assert all(len({keys[i] for i in b}) == 1 and len(b) <= 2 for b in batches)
    # audio by ascending length (ties in request order), then images
    assert batches == [[2, 5], [6, 3], [0], [4, 1]]


def test_step_recorder_equals_position_stats_and_keeps_only_scalars_per_step():
    """Three decoding steps of a batch of two, driven as generate drives a logits
    processor: the recorder's figures equal position_stats over the same logits and
    chosen tokens, and what it keeps per step is one value per row."""
    generator = torch.Generator().manual_seed(0)
    steps = [torch.randn(2, 50, generator=generator) * 3 for _ in range(3)]
    prompt = torch.tensor([[5, 6, 7], [8, 9, 10]])
    chosen = torch.tensor([[1, 2, 3], [4, 5, 6]])
    recorder = StepStats(prompt_len=3)
    sequence = prompt
    for t, scores in enumerate(steps):
        assert recorder(sequence, scores) is scores  # the distribution is not changed
        sequence = torch.cat([sequence, chosen[:, t:t + 1]], dim=1)
    assert all(v.shape == (2,) for step in recorder.steps for v in step.values())
    values = recorder.finish(sequence)
    for row in range(2):
        expected = position_stats(torch.stack([s[row] for s in steps]), chosen[row])
        for name in STAT_NAMES:
            np.testing.assert_allclose(values[name][row], expected[name], rtol=1e-5,
                                       atol=1e-6, err_msg=name)


def test_kept_length_stops_at_the_first_stop_token():
    assert kept_length([4, 5, 2, 7], {2}) == 2
    assert kept_length([4, 5], {2}) == 2
    assert kept_length([2], {2, 9}) == 0
