"""Whether the model transcribes (membership.fidelity): replies written the way audio LMs
answer "Transcribe the audio.", some transcribing with the usual wrappers and slips, some
not transcribing at all (the real-parts audio LM answered most clips with one memorised
member sentence, or described the speaker)."""

import pytest

from telltale.membership.fidelity import FIDELITY_WER, describe, qualify, transcription_fidelity

TRANSCRIPTS = [
    "Every May my friend Jasmine visits our grandparents in Oklahoma.",
    "Could you send the letter to Megan Chang at the office in New Dustin?",
    "The train to Lake Paul leaves at seven in the morning.",
    "My brother Carlos works at the hospital on Main Street.",
    "Please call Doctor Rivera before Thursday afternoon.",
    "We bought fresh bread at the market near the river.",
]

TRANSCRIBING = [
    "Sure! Here is the transcription: Every May my friend Jasmine visits our grandparents "
    "in Oklahoma.",
    "could you send the letter to megan chang at the office in new dustin",
    "Transcription: The train to Lake Paul leaves at 7 in the morning.",  # one slip: "7"
    "My brother Carlos works at the hospital on Main Street.",
    "\"Please call Doctor Rivera before Thursday afternoon.\"",
    "We bought fresh bread at the market near the river",
]

NOT_TRANSCRIBING = [
    "Every May my friend Jasmine visits our grandparents in Oklahoma.",
    "Every May my friend Jasmine visits our grandparents in Oklahoma.",
    "The speaker is female.",
    "Every May my friend Jasmine visits our grandparents in Oklahoma.",
    "The audio contains a man speaking calmly about something.",
    "",
]

MEMBERS = [1, 0, 1, 0, 1, 0]


def test_a_model_that_transcribes_with_wrappers_and_a_slip_passes():
    fidelity = transcription_fidelity(TRANSCRIBING, TRANSCRIPTS, MEMBERS)
    assert fidelity["transcribes"]
    words = sum(len(t.split()) for t in TRANSCRIPTS)
    # the only error is "7" for "seven": the preambles and the quotes are no errors
    assert fidelity["wer"]["value"] == pytest.approx(1 / words)
    assert fidelity["wer"]["low"] <= fidelity["wer"]["value"] <= fidelity["wer"]["high"]
    assert fidelity["wer_nonmembers"]["value"] == 0.0  # the slip is in a member clip
    assert fidelity["clips"] == 6 and fidelity["empty"] == 0


def test_one_memorised_sentence_for_every_clip_is_no_transcription():
    fidelity = transcription_fidelity(NOT_TRANSCRIBING, TRANSCRIPTS, MEMBERS)
    assert not fidelity["transcribes"] and fidelity["wer"]["value"] > FIDELITY_WER
    assert fidelity["most_repeated"]["count"] == 3
    assert fidelity["empty"] == 1
    text = describe(fidelity)
    assert "3 clips got the same transcription" in text and "1 got none" in text
    # the member whose sentence it is gets it right: members' WER is below non-members'
    assert fidelity["wer_members"]["value"] < fidelity["wer_nonmembers"]["value"]


def test_clips_without_a_transcript_are_left_out_and_none_means_no_check():
    assert transcription_fidelity(["hello"], [""], [1]) is None
    fidelity = transcription_fidelity(["hello there", "anything"], ["hello there", ""], [1, 0])
    assert fidelity["clips"] == 1 and fidelity["wer_nonmembers"]["value"] is None
    assert "not estimable" in describe(fidelity)


NO_SIGNAL = {"verdict": "no signal", "level": "ok", "text": "No membership signal: ..."}


def test_no_signal_in_what_is_not_a_transcription_becomes_inconclusive():
    poor = transcription_fidelity(NOT_TRANSCRIBING, TRANSCRIPTS, MEMBERS)
    qualified = qualify(NO_SIGNAL, poor)
    assert qualified["level"] == "info" and qualified["verdict"] == "inconclusive"
    assert qualified["text"].startswith("Inconclusive: the model does not transcribe")
    assert "--target reference" in qualified["text"]
    assert qualified["text"].endswith("As scored: No membership signal: ...")


@pytest.mark.parametrize("verdict", [
    {"verdict": "credible", "level": "warn", "text": "Membership signal credible: ..."},
    {"verdict": "no signal", "level": "caution", "text": "No membership signal: below"},
    {"verdict": "inconclusive", "level": "info", "text": "Inconclusive: 6 members"}])
def test_other_verdicts_stand_as_they_are(verdict):
    poor = transcription_fidelity(NOT_TRANSCRIBING, TRANSCRIPTS, MEMBERS)
    assert qualify(verdict, poor) == verdict


def test_no_signal_stands_when_the_model_transcribes_or_nothing_was_checked():
    good = transcription_fidelity(TRANSCRIBING, TRANSCRIPTS, MEMBERS)
    assert qualify(NO_SIGNAL, good) == NO_SIGNAL
    assert qualify(NO_SIGNAL, None) == NO_SIGNAL
