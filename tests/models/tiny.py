"""Tiny random-weight checkpoints of real transformers architectures, built offline.

Each builder writes a directory that loads like a real checkpoint: config, safetensors
weights, a tokenizer trained here on a few hundred sentences, the family's processor and
a chat template with the family's media placeholders. Nothing is downloaded.
"""

from __future__ import annotations

from pathlib import Path

SPECIALS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|audio_bos|>", "<|AUDIO|>",
            "<|audio_eos|>", "<sound>", "<|vision_start|>", "<|vision_end|>", "<|image_pad|>",
            "<|IMAGE|>", "<|video_pad|>", "<image>", "<pad>"]

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

# Qwen2-VL and Qwen2.5-Omni processors need torchvision (for their video processor), which
# this machine cannot install beside the CPU torch; their families are built where it is.
PLACEHOLDERS = {
    "qwen2_audio": ("<|audio_bos|><|AUDIO|><|audio_eos|>", ""),
    "audioflamingo3": ("<sound>", ""),
    "llava": ("", "<image>\n"),
}
FAMILIES = tuple(PLACEHOLDERS)


def _sentences() -> list[str]:
    words = ("the a speaker voice man woman sounds male female young old accent british "
             "american scottish irish indian audio clip says hello world please tell me what "
             "is in this image form name email phone number transcribe describe I cannot help "
             "with that request sorry yes no maybe probably likely years age thirty forty "
             "twenty fifty education income health").split()
    import random

    rng = random.Random(0)
    return [" ".join(rng.choice(words) for _ in range(rng.randint(4, 12))) for _ in range(400)]


def build_tokenizer(out_dir: Path):
    """A byte-level BPE tokenizer trained on a small local corpus, with chat specials."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=400, special_tokens=SPECIALS,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(_sentences(), trainer)
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="<|im_end|>",
                                   pad_token="<pad>", unk_token=None, padding_side="left")
    fast.save_pretrained(out_dir)
    return fast


def _text_config(vocab: int, pad_id: int) -> dict:
    return dict(vocab_size=vocab, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=4096,
                pad_token_id=pad_id, tie_word_embeddings=False)


def build_tiny(family: str, out_dir: Path, seed: int = 0) -> Path:
    """Write a tiny random-weight checkpoint of ``family`` into ``out_dir``."""
    import torch
    import transformers as tf

    if family not in PLACEHOLDERS:
        raise ValueError(f"unknown family {family!r}; expected one of {FAMILIES}")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(seed)
    tokenizer = build_tokenizer(out_dir)
    vocab = len(tokenizer)
    ids = {t: tokenizer.convert_tokens_to_ids(t) for t in SPECIALS}
    audio_ph, image_ph = PLACEHOLDERS[family]
    template = CHATML.replace("AUDIO_PLACEHOLDER", audio_ph).replace("IMAGE_PLACEHOLDER", image_ph)
    text = _text_config(vocab, ids["<pad>"])
    whisper = dict(feature_size=128, sampling_rate=16000, hop_length=160, chunk_length=30,
                   n_fft=400)
    encoder = dict(num_mel_bins=128, d_model=32, encoder_layers=1, encoder_attention_heads=2,
                   encoder_ffn_dim=64, max_source_positions=1500)

    if family == "qwen2_audio":
        config = tf.Qwen2AudioConfig(audio_config=encoder, text_config=text,
                                     audio_token_index=ids["<|AUDIO|>"])
        model = tf.Qwen2AudioForConditionalGeneration(config)
        processor = tf.Qwen2AudioProcessor(tf.WhisperFeatureExtractor(**whisper), tokenizer,
                                           chat_template=template)
    elif family == "audioflamingo3":
        af_encoder = dict(num_mel_bins=128, hidden_size=32, num_hidden_layers=1,
                          num_attention_heads=2, intermediate_size=64, max_source_positions=1500)
        config = tf.AudioFlamingo3Config(audio_config=af_encoder, text_config=text,
                                         audio_token_id=ids["<sound>"])
        model = tf.AudioFlamingo3ForConditionalGeneration(config)
        processor = tf.AudioFlamingo3Processor(tf.WhisperFeatureExtractor(**whisper), tokenizer,
                                               chat_template=template)
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
        processor = tf.LlavaProcessor(image_processor=image_processor, tokenizer=tokenizer,
                                      patch_size=14, num_additional_image_tokens=1,
                                      vision_feature_select_strategy="default",
                                      chat_template=template)
    model.generation_config.pad_token_id = ids["<pad>"]
    model.generation_config.eos_token_id = ids["<|im_end|>"]
    model.save_pretrained(out_dir)
    processor.save_pretrained(out_dir)
    return out_dir
