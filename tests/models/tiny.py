"""Tiny random-weight checkpoints of real transformers architectures, built offline.

Each builder writes a directory that loads like a real checkpoint: ``config.json``,
safetensors weights, a byte-level BPE tokenizer trained here on a few hundred sentences,
the family's processor (feature extractor / image processor constructed from code) and a
chat template in the family's style with its media placeholders. Nothing is downloaded.

Qwen2-VL and Qwen2.5-Omni processors cannot be constructed without torchvision (their
video processor needs it, and the CPU torch here has no matching torchvision), so for
those two the processor's parts are written the way the published checkpoints ship them:
one ``preprocessor_config.json`` naming ``processor_class``, the tokenizer and
``chat_template.json``.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

FAMILIES = ("qwen2_audio", "qwen2_5_omni", "audioflamingo3", "qwen2_vl", "llava")

SPECIALS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|audio_bos|>", "<|AUDIO|>",
            "<|audio_eos|>", "<sound>", "<|vision_start|>", "<|vision_end|>", "<|image_pad|>",
            "<|video_pad|>", "<|vision_bos|>", "<|vision_eos|>", "<|IMAGE|>", "<|VIDEO|>",
            "<image>", "<pad>"]

# Named special tokens the Qwen2.5-Omni processor reads from its tokenizer (as in the
# published Qwen2.5-Omni tokenizer_config.json).
OMNI_TOKENS = {"image_token": "<|IMAGE|>", "audio_token": "<|AUDIO|>",
               "video_token": "<|VIDEO|>", "vision_bos_token": "<|vision_bos|>",
               "vision_eos_token": "<|vision_eos|>", "audio_bos_token": "<|audio_bos|>",
               "audio_eos_token": "<|audio_eos|>"}

CHATML = (
    "{% for message in messages %}"
    "{% if loop.first and message['role'] != 'system' %}"
    "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n{% endif %}"
    "<|im_start|>{{ message['role'] }}\n"
    "{% if message['content'] is string %}{{ message['content'] }}"
    "{% else %}{% for part in message['content'] %}"
    "{% if part['type'] == 'audio' %}AUDIO_PLACEHOLDER"
    "{% elif part['type'] == 'image' %}IMAGE_PLACEHOLDER"
    "{% elif part['type'] == 'text' %}{{ part['text'] }}{% endif %}"
    "{% endfor %}{% endif %}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)

# LLaVA-1.5 style: "USER: <image>\n... ASSISTANT:", images first, then the text parts
LLAVA_TEMPLATE = (
    "{% for message in messages %}"
    "{% if message['role'] == 'system' %}"
    "{% for part in message['content'] %}{{ part['text'] }}\n{% endfor %}"
    "{% else %}{{ message['role'].upper() }}: "
    "{% for part in message['content'] | selectattr('type', 'equalto', 'image') %}"
    "<image>\n{% endfor %}"
    "{% for part in message['content'] | selectattr('type', 'equalto', 'text') %}"
    "{{ part['text'] }} {% endfor %}{% endif %}{% endfor %}"
    "{% if add_generation_prompt %}ASSISTANT:{% endif %}"
)

PLACEHOLDERS = {
    "qwen2_audio": ("Audio 1: <|audio_bos|><|AUDIO|><|audio_eos|>\n", ""),
    "qwen2_5_omni": ("<|audio_bos|><|AUDIO|><|audio_eos|>",
                     "<|vision_bos|><|IMAGE|><|vision_eos|>"),
    "audioflamingo3": ("<sound>", ""),
    "qwen2_vl": ("", "<|vision_start|><|image_pad|><|vision_end|>"),
}

WHISPER = dict(feature_size=128, sampling_rate=16000, hop_length=160, chunk_length=30, n_fft=400)


def _sentences() -> list[str]:
    """A few hundred sentences over Faker's English word list, the words of the prompts
    and templates used in tests, and digits and punctuation."""
    from faker.providers.lorem.en_US import Provider

    template_words = ("system user assistant You are a helpful careful USER ASSISTANT Audio "
                      "What is said Transcribe the audio Describe this Who speaks speaker "
                      "male or female accent Summarise Hi hello image form name".split())
    words = list(Provider.word_list) + template_words + list("0123456789.,:?!")
    rng = random.Random(0)
    sentences = [" ".join(rng.choice(words) for _ in range(rng.randint(4, 12)))
                 for _ in range(400)]
    return [*sentences, " ".join(words)]  # every word at least once


def build_tokenizer(out_dir: Path, omni: bool = False):
    """Train a word-level tokenizer on a small local corpus and save it.

    Word-level (split on whitespace and punctuation) so that any generated token sequence
    decodes to text that tokenises back to the same tokens; a byte-level BPE would let a
    random model emit partial UTF-8 bytes and non-canonical merges.

    Parameters
    ----------
    out_dir : Path
        Directory the tokenizer files are written to.
    omni : bool
        Register the named media tokens the Qwen2.5-Omni processor expects
        (``tokenizer.image_token`` and friends).

    Returns
    -------
    transformers.PreTrainedTokenizerFast
        About 1,100 entries including every token in :data:`SPECIALS`; left padding.
    """
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.WordLevel(unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    trainer = trainers.WordLevelTrainer(vocab_size=5000, special_tokens=[*SPECIALS, "[UNK]"])
    tok.train_from_iterator(_sentences(), trainer)
    extra = {"extra_special_tokens": OMNI_TOKENS} if omni else {}
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="<|im_end|>",
                                   pad_token="<pad>", unk_token="[UNK]", padding_side="left",
                                   clean_up_tokenization_spaces=False, **extra)
    fast.save_pretrained(out_dir)
    return fast


def _text_config(vocab: int, pad_id: int, mrope: bool = False, hidden: int = 32,
                 heads: int = 4) -> dict:
    config = dict(vocab_size=vocab, hidden_size=hidden, intermediate_size=2 * hidden,
                  num_hidden_layers=2, num_attention_heads=heads,
                  num_key_value_heads=max(1, heads // 2), max_position_embeddings=4096,
                  pad_token_id=pad_id, bos_token_id=None, eos_token_id=None,
                  tie_word_embeddings=False)
    if mrope:
        # head_dim 8: the rotary half (4) is split over time, height and width
        config["rope_parameters"] = {"rope_type": "default", "mrope_section": [2, 1, 1],
                                     "rope_theta": 1000000.0}
    return config


def _write_parts(out_dir: Path, template: str, processor_class: str, *parts) -> None:
    """Write processor parts the way published checkpoints ship them: one merged
    ``preprocessor_config.json`` and a ``chat_template.json``."""
    merged: dict = {"processor_class": processor_class}
    for part in parts:
        merged.update(part.to_dict())
    (out_dir / "preprocessor_config.json").write_text(json.dumps(merged, indent=2))
    (out_dir / "chat_template.json").write_text(json.dumps({"chat_template": template}))


def build_tiny(family: str, out_dir: Path, seed: int = 0, hidden: int = 32,
               heads: int = 4) -> Path:
    """Write a tiny random-weight checkpoint of ``family`` into ``out_dir``.

    Parameters
    ----------
    family : str
        One of :data:`FAMILIES` (a ``config.model_type``).
    out_dir : Path
        Created if missing.
    seed : int
        Seed of the random weights; the tokenizer does not depend on it.
    hidden, heads : int
        Width and attention heads of the language model (head size ``hidden / heads``:
        8 by default; vLLM's CPU attention needs 32 or more).

    Returns
    -------
    Path
        ``out_dir``, loadable with ``telltale.models.load_model("hf:" + str(out_dir))``.
    """
    import torch
    import transformers as tf

    if family not in FAMILIES:
        raise ValueError(f"unknown family {family!r}; expected one of {FAMILIES}")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(seed)
    tokenizer = build_tokenizer(out_dir, omni=family == "qwen2_5_omni")
    vocab = len(tokenizer)
    ids = {t: tokenizer.convert_tokens_to_ids(t) for t in SPECIALS}
    audio_ph, image_ph = PLACEHOLDERS.get(family, ("", ""))
    template = CHATML.replace("AUDIO_PLACEHOLDER", audio_ph).replace("IMAGE_PLACEHOLDER", image_ph)
    text = _text_config(vocab, ids["<pad>"], mrope=family in ("qwen2_vl", "qwen2_5_omni"),
                        hidden=hidden, heads=heads)
    # images are resized to multiples of 28 between 56x56 and 112x112 pixels
    qwen_pixels = dict(min_pixels=56 * 56, max_pixels=112 * 112, patch_size=14, merge_size=2,
                       temporal_patch_size=2)

    if family == "qwen2_audio":
        encoder = dict(num_mel_bins=128, d_model=32, encoder_layers=1, encoder_attention_heads=2,
                       encoder_ffn_dim=64, max_source_positions=1500)
        config = tf.Qwen2AudioConfig(audio_config=encoder, text_config=text,
                                     audio_token_index=ids["<|AUDIO|>"])
        model = tf.Qwen2AudioForConditionalGeneration(config)
        tf.Qwen2AudioProcessor(tf.WhisperFeatureExtractor(**WHISPER), tokenizer,
                               chat_template=template).save_pretrained(out_dir)
    elif family == "audioflamingo3":
        encoder = dict(num_mel_bins=128, hidden_size=32, num_hidden_layers=1,
                       num_attention_heads=2, intermediate_size=64, max_source_positions=1500)
        config = tf.AudioFlamingo3Config(audio_config=encoder, text_config=text,
                                         audio_token_id=ids["<sound>"])
        model = tf.AudioFlamingo3ForConditionalGeneration(config)
        tf.AudioFlamingo3Processor(tf.WhisperFeatureExtractor(**WHISPER), tokenizer,
                                   chat_template=template).save_pretrained(out_dir)
    elif family == "qwen2_5_omni":
        thinker = dict(
            audio_config=dict(num_mel_bins=128, d_model=32, encoder_layers=1,
                              encoder_attention_heads=2, encoder_ffn_dim=64, output_dim=32,
                              n_window=100, max_source_positions=1500),
            vision_config=dict(depth=1, hidden_size=32, intermediate_size=64, num_heads=2,
                               out_hidden_size=32, fullatt_block_indexes=[0], window_size=56,
                               patch_size=14, spatial_merge_size=2, temporal_patch_size=2),
            text_config=text,
            audio_token_index=ids["<|AUDIO|>"], image_token_index=ids["<|IMAGE|>"],
            video_token_index=ids["<|VIDEO|>"], audio_start_token_id=ids["<|audio_bos|>"],
            audio_end_token_id=ids["<|audio_eos|>"],
            vision_start_token_id=ids["<|vision_bos|>"],
            vision_end_token_id=ids["<|vision_eos|>"],
            # the talker's marker; the BPE here has no "user" token and the thinker ignores it
            user_token_id=ids["<|im_start|>"])
        # a released Omni checkpoint also holds the talker and token2wav; the text-out
        # backend never loads them, so the tiny one is built without audio output
        config = tf.Qwen2_5OmniConfig(thinker_config=thinker, enable_audio_output=False)
        model = tf.Qwen2_5OmniForConditionalGeneration(config)
        _write_parts(out_dir, template, "Qwen2_5OmniProcessor",
                     tf.WhisperFeatureExtractor(**WHISPER),
                     tf.Qwen2VLImageProcessorPil(**qwen_pixels))
    elif family == "qwen2_vl":
        vision = dict(depth=1, embed_dim=32, hidden_size=32, mlp_ratio=2, num_heads=2,
                      patch_size=14, spatial_merge_size=2, temporal_patch_size=2)
        config = tf.Qwen2VLConfig(text_config=text, vision_config=vision,
                                  image_token_id=ids["<|image_pad|>"],
                                  video_token_id=ids["<|video_pad|>"],
                                  vision_start_token_id=ids["<|vision_start|>"],
                                  vision_end_token_id=ids["<|vision_end|>"])
        model = tf.Qwen2VLForConditionalGeneration(config)
        _write_parts(out_dir, template, "Qwen2VLProcessor",
                     tf.Qwen2VLImageProcessorPil(**qwen_pixels))
    else:  # llava: a CLIP vision tower in front of the language model
        vision = dict(model_type="clip_vision_model", hidden_size=32, intermediate_size=64,
                      num_hidden_layers=2, num_attention_heads=2, image_size=56, patch_size=14,
                      projection_dim=32)
        config = tf.LlavaConfig(text_config={**text, "model_type": "qwen2"},
                                vision_config=vision, image_token_index=ids["<image>"],
                                vision_feature_layer=-1, vision_feature_select_strategy="default")
        model = tf.LlavaForConditionalGeneration(config)
        image_processor = tf.CLIPImageProcessor(size={"shortest_edge": 56},
                                                crop_size={"height": 56, "width": 56})
        # CLIP prepends a class token that the "default" strategy drops: one extra token
        tf.LlavaProcessor(image_processor=image_processor, tokenizer=tokenizer, patch_size=14,
                          num_additional_image_tokens=1,
                          vision_feature_select_strategy="default",
                          chat_template=LLAVA_TEMPLATE).save_pretrained(out_dir)
    model.generation_config.pad_token_id = ids["<pad>"]
    model.generation_config.eos_token_id = ids["<|im_end|>"]
    model.save_pretrained(out_dir)
    return out_dir
