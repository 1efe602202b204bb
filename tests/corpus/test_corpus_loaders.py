"""Each loader on a small tree built in the corpus's real layout, with real speech audio in
the corpus's real format; and Debian's recorded LibriVox speech through the audio pipeline."""

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from telltale.cli import main as telltale_main
from telltale.corpus import loaders
from telltale.corpus.tts import available_voices, median_f0, synthesize
from telltale.manifest import load_manifest
from telltale.media.audio import audio_info, load_audio, resample

pytestmark = pytest.mark.skipif(not available_voices(("espeak-ng",)),
                                reason="espeak-ng is needed to make the test speech")


VOICES = available_voices(("espeak-ng",))


def speak(path: Path, text: str = "hello world", gender: str = "male",
          accent: str = "american", rate: int = 16000) -> Path:
    """Real speech from espeak-ng at ``rate`` Hz, written in the format ``path``'s suffix
    names (MP3 through ffmpeg when it is installed, else libsndfile)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    voice = next(v for v in VOICES if (v.gender, v.accent) == (gender, accent))
    audio = resample(synthesize(text, voice), 16000, rate)
    if path.suffix == ".mp3" and shutil.which("ffmpeg"):
        wav = path.with_suffix(".tmp.wav")
        sf.write(wav, audio, rate)
        subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-y", "-i", str(wav),
                        "-codec:a", "libmp3lame", "-b:a", "48k", str(path)],
                       check=True, timeout=60)
        wav.unlink()
    else:
        sf.write(path, audio, rate, format=path.suffix[1:].upper())
    return path


def test_librispeech(tmp_path):
    root = tmp_path / "LibriSpeech"
    root.mkdir()
    (root / "SPEAKERS.TXT").write_text(
        "; LibriSpeech ASR corpus\n;\n; ID      |SEX| SUBSET           |MINUTES| NAME\n"
        "19       | F | train-clean-100  | 25.19 | Kara Shallenberg\n"
        "60       | M | train-clean-100  | 20.18 | |CBW|Simon\n"
        "1089     | M | test-clean       | 25.00 | Andrew Lebrun\n")
    for split, spk, chap in (("train-clean-100", "19", "198"), ("train-clean-100", "60", "121"),
                             ("test-clean", "1089", "134686")):
        folder = root / split / spk / chap
        lines = []
        for utt in range(2):
            uid = f"{spk}-{chap}-{utt:04d}"
            speak(folder / f"{uid}.flac", f"utterance number {utt}")
            lines.append(f"{uid} UTTERANCE NUMBER {utt}")
        lines.append(f"{spk}-{chap}-0009 A LINE WHOSE AUDIO IS MISSING")
        (folder / f"{spk}-{chap}.trans.txt").write_text("\n".join(lines) + "\n")
    assert audio_info(root / "test-clean/1089/134686/1089-134686-0000.flac")["format"] == "FLAC"

    out = loaders.load_librispeech(root, tmp_path / "ls.csv", member_splits=["train-*"],
                                   nonmember_splits=["test-*"])
    samples, problems = load_manifest(out, require=("audio", "text", "member", "gender"))
    assert not problems and len(samples) == 6
    by_id = {s.id: s for s in samples}
    first = by_id["19-198-0000"]
    assert (first.extra["gender"], first.member, first.dataset) == \
        ("female", 1, "librispeech/train-clean-100")
    assert by_id["60-121-0001"].extra["gender"] == "male"
    last = by_id["1089-134686-0001"]
    assert (last.member, last.text, last.extra["speaker"]) == (0, "utterance number 1", "1089")
    assert len(load_audio(first.media)) / 16000 > 0.5

    # a split folder on its own, upper-case transcripts kept
    split_only = loaders.load_librispeech(root / "test-clean", tmp_path / "t.jsonl",
                                          lowercase=False)
    samples, _ = load_manifest(split_only)
    assert [s.text for s in samples] == ["UTTERANCE NUMBER 0", "UTTERANCE NUMBER 1"]
    assert all(s.member is None for s in samples)
    with pytest.raises(loaders.CorpusLayoutError, match="SPEAKERS.TXT not found"):
        loaders.load_librispeech(tmp_path / "nowhere", tmp_path / "l.csv")


@pytest.mark.parametrize("release", ["0.92", "0.80"])
def test_vctk(tmp_path, release):
    root = tmp_path / "VCTK"
    prefix = "p" if release == "0.92" else ""
    (root / "speaker-info.txt").parent.mkdir(parents=True)
    (root / "speaker-info.txt").write_text(
        "ID  AGE  GENDER  ACCENTS  REGION COMMENTS \n"
        f"{prefix}225  23  F    English    Southern  England\n"
        f"{prefix}234  22  F    Scottish  West Dumfries\n"
        f"{prefix}280  25  F    France    (mic2 files unavailable)\n"
        f"{prefix}326  26  M    Australian  English    Sydney\n")
    for spk, gender, accent in (("p225", "female", "british"), ("p234", "female", "scottish"),
                                ("p280", "female", "british"), ("p326", "male", "british")):
        for utt in ("001", "002"):
            text = f"Please call Stella number {utt}."
            (root / "txt" / spk).mkdir(parents=True, exist_ok=True)
            (root / "txt" / spk / f"{spk}_{utt}.txt").write_text(text + "\n")
            if release == "0.80":
                speak(root / "wav48" / spk / f"{spk}_{utt}.wav", text, gender, accent, 48000)
                continue
            folder = root / "wav48_silence_trimmed" / spk
            mic1 = speak(folder / f"{spk}_{utt}_mic1.flac", text, gender, accent, 48000)
            if spk != "p280":
                shutil.copy(mic1, folder / f"{spk}_{utt}_mic2.flac")
    if release == "0.92":  # an utterance with only its mic2 recording, one with no text
        (root / "wav48_silence_trimmed/p225/p225_001_mic1.flac").unlink()
        speak(root / "wav48_silence_trimmed/p225/p225_003_mic1.flac", "no transcript",
              rate=48000)

    out = loaders.load_vctk(root, tmp_path / "v.jsonl", member_speakers=["p2*"],
                            nonmember_speakers=["p3*"])
    samples, problems = load_manifest(out, require=("audio", "text", "gender", "age"))
    assert not problems and len(samples) == 8  # one recording per utterance
    by_id = {s.id: s for s in samples}
    s = by_id["p234_002"]
    assert (s.extra["accent"], s.extra["region"], s.extra["age"], s.extra["age_years"]) == \
        ("scottish", "west dumfries", "20-30", "22")
    assert (s.extra["gender"], s.text, s.member) == ("female", "Please call Stella number 002.", 1)
    assert by_id["p280_001"].extra["accent"] == "france"
    assert "region" not in by_id["p280_001"].extra  # the comment is not a region
    assert (by_id["p326_001"].extra["gender"], by_id["p326_001"].member) == ("male", 0)
    if release == "0.92":
        assert by_id["p225_001"].media.name == "p225_001_mic2.flac"
        assert by_id["p225_002"].media.name == "p225_002_mic1.flac"
    # the female and male test speakers really differ in pitch
    assert median_f0(load_audio(by_id["p225_002"].media)) > \
        median_f0(load_audio(by_id["p326_002"].media)) + 40


@pytest.mark.parametrize("generation", ["new", "old"])
def test_commonvoice(tmp_path, generation):
    if shutil.which("ffmpeg") is None and "MP3" not in sf.available_formats():
        pytest.skip("neither ffmpeg nor libsndfile can write MP3, the format Common Voice ships")
    male, female = (("male_masculine", "female_feminine") if generation == "new"
                    else ("male", "female"))
    root = tmp_path / "cv-corpus" / "en"
    rows = [("c1", "common_voice_en_1.mp3", "Hello there, \"friend\".", "twenties", male,
             "England English", ("male", "british")),
            ("c2", "common_voice_en_2.mp3", "Good night.", "fifties", female, "",
             ("female", "american")),
            ("c3", "common_voice_en_3.mp3", "Not recorded.", "", "", "", ("male", "american"))]
    header = "client_id\tpath\tsentence\tup_votes\tdown_votes\tage\tgender\taccents\n"
    lines = [f"{c}\t{p}\t{s}\t2\t0\t{a}\t{g}\t{acc}\n" for c, p, s, a, g, acc, _ in rows]
    root.mkdir(parents=True)
    (root / "validated.tsv").write_text(header + "".join(lines))
    (root / "train.tsv").write_text(header + lines[0])
    (root / "test.tsv").write_text(header + lines[1] + lines[2])
    for _, path, text, *_, voice in rows[:2]:  # c3's clip is missing
        speak(root / "clips" / path, text, *voice, rate=48000)
    head = (root / "clips" / rows[0][1]).read_bytes()[:3]
    assert head == b"ID3" or head[0] == 0xFF  # an ID3 tag or an MPEG frame sync

    out = loaders.load_commonvoice(root, tmp_path / "cv.csv",
                                   splits=["validated", "train", "test"],
                                   member_splits=["train"], nonmember_splits=["test"])
    samples, problems = load_manifest(out, require=("audio", "text"))
    assert not problems and len(samples) == 2
    first, second = sorted(samples, key=lambda s: s.id)
    assert first.text == 'Hello there, "friend".'
    assert (first.extra["age"], first.extra["gender"], first.member, first.dataset) == \
        ("20-30", "male", 1, "commonvoice/train")
    assert first.extra["accent"] == "england english"
    assert (second.extra["age"], second.extra["gender"], second.member) == ("50-60", "female", 0)
    audio = load_audio(first.media)
    assert audio.dtype == np.float32 and 0.5 < len(audio) / 16000 < 4
    with pytest.raises(loaders.CorpusLayoutError, match=r"dev.tsv not found \(TSVs here: "):
        loaders.load_commonvoice(root, tmp_path / "x.csv", splits=["dev"])


def test_generic_csv(tmp_path):
    for name in ("a", "b", "c"):
        speak(tmp_path / "wavs" / f"{name}.wav", f"clip {name}")
    table = tmp_path / "table.csv"
    table.write_text("utt,file,words,sex,part\n"
                     "u1,wavs/a.wav,clip a,f,train\nu2,wavs/b.wav,clip b,m,heldout\n"
                     f"u3,{(tmp_path / 'wavs/c.wav').resolve()},clip c,m,other\n"
                     "u4,wavs/missing.wav,gone,f,train\n")
    out = loaders.load_csv(table, tmp_path / "m" / "manifest.csv",
                           {"id": "utt", "audio": "file", "text": "words", "gender": "sex"},
                           split_column="part", member_splits=["train"],
                           nonmember_splits=["heldout"])
    samples, problems = load_manifest(out)
    assert not problems and [s.id for s in samples] == ["u1", "u2", "u3"]
    assert samples[0].media == (tmp_path / "wavs/a.wav").resolve()
    assert [s.member for s in samples] == [1, 0, None]
    assert samples[1].dataset == "table/heldout" and samples[0].extra["gender"] == "f"
    with pytest.raises(loaders.CorpusLayoutError, match=r"column\(s\) nope not found"):
        loaders.load_csv(table, tmp_path / "m2.csv", {"id": "nope", "audio": "file"})
    with pytest.raises(loaders.CorpusLayoutError, match="must give 'id' and 'audio'"):
        loaders.load_csv(table, tmp_path / "m2.csv", {"id": "utt"})
    with pytest.raises(ValueError, match="matches both"):
        loaders.membership("train", ["tr*"], ["*ain"])


def test_cli_writes_manifests(tmp_path, capsys):
    speak(tmp_path / "x.wav")
    (tmp_path / "t.tsv").write_text("utt\tfile\nu1\tx.wav\n")
    assert telltale_main(["corpus", "csv", str(tmp_path / "t.tsv"), "--tsv", "--out",
                          str(tmp_path / "m.csv"), "--map", "id=utt,audio=file"]) == 0
    assert load_manifest(tmp_path / "m.csv")[0][0].id == "u1"
    assert telltale_main(["corpus", "vctk", str(tmp_path), "--out", str(tmp_path / "v.csv")]) == 2
    assert telltale_main(["corpus", "speech", "--out", str(tmp_path / "s"), "--clips", "2",
                          "--engines", "espeak-ng"]) == 0
    assert capsys.readouterr().out.strip().endswith("manifest.csv")
    assert len(load_manifest(tmp_path / "s" / "manifest.csv")[0]) == 2


def _pocketsphinx_files() -> list[Path]:
    try:
        listed = subprocess.run(["dpkg", "-L", "pocketsphinx-testdata"], capture_output=True,
                                text=True, timeout=30)
    except OSError:
        return []
    return [Path(p) for p in listed.stdout.split() if p.endswith(".wav") and Path(p).is_file()]


def test_pocketsphinx_librivox_recordings_through_the_audio_pipeline(tmp_path):
    """Real recorded speech: the LibriVox excerpts in Debian's pocketsphinx-testdata, read
    with their transcripts through the generic CSV loader, the manifest and load_audio."""
    wavs = _pocketsphinx_files()
    if not wavs:
        pytest.skip("Debian package pocketsphinx-testdata is not installed "
                    "(apt-get install pocketsphinx-testdata)")
    librivox = [p for p in wavs if p.parent.name == "librivox"]
    transcripts = {}
    if librivox:
        # lines look like "<s> he was not an ill disposed young man </s> (file-id)"
        for line in (librivox[0].parent / "transcription").read_text().splitlines():
            words, _, file_id = line.rpartition("(")
            transcripts[file_id.strip(") ")] = words.replace("<s>", "").replace("</s>", "")
    table = tmp_path / "real.csv"
    table.write_text("id,path,text\n" + "".join(
        f"{p.stem},{p},{transcripts.get(p.stem, '').strip()}\n" for p in wavs))
    out = loaders.load_csv(table, tmp_path / "real_manifest.csv",
                           {"id": "id", "audio": "path", "text": "text"})
    samples, problems = load_manifest(out)
    assert not problems and len(samples) == len(wavs)
    for sample in samples:
        audio = load_audio(sample.media)
        seconds = len(audio) / 16000
        assert audio.dtype == np.float32 and audio.ndim == 1
        assert 0.5 < seconds < 60
        assert np.sqrt(np.mean(audio.astype(np.float64) ** 2)) > 0.01
        assert 70 < median_f0(audio) < 300  # an adult voice
        if sample.text:  # read speech runs at 1 to 5 words a second
            assert 1 < len(sample.text.split()) / seconds < 5
