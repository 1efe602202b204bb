"""Model specs are checked like command-line options, before anything loads: an unknown or
out-of-range ``,name=value`` of an ``openai:`` spec, an unknown ``?name=value`` or a missing
adapter folder of a ``docassistant:`` spec are refused naming the option (never echoing a
value, which may be a key)."""

import pytest

from telltale.cli import main
from telltale.config import ConfigError, RunOptions
from telltale.models import ModelSpecError, check_spec
from telltale.models.openai_spec import parse_openai_spec

URL = "http://127.0.0.1:9/v1"


@pytest.mark.parametrize("tail, message", [
    (",concurrancy=4", "openai spec option 'concurrancy' is unknown; the spec takes timeout"),
    (",concurrency=0", "concurrency=0: must be at least 1"),
    (",timeout=0", "timeout=0: must be above 0"),
    (",retries=-1", "retries=-1: must be at least 0"),
    (",top_logprobs=0", "top_logprobs=0: must be at least 1"),
    (",timeout=30,concurency=8", "'concurency' is unknown"),
])
def test_bad_openai_spec_options_are_refused_naming_them(tail, message):
    for option in ("model", "judge"):
        with pytest.raises(ConfigError) as err:
            RunOptions(out="x", **{option: f"openai:m@{URL}{tail}"})
        assert str(err.value).startswith(f"--{option}: openai spec option ")
        assert message in str(err.value)


def test_an_unknown_option_never_echoes_its_value_nor_joins_the_url():
    with pytest.raises(ModelSpecError) as err:
        check_spec(f"openai:m@{URL},api_key=sk-PLANTED1234")
    assert "'api_key' is unknown" in str(err.value) and "PLANTED" not in str(err.value)
    assert parse_openai_spec(f"m@{URL},timeout=30,concurrency=256") == (
        "m", URL, {"timeout": 30.0, "concurrency": 256})


def test_docassistant_spec_takes_an_adapter_folder(tmp_path):
    from telltale.models.docassistant import split_spec

    (tmp_path / "lora").mkdir()
    assert split_spec(f"rapidocr?adapter={tmp_path / 'lora'}") == (
        "rapidocr", {"adapter": str(tmp_path / "lora")})
    assert split_spec("tesseract") == ("tesseract", {})
    check_spec(f"docassistant:rapidocr?adapter={tmp_path / 'lora'}&attn=eager")
    for spec, message in ((f"docassistant:rapidocr?adapter={tmp_path / 'none'}",
                           "no adapter directory at"),
                          ("docassistant:rapidocr?lora=x", "option 'lora=x' not understood"),
                          ("docassistant:easyocr", "unknown OCR engine 'easyocr'")):
        with pytest.raises(ModelSpecError, match=message):
            check_spec(spec)


def test_a_bad_spec_option_stops_the_command_before_anything_is_written(tmp_path, capsys):
    (tmp_path / "m.csv").write_text("id,audio,gender\n")
    status = main(["attributes", "--model", f"openai:m@{URL},concurrency=0", "--data",
                   str(tmp_path / "m.csv"), "--out", str(tmp_path / "run")])
    assert status == 2 and "concurrency=0: must be at least 1" in capsys.readouterr().err
    assert not (tmp_path / "run").exists()
