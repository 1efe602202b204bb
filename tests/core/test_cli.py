"""The command line: one option vocabulary, defaults in every --help, global options after
the subcommand, and commands that open a run create nothing."""

import argparse

from telltale.cli import build_parser, main


def _subcommands(parser: argparse.ArgumentParser, prefix=()):
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield (*prefix, name), sub
                yield from _subcommands(sub, (*prefix, name))


def test_every_default_is_shown_in_help():
    missing = []
    for path, sub in _subcommands(build_parser()):
        text = " ".join(sub.format_help().split())
        for action in sub._actions:
            # by identity: a default of 0 (a seed) is a default to show, though 0 == False
            shown = any(action.default is v for v in (None, False, True, argparse.SUPPRESS)) \
                or f"(default: {action.default})" in text
            if action.option_strings and not shown:
                missing.append(f"{' '.join(path)} {action.option_strings[0]}")
    assert not missing, missing


def test_one_name_per_meaning_across_audits():
    flags = {}
    for path, sub in _subcommands(build_parser()):
        flags[" ".join(path)] = {s for a in sub._actions for s in a.option_strings}
    for retired in ("--no-blind", "--blind-permutations", "--templates", "-n"):
        assert not [cmd for cmd, names in flags.items() if retired in names], retired
    for command in ("attributes", "membership", "blind", "disclosure", "retention"):
        assert {"--out", "--seed", "-q"} <= flags[command], command
    assert "--permutations" in flags["membership"] and "--permutations" in flags["blind"]


def test_global_options_are_accepted_after_the_subcommand():
    args = build_parser().parse_args(["report", "somewhere", "-q"])
    assert args.quiet is True


def test_report_and_score_on_a_missing_run_fail_and_create_nothing(tmp_path, capsys):
    for command in ("report", "score"):
        assert main([command, str(tmp_path / "typo")]) == 2
        assert "typo" in capsys.readouterr().err
        assert not (tmp_path / "typo").exists()


def test_a_dead_endpoint_ends_the_run_at_once_naming_no_secret(tmp_path, capsys):
    import time

    import numpy as np
    import soundfile as sf

    rows = ["id,audio,gender"]
    for i in range(4):
        sf.write(tmp_path / f"c{i}.wav", (0.1 * np.sin(np.arange(8000) * 0.05 * (i + 1)))
                 .astype("float32"), 16000)
        rows.append(f"c{i},c{i}.wav,{'male' if i % 2 else 'female'}")
    (tmp_path / "m.csv").write_text("\n".join(rows) + "\n")
    start = time.monotonic()
    # port 9 (discard) has nothing listening here
    status = main(["attributes", "--model", "openai:m@http://u:PLANTEDKEY1@127.0.0.1:9/v1"
                   "?api_key=PLANTEDKEY2", "--data", str(tmp_path / "m.csv"), "--out",
                   str(tmp_path / "run"), "--attributes", "gender", "--modes", "direct",
                   "--no-cache"])
    err = capsys.readouterr().err
    assert status == 1 and time.monotonic() - start < 60
    assert "refused the connection or could not be reached" in err
    assert "PLANTEDKEY" not in err
    assert not any("PLANTEDKEY" in p.read_text(errors="replace")
                   for p in (tmp_path / "run").rglob("*") if p.is_file())


def test_bad_attribute_data_is_refused_before_anything_is_written(tmp_path, capsys):
    (tmp_path / "fake.wav").write_text("hello")
    (tmp_path / "bad.csv").write_text("id,audio,gender\na,fake.wav,male\nb,gone.wav,female\n")
    model = tmp_path / "model"
    model.mkdir()
    status = main(["attributes", "--model", f"hf:{model}", "--data",
                   str(tmp_path / "bad.csv"), "--out", str(tmp_path / "run"),
                   "--attributes", "gender"])
    err = capsys.readouterr().err
    assert status == 2 and "row 1 (id a)" in err and "row 2 (id b)" in err and "gone.wav" in err
    assert not (tmp_path / "run").exists()
