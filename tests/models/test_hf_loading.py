"""Loading options of the hf: backend: offline by default (no hub kernels), attention
implementation and dtype from the spec, clear errors for options it does not know."""

import pytest
import torch

from telltale.models import load_model
from telltale.models.hf import split_spec_options
from telltale.models.transformers_common import loading_options


@pytest.fixture()
def kernelize_calls(monkeypatch):
    """Record transformers' calls to ``kernels.kernelize``, the step that fetches kernels
    such as kernels-community/activation from the model hub. On this CPU-only machine it
    finds no CUDA kernels to fetch, so the real network step cannot be shown failing here;
    the recorder stands in for it and the test checks it is never reached."""
    import transformers.modeling_utils as modeling_utils

    calls = []
    monkeypatch.setattr(modeling_utils, "kernelize",
                        lambda model, **kwargs: calls.append(type(model).__name__))
    return calls


def test_bfloat16_load_never_kernelizes_from_the_hub(tiny_models, kernelize_calls,
                                                     monkeypatch):
    import transformers

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    path = tiny_models["qwen2_audio"]
    # transformers' own default does kernelize (this is what fails on an offline GPU)
    plain = transformers.Qwen2AudioForConditionalGeneration.from_pretrained(
        path, dtype=torch.bfloat16)
    assert plain.dtype == torch.bfloat16
    assert kernelize_calls == ["Qwen2AudioForConditionalGeneration"]
    kernelize_calls.clear()

    model = load_model(f"hf:{path}", dtype="bfloat16")
    assert kernelize_calls == [] and not model.lm.use_kernels
    assert model.lm.dtype == torch.bfloat16
    # the user can ask for hub kernels, in the spec or as an option
    load_model(f"hf:{path}?kernels=hub")
    assert kernelize_calls == ["Qwen2AudioForConditionalGeneration"]


def test_attention_implementation_and_dtype_from_the_spec(tiny_models):
    path = tiny_models["qwen2_vl"]
    eager = load_model(f"hf:{path}?attn=eager&dtype=float32")
    sdpa = load_model(f"hf:{path}", attn="sdpa")
    assert eager.lm.config._attn_implementation == "eager"
    assert sdpa.lm.config._attn_implementation == "sdpa"
    assert eager.fingerprint != sdpa.fingerprint
    assert eager.fingerprint == load_model(f"hf:{path}", attn="eager",
                                           dtype="float32").fingerprint


def test_loading_options_and_bad_spec_options(tiny_models):
    assert loading_options() == {"local_files_only": True, "use_kernels": False}
    assert loading_options("sdpa", hub_kernels=True)["attn_implementation"] == "sdpa"
    with pytest.raises(ValueError, match="kernel on the model hub; allow hub kernels"):
        loading_options("kernels-community/flash-attn3")
    assert split_spec_options("/m/x") == ("/m/x", {})
    assert split_spec_options("/m/x?attn=sdpa&kernels=off") == ("/m/x", {"attn": "sdpa",
                                                                        "kernels": "off"})
    with pytest.raises(ValueError, match="'flash=1' not understood; options are dtype="):
        load_model(f"hf:{tiny_models['llava']}?flash=1")
    with pytest.raises(ValueError, match="dtype='int4' must be one of auto"):
        load_model(f"hf:{tiny_models['llava']}?dtype=int4")
