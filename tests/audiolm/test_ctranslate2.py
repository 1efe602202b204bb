"""The CTranslate2 reader and the Whisper name mapping, on small files written here in
CTranslate2's layout (``ModelSpec._serialize``: version, spec name and revision, the
variables with rank, dimensions, type id and bytes, then the aliases)."""

import struct

import numpy as np
import pytest
import torch

from telltale.audiolm.ctranslate2 import ModelBinError, read_model_bin
from telltale.audiolm.whisper import whisper_dims, whisper_state_dict

TYPE_IDS = {np.dtype("float32"): 0, np.dtype("int8"): 1, np.dtype("int16"): 2,
            np.dtype("int32"): 3, np.dtype("float16"): 4}


def _string(text: str) -> bytes:
    raw = text.encode() + b"\0"
    return struct.pack("<H", len(raw)) + raw


def write_model_bin(path, variables: dict, aliases: dict | None = None, version: int = 6,
                    spec: str = "WhisperSpec", bfloat16: tuple = ()) -> None:
    """A model.bin as CTranslate2 writes it; names in ``bfloat16`` are stored as bfloat16
    (the high half of each float32)."""
    out = [struct.pack("<I", version), _string(spec), struct.pack("<I", 3),
           struct.pack("<I", len(variables))]
    for name, value in variables.items():
        value = np.asarray(value)
        if name in bfloat16:
            payload, type_id = (value.astype(np.float32).view(np.uint32) >> 16).astype(
                np.uint16).tobytes(), 5
        else:
            payload, type_id = value.tobytes(), TYPE_IDS[value.dtype]
        out += [_string(name), struct.pack("<B", value.ndim),
                *(struct.pack("<I", d) for d in value.shape), struct.pack("<B", type_id),
                struct.pack("<I", len(payload)), payload]
    aliases = aliases or {}
    out.append(struct.pack("<I", len(aliases)))
    out += [_string(a) + _string(t) for a, t in aliases.items()]
    path.write_bytes(b"".join(out))


def _linear(prefix: str, module) -> dict:
    return {f"{prefix}/weight": module.weight.detach().numpy().astype(np.float16),
            **({f"{prefix}/bias": module.bias.detach().numpy().astype(np.float16)}
               if module.bias is not None else {})}


def _norm(prefix: str, module) -> dict:
    return {f"{prefix}/gamma": module.weight.detach().numpy().astype(np.float16),
            f"{prefix}/beta": module.bias.detach().numpy().astype(np.float16)}


def _fused(prefix: str, layers) -> dict:
    """Projections fused as CTranslate2 fuses them: weights stacked, a missing bias zero."""
    weight = np.concatenate([m.weight.detach().numpy() for m in layers]).astype(np.float16)
    bias = np.concatenate([m.bias.detach().numpy() if m.bias is not None
                           else np.zeros(m.weight.shape[0], np.float32) for m in layers])
    return {f"{prefix}/weight": weight, f"{prefix}/bias": bias.astype(np.float16)}


def export_whisper(model) -> dict:
    """A transformers Whisper as CTranslate2 variables (the converter's layout)."""
    out = {"encoder/num_heads": np.array(model.config.encoder_attention_heads, np.int16),
           "decoder/num_heads": np.array(model.config.decoder_attention_heads, np.int16),
           "decoder/scale_embeddings": np.array(1, np.int8),
           "decoder/pre_norm": np.array(1, np.int8)}
    for stack in ("encoder", "decoder"):
        module = getattr(model.model, stack)
        out[f"{stack}/position_encodings/encodings"] = \
            module.embed_positions.weight.detach().numpy().astype(np.float16)
        out.update(_norm(f"{stack}/layer_norm", module.layer_norm))
        for i, layer in enumerate(module.layers):
            p = f"{stack}/layer_{i}"
            attn = layer.self_attn
            out.update(_fused(f"{p}/self_attention/linear_0",
                              [attn.q_proj, attn.k_proj, attn.v_proj]))
            out.update(_linear(f"{p}/self_attention/linear_1", attn.out_proj))
            out.update(_norm(f"{p}/self_attention/layer_norm", layer.self_attn_layer_norm))
            if stack == "decoder":
                cross = layer.encoder_attn
                out.update(_linear(f"{p}/attention/linear_0", cross.q_proj))
                out.update(_fused(f"{p}/attention/linear_1", [cross.k_proj, cross.v_proj]))
                out.update(_linear(f"{p}/attention/linear_2", cross.out_proj))
                out.update(_norm(f"{p}/attention/layer_norm", layer.encoder_attn_layer_norm))
            out.update(_linear(f"{p}/ffn/linear_0", layer.fc1))
            out.update(_linear(f"{p}/ffn/linear_1", layer.fc2))
            out.update(_norm(f"{p}/ffn/layer_norm", layer.final_layer_norm))
    out.update(_linear("encoder/conv1", model.model.encoder.conv1))
    out.update(_linear("encoder/conv2", model.model.encoder.conv2))
    out["decoder/embeddings/weight"] = \
        model.model.decoder.embed_tokens.weight.detach().numpy().astype(np.float16)
    return out


@pytest.fixture()
def tiny_whisper():
    from transformers import WhisperConfig, WhisperForConditionalGeneration

    torch.manual_seed(0)
    config = WhisperConfig(vocab_size=96, num_mel_bins=8, encoder_layers=2, decoder_layers=1,
                           encoder_attention_heads=2, decoder_attention_heads=2, d_model=16,
                           encoder_ffn_dim=24, decoder_ffn_dim=24, max_source_positions=30,
                           max_target_positions=12, decoder_start_token_id=1,
                           pad_token_id=0, bos_token_id=1, eos_token_id=2)
    model = WhisperForConditionalGeneration(config).eval()
    # round to float16 as the CTranslate2 file stores them, so the comparison is exact
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(p.half().float())
    return model


def test_reader_round_trips_dtypes_scalars_and_aliases(tmp_path):
    values = {"a/weight": np.arange(6, dtype=np.float16).reshape(2, 3),
              "a/scale": np.array([0.5, -2.0], np.float32), "n/heads": np.array(6, np.int16),
              "flag": np.array(1, np.int8), "ids": np.array([3, 4], np.int32),
              "b/weight": np.array([[1.5, -0.25]], np.float32)}
    write_model_bin(tmp_path / "model.bin", values, {"c/weight": "a/weight"},
                    bfloat16=("b/weight",))
    model = read_model_bin(tmp_path / "model.bin")
    assert (model.spec, model.revision, model.binary_version) == ("WhisperSpec", 3, 6)
    for name, value in values.items():
        assert np.array_equal(model.variables[name], value)
    assert model.variables["b/weight"].dtype == np.float32  # bfloat16 widened, exactly
    assert np.array_equal(model.variables["c/weight"], values["a/weight"])
    assert int(model.variables["n/heads"]) == 6


def test_reader_reads_a_model_split_in_parts(tmp_path):
    write_model_bin(tmp_path / "model.bin", {"x": np.ones((4, 4), np.float16)})
    data = (tmp_path / "model.bin").read_bytes()
    (tmp_path / "model.bin.part1").write_bytes(data[:37])
    (tmp_path / "model.bin.part2").write_bytes(data[37:])
    joined = read_model_bin([tmp_path / "model.bin.part1", tmp_path / "model.bin.part2"])
    assert np.array_equal(joined.variables["x"], np.ones((4, 4), np.float16))


@pytest.mark.parametrize("damage, message", [
    (lambda b: b[:-3], "truncated"), (lambda b: b + b"\0", "unread bytes"),
    (lambda b: struct.pack("<I", 9) + b[4:], "binary version 9"),
])
def test_reader_refuses_damaged_files(tmp_path, damage, message):
    write_model_bin(tmp_path / "model.bin", {"x": np.ones(3, np.float32)})
    (tmp_path / "bad.bin").write_bytes(damage((tmp_path / "model.bin").read_bytes()))
    with pytest.raises(ModelBinError, match=message):
        read_model_bin(tmp_path / "bad.bin")


def test_whisper_mapping_gives_the_same_model(tmp_path, tiny_whisper):
    from transformers import WhisperForConditionalGeneration

    write_model_bin(tmp_path / "model.bin", export_whisper(tiny_whisper),
                    {"decoder/projection/weight": "decoder/embeddings/weight"})
    ct2 = read_model_bin(tmp_path / "model.bin")
    dims = whisper_dims(ct2)
    assert dims["encoder_layers"] == 2 and dims["decoder_layers"] == 1
    assert dims["num_mel_bins"] == 8 and dims["encoder_attention_heads"] == 2
    rebuilt = WhisperForConditionalGeneration(tiny_whisper.config).eval()
    state = {k: torch.from_numpy(v.astype(np.float32))
             for k, v in whisper_state_dict(ct2).items()}
    missing, unexpected = rebuilt.load_state_dict(state, strict=False)
    assert not unexpected and set(missing) <= {"proj_out.weight"}
    features = torch.randn(1, 8, 60)
    decoder_ids = torch.tensor([[1, 5, 7]])
    with torch.no_grad():
        expected = tiny_whisper(input_features=features, decoder_input_ids=decoder_ids).logits
        got = rebuilt(input_features=features, decoder_input_ids=decoder_ids).logits
    assert torch.allclose(expected, got, atol=1e-5)


def test_whisper_mapping_refuses_unknown_variables(tmp_path, tiny_whisper):
    variables = export_whisper(tiny_whisper)
    variables["encoder/layer_0/self_attention/rotary/weight"] = np.ones(2, np.float16)
    write_model_bin(tmp_path / "model.bin", variables)
    with pytest.raises(ValueError, match="rotary/weight has no transformers name"):
        whisper_state_dict(read_model_bin(tmp_path / "model.bin"))
