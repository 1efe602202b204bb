import json

import pytest

from telltale.manifest import ManifestError, load_manifest, write_manifest


def write_csv(path, text):
    path.write_text(text)
    return path


def test_csv_jsonl_parquet_load_the_same_samples(media_dir):
    rows = [{"id": "s1", "audio": "a.wav", "text": "hello there", "member": 1,
             "dataset": "x", "gender": "Female"},
            {"id": "s2", "audio": "b.flac", "text": "general kenobi", "member": 0,
             "dataset": "y", "gender": "male", "speaker": "p1"}]
    loaded = []
    for suffix in ("csv", "jsonl", "parquet"):
        path = write_manifest(media_dir / f"m.{suffix}", rows)
        samples, problems = load_manifest(path, labels={"gender": ["male", "female"]})
        assert not problems
        loaded.append([(s.id, s.media, s.kind, s.text, s.member, s.dataset, s.labels)
                       for s in samples])
        assert samples[0].media == (media_dir / "a.wav").resolve()
        assert samples[1].extra["speaker"] == "p1"
    assert loaded[0] == loaded[1] == loaded[2]
    assert loaded[0][0][6] == {"gender": "female"}


def test_every_bad_row_is_reported_at_once(media_dir):
    path = write_csv(media_dir / "bad.csv",
                     "id,audio,text,member,gender\n"
                     "ok,a.wav,fine,1,male\n"
                     "gone,missing.wav,text,0,male\n"
                     "empty,empty.wav,text,1,female\n"
                     "fake,text.wav,text,0,female\n"
                     "notext,a.wav,,1,male\n"
                     "badlabel,a.wav,text,0,robot\n"
                     "badmember,a.wav,text,maybe,male\n"
                     "ok,a.wav,dup,1,male\n")
    with pytest.raises(ManifestError) as err:
        load_manifest(path, require=("audio", "text", "member"),
                      labels={"gender": ["male", "female"]})
    problems = {(p.row, p.column): p.reason for p in err.value.problems}
    assert set(problems) == {(2, "audio"), (3, "audio"), (4, "audio"), (5, "text"),
                             (6, "gender"), (7, "member"), (8, "id")}
    assert "file not found" in problems[(2, "audio")]
    assert "file is empty" in problems[(3, "audio")]
    assert "text.wav" in problems[(4, "audio")]
    assert "unknown label value 'robot'" in problems[(6, "gender")]
    assert "duplicate id" in problems[(8, "id")]
    message = str(err.value)
    assert "bad.csv" in message and "row 6" in message


def test_skip_mode_keeps_good_rows_and_returns_reasons(media_dir):
    path = write_csv(media_dir / "mixed.csv", "id,audio,text\nok,a.wav,hi\nbad,missing.wav,hi\n")
    samples, problems = load_manifest(path, on_error="skip")
    assert [s.id for s in samples] == ["ok"]
    assert len(problems) == 1 and problems[0].sample_id == "bad" and problems[0].row == 2


def test_structural_errors_name_the_file(media_dir, tmp_path):
    with pytest.raises(ManifestError, match="manifest file not found"):
        load_manifest(tmp_path / "nope.csv")
    with pytest.raises(ManifestError, match="missing column"):
        load_manifest(write_csv(tmp_path / "noid.csv", "audio,text\na.wav,x\n"))
    with pytest.raises(ManifestError, match="no rows"):
        load_manifest(write_csv(tmp_path / "empty.csv", "id,audio\n"))
    bad_json = tmp_path / "m.jsonl"
    bad_json.write_text(json.dumps({"id": "a"}) + "\n{oops\n")
    with pytest.raises(ManifestError, match="row 2 is not valid JSON"):
        load_manifest(bad_json)
    with pytest.raises(ManifestError, match="unknown manifest format"):
        load_manifest(write_csv(tmp_path / "m.txt", "id\n1\n"))


def test_bad_audio_content_is_a_manifest_problem_with_row_and_reason(tmp_path):
    import numpy as np
    import soundfile as sf

    from telltale.manifest import load_manifest

    rate = 16000
    voice = (0.1 * np.sin(np.linspace(0, 800, rate))).astype("float32")
    clips = {"ok": voice, "nan": np.where(np.arange(rate) == 99, np.nan, voice),
             "inf": np.where(np.arange(rate) == 7, np.inf, voice),
             "quiet": np.zeros(rate, dtype="float32"),
             "long": np.tile(voice, 12)}
    rows = ["id,audio"]
    for name, audio in clips.items():
        sf.write(tmp_path / f"{name}.wav", audio.astype("float32"), rate, subtype="FLOAT")
        rows.append(f"{name},{name}.wav")
    (tmp_path / "m.csv").write_text("\n".join(rows) + "\n")
    samples, problems = load_manifest(tmp_path / "m.csv", require=("audio",), max_seconds=10,
                                      on_error="skip")
    assert [s.id for s in samples] == ["ok"]
    reasons = {p.sample_id: str(p) for p in problems}
    assert "NaN or infinite" in reasons["nan"] and "NaN or infinite" in reasons["inf"]
    assert "silence only" in reasons["quiet"]
    assert "12.0 s long, more than the 10 s allowed" in reasons["long"]
    assert all("m.csv" in r and "row" in r and "audio" in r for r in reasons.values())
