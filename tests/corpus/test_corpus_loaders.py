"""Each loader on a small tree built in the corpus's real layout, with real audio."""

import shutil
import subprocess

import numpy as np
import pytest
import soundfile as sf

from telltale.corpus import loaders
from telltale.manifest import load_manifest
from telltale.media.audio import load_audio


def speech(path, text="hello world", voice="en-us"):
    wav = path.with_suffix(".tmp.wav")
    subprocess.run(["espeak-ng", "-v", voice, "-w", str(wav), text], check=True, timeout=60)
    if path.suffix == ".mp3":
        subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-y", "-i", str(wav), str(path)],
                       check=True, timeout=60)
    else:
        data, rate = sf.read(wav)
        sf.write(path, data, rate)
    wav.unlink()


def test_librispeech(tmp_path):
    root = tmp_path / "LibriSpeech"
    (root / "SPEAKERS.TXT").parent.mkdir(parents=True)
    (root / "SPEAKERS.TXT").write_text("; ID  |SEX| SUBSET | MINUTES | NAME\n"
                                       "19   | F | train-clean-100 | 25.19 | Kara Shallenberg\n"
                                       "1089 | M | test-clean | 25.00 | Somebody\n")
    for split, spk, chap in (("train-clean-100", "19", "198"), ("test-clean", "1089", "134686")):
        folder = root / split / spk / chap
        folder.mkdir(parents=True)
        lines = []
        for utt in range(2):
            uid = f"{spk}-{chap}-{utt:04d}"
            speech(folder / f"{uid}.flac", f"utterance {utt}")
            lines.append(f"{uid} UTTERANCE {utt}")
        (folder / f"{spk}-{chap}.trans.txt").write_text("\n".join(lines) + "\n")
    out = loaders.load_librispeech(root, tmp_path / "ls.csv", member_splits=["train-*"],
                                   nonmember_splits=["test-*"])
    samples, problems = load_manifest(out, require=("audio", "text", "member"))
    assert not problems and len(samples) == 4
    by_id = {s.id: s for s in samples}
    assert by_id["19-198-0000"].extra["gender"] == "female" and by_id["19-198-0000"].member == 1
    assert by_id["1089-134686-0001"].member == 0
    assert by_id["1089-134686-0001"].text == "utterance 1"
    assert len(load_audio(by_id["19-198-0000"].media)) > 1000


def test_vctk(tmp_path):
    root = tmp_path / "VCTK"
    root.mkdir()
    (root / "speaker-info.txt").write_text(
        "ID  AGE  GENDER  ACCENTS  REGION COMMENTS\n"
        "p225  23  F    English    Southern  England\n"
        "p234  22  F    Scottish  West Dumfries\n")
    for spk in ("p225", "p234"):
        (root / "wav48_silence_trimmed" / spk).mkdir(parents=True)
        (root / "txt" / spk).mkdir(parents=True)
        for utt in ("001", "002"):
            speech(root / "wav48_silence_trimmed" / spk / f"{spk}_{utt}_mic1.flac")
            shutil.copy(root / "wav48_silence_trimmed" / spk / f"{spk}_{utt}_mic1.flac",
                        root / "wav48_silence_trimmed" / spk / f"{spk}_{utt}_mic2.flac")
            (root / "txt" / spk / f"{spk}_{utt}.txt").write_text(f"Please call Stella {utt}.\n")
    samples, problems = load_manifest(loaders.load_vctk(root, tmp_path / "v.jsonl"))
    assert not problems and len(samples) == 4  # one microphone per utterance
    s = {x.id: x for x in samples}["p234_002"]
    assert s.extra["accent"] == "scottish" and s.extra["age"] == "20-30"
    assert s.extra["gender"] == "female" and s.text == "Please call Stella 002."


def test_commonvoice_mp3(tmp_path):
    if shutil.which("ffmpeg") is None:
        pytest.skip("ffmpeg is needed to write MP3 like Common Voice ships")
    root = tmp_path / "cv" / "en"
    (root / "clips").mkdir(parents=True)
    rows = [("c1", "common_voice_en_1.mp3", "hello there", "twenties", "male_masculine",
             "England English"),
            ("c2", "common_voice_en_2.mp3", "good night", "fifties", "female_feminine", "")]
    header = "client_id\tpath\tsentence\tup_votes\tdown_votes\tage\tgender\taccents\n"
    lines = [f"{c}\t{p}\t{s}\t2\t0\t{a}\t{g}\t{acc}\n" for c, p, s, a, g, acc in rows]
    (root / "train.tsv").write_text(header + lines[0])
    (root / "test.tsv").write_text(header + lines[1])
    for _, path, text, *_ in rows:
        speech(root / "clips" / path, text)
    out = loaders.load_commonvoice(root, tmp_path / "cv.csv", splits=["train", "test"],
                                   member_splits=["train"], nonmember_splits=["test"])
    samples, problems = load_manifest(out)
    assert not problems
    first, second = samples
    assert (first.extra["age"], first.extra["gender"], first.member) == ("20-30", "male", 1)
    assert (second.extra["age"], second.extra["gender"], second.member) == ("50-60", "female", 0)
    assert abs(len(load_audio(first.media)) / 16000 - 1.0) < 1.0


def test_generic_csv_and_layout_errors(tmp_path):
    speech(tmp_path / "x.wav")
    table = tmp_path / "t.csv"
    table.write_text("utt,file,words,sex\nu1,x.wav,hello world,f\n")
    out = loaders.load_csv(table, tmp_path / "m.csv",
                           {"id": "utt", "audio": "file", "text": "words", "gender": "sex"})
    samples, _ = load_manifest(out)
    assert samples[0].media == (tmp_path / "x.wav").resolve() and samples[0].text == "hello world"
    with pytest.raises(loaders.CorpusLayoutError, match="column.*nope"):
        loaders.load_csv(table, tmp_path / "m2.csv", {"id": "nope"})
    with pytest.raises(loaders.CorpusLayoutError, match="SPEAKERS.TXT not found"):
        loaders.load_librispeech(tmp_path, tmp_path / "l.csv")


def test_pocketsphinx_testdata_real_speech_through_the_audio_pipeline():
    """Real recorded speech (LibriVox excerpts shipped by Debian's pocketsphinx-testdata)."""
    from pathlib import Path

    files = sorted(p for p in Path("/usr/share/pocketsphinx").rglob("*")
                   if p.suffix in (".wav", ".raw", ".flac") and p.stat().st_size > 10000) \
        if Path("/usr/share/pocketsphinx").exists() else []
    wavs = [p for p in files if p.suffix in (".wav", ".flac")]
    if not wavs:
        pytest.skip("pocketsphinx-testdata is not installed (apt-get install it)")
    for path in wavs[:5]:
        audio = load_audio(path)
        assert audio.dtype == np.float32 and audio.ndim == 1
        assert 0.5 < len(audio) / 16000 < 120
        assert np.sqrt(np.mean(audio**2)) > 0.003
