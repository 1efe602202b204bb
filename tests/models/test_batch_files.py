"""The batch-file route: a run's requests written in the OpenAI Batch API format and the
output read back into its records.

The engine here is the scripted server of test_openai_backend.py (real HTTP; it scores a
final assistant turn the way vLLM does): ``engine`` runs a requests file through it the
way vLLM's run_batch and hosted batch APIs do, writing each output line in the documented
format (``{"id", "custom_id", "response": {"status_code", "request_id", "body"},
"error"}``). vLLM's own run_batch is tested by scripts/test_vllm_batch.sh (make
test-vllm-batch), which needs its own environment.
"""

import csv
import json

import httpx
import pytest
import soundfile as sf
from scripted import Flaky

from telltale.cli import main


def engine(url: str, requests_file, out, skip=(), fail=(), model=None) -> None:
    """Answer every request of ``requests_file`` through the server at ``url`` into the
    output file ``out``; ``skip``: custom_ids left unanswered, ``fail``: answered with an
    error, as an engine reports a request it rejected; ``model`` rewrites the body's
    model name (another model, or a hosted API's dated snapshot)."""
    lines = []
    for n, line in enumerate(requests_file.read_text().splitlines()):
        request = json.loads(line)
        assert request["method"] == "POST" and request["url"] == "/v1/chat/completions"
        if request["custom_id"] in skip:
            continue
        if request["custom_id"] in fail:
            response = {"status_code": 400, "request_id": f"req-{n}",
                        "body": {"error": {"message": "At most 0 audio(s) may be provided",
                                           "type": "invalid_request_error"}}}
        else:
            body = httpx.post(f"{url}/chat/completions", json=request["body"], timeout=30).json()
            body["model"] = model or request["body"]["model"]
            response = {"status_code": 200, "request_id": f"req-{n}", "body": body}
        lines.append({"id": f"batch_req_{out.stem}_{n}", "custom_id": request["custom_id"],
                      "response": response, "error": None})
    out.write_text("".join(json.dumps(line) + "\n" for line in reversed(lines)))


@pytest.fixture
def manifest(tmp_path, speech_clips):
    rows = []
    for i, clip in enumerate(speech_clips):
        sf.write(tmp_path / f"clip{i}.wav", clip, 16000)
        rows.append({"id": f"s{i}", "audio": f"clip{i}.wav", "text": "the quick brown fox",
                     "gender": ("female", "male")[i % 2], "member": i % 2})
    with open(tmp_path / "voices.csv", "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return tmp_path / "voices.csv"


def attributes(model: str, manifest, out) -> int:
    return main(["-q", "attributes", "--model", model, "--data", str(manifest), "--attributes",
                 "gender", "--modes", "direct", "--no-cache", "--out", str(out)])


def records(run) -> dict[str, dict]:
    path = run / "records.jsonl"
    rows = [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []
    return {r["key"]: r for r in rows}


CAPS = "capabilities=generate+audio+image+score+stats_on_generate"


def test_requests_are_what_the_backend_sends_and_read_back_to_the_same_records(
        flaky, manifest, tmp_path, monkeypatch):
    _, url = flaky
    monkeypatch.chdir(tmp_path)
    assert attributes(f"openai:m@{url}", manifest, tmp_path / "live") == 0
    sent = sorted(json.dumps(b, sort_keys=True) for b in Flaky.bodies if "seed" in b)
    live = records(tmp_path / "live")
    Flaky.hits = 0
    run = tmp_path / "batch"
    assert attributes(f"openai:m@batch,{CAPS}", manifest, run) == 0
    assert Flaky.hits == 0 and not records(run)  # nothing sent, nothing answered yet
    requests = [json.loads(line) for line in
                (run / "batch" / "requests-1.jsonl").read_text().splitlines()]
    # custom_id is the probe's key; the body is exactly what went over HTTP
    assert sorted(r["custom_id"] for r in requests) == sorted(live)
    assert sorted(json.dumps(r["body"], sort_keys=True) for r in requests) == sent

    keys = sorted(live)
    engine(url, run / "batch" / "requests-1.jsonl", tmp_path / "out-1.jsonl",
           skip={keys[0]}, fail={keys[1]})
    assert main(["-q", "batch", "read", str(run), str(tmp_path / "out-1.jsonl")]) == 0
    got = records(run)
    assert set(got) == set(keys[1:])  # the unanswered request is still pending
    assert "HTTP 400: At most 0 audio(s)" in got[keys[1]]["error"]
    assert not (run / "results.json").exists()  # scored once nothing is pending
    for key in keys[2:]:  # the same records as the live run (before scoring)
        unscored = {"parsed": {}, "scores": {}, "parsed_by": {}}
        assert {**got[key], **unscored} == {**live[key], **unscored}
    # the next file holds the unanswered request; the failure is an error record, and
    # the next invocation (a resume) sends it again
    second = [json.loads(line)["custom_id"] for line in
              (run / "batch" / "requests-2.jsonl").read_text().splitlines()]
    assert second == [keys[0]]
    engine(url, run / "batch" / "requests-2.jsonl", tmp_path / "out-2.jsonl")
    # the first output again (already read) and the second
    assert main(["-q", "batch", "read", str(run), str(tmp_path / "out-1.jsonl"),
                 str(tmp_path / "out-2.jsonl")]) == 0
    third = [json.loads(line)["custom_id"] for line in
             (run / "batch" / "requests-3.jsonl").read_text().splitlines()]
    assert third == [keys[1]] and set(records(run)) == set(keys) - {keys[1]}
    engine(url, run / "batch" / "requests-3.jsonl", tmp_path / "out-3.jsonl")
    assert main(["-q", "batch", "read", str(run), str(tmp_path / "out-3.jsonl")]) == 0
    assert records(run) == live  # scored, as the live run was
    assert json.loads((run / "results.json").read_text())["summary"]
    assert not (run / "batch" / "requests-4.jsonl").exists()


def test_output_of_another_run_or_model_is_refused_whole(flaky, manifest, tmp_path,
                                                         monkeypatch, capsys):
    _, url = flaky
    monkeypatch.chdir(tmp_path)
    for name in ("a", "b"):
        assert attributes(f"openai:m@batch,{CAPS}", manifest, tmp_path / name) == 0
    other = tmp_path / "other-probes.csv"
    other.write_text(manifest.read_text().replace("s0,", "x0,"))
    assert attributes(f"openai:m@batch,{CAPS}", other, tmp_path / "c") == 0
    engine(url, tmp_path / "c" / "batch" / "requests-1.jsonl", tmp_path / "from-c.jsonl")
    engine(url, tmp_path / "a" / "batch" / "requests-1.jsonl", tmp_path / "other-model.jsonl",
           model="another-model")
    (tmp_path / "torn.jsonl").write_text('{"custom_id": "s0|gender|direct|original", "resp\n')
    for output, message in (("from-c.jsonl", "custom_id 'x0|gender|.*is no request of the "
                                             "run in .*a; is this the output of another run"),
                            ("other-model.jsonl", "answered by model 'another-model', not 'm'"),
                            ("torn.jsonl", "torn.jsonl:1: not JSON")):
        assert main(["batch", "read", str(tmp_path / "a"), str(tmp_path / output)]) == 2
        assert __import__("re").search(message, capsys.readouterr().err), output
        assert not (tmp_path / "a" / "batch" / "answers.jsonl").exists()  # nothing kept
    # the run still waits for all its requests; written again, they go in a new file
    assert main(["batch", "status", str(tmp_path / "a")]) == 0
    assert "8 requests waiting for an answer, 0 probes recorded" in capsys.readouterr().out
    assert main(["-q", "batch", "write", str(tmp_path / "a")]) == 0
    again = (tmp_path / "a" / "batch" / "requests-2.jsonl").read_text()
    assert again == (tmp_path / "a" / "batch" / "requests-1.jsonl").read_text()
    # a hosted API names the dated snapshot it ran: that is the model the run names
    # an engine error is an error record: with nothing else pending the run is scored
    first_key = json.loads((tmp_path / "b" / "batch" / "requests-1.jsonl").open().readline())
    engine(url, tmp_path / "b" / "batch" / "requests-1.jsonl", tmp_path / "dated.jsonl",
           model="m-2024-08-06", fail={first_key["custom_id"]})
    assert main(["-q", "batch", "read", str(tmp_path / "b"), str(tmp_path / "dated.jsonl")]) == 0
    done = records(tmp_path / "b")
    assert len(done) == 8 and [k for k, r in done.items() if r["error"]] == [
        first_key["custom_id"]]
    assert (tmp_path / "b" / "results.json").exists()
    assert main(["batch", "read", str(tmp_path / "live-less"), str(tmp_path / "dated.jsonl")]) == 2


def test_scoring_the_models_own_output_goes_in_a_second_file(flaky, manifest, tmp_path,
                                                             monkeypatch):
    """An engine without log-probabilities on generation: the transcriptions come back
    from the first file, their scoring requests (the generated text as the assistant turn)
    go in the second; the transcript given by the manifest is scored in the first."""
    _, url = flaky
    monkeypatch.chdir(tmp_path)
    run = tmp_path / "mia"
    base = ["-q", "membership", "--model", "openai:m@batch,capabilities=generate+audio+score,"
            "top_logprobs=3", "--data", str(manifest), "--methods", "indicators",
            "--conditions", "original", "--no-baselines", "--no-cache"]
    assert main([*base, "--out", str(run)]) == 0
    first = [json.loads(line) for line in
             (run / "batch" / "requests-1.jsonl").read_text().splitlines()]
    assert len(first) == 4 and all("prompt_logprobs" not in r["body"] for r in first)
    engine(url, run / "batch" / "requests-1.jsonl", tmp_path / "out-1.jsonl")
    assert main(["-q", "batch", "read", str(run), str(tmp_path / "out-1.jsonl")]) == 0
    assert not records(run)  # generated, not yet scored
    second = [json.loads(line) for line in
              (run / "batch" / "requests-2.jsonl").read_text().splitlines()]
    assert len(second) == 4
    for request in second:
        body = request["body"]
        assert body["prompt_logprobs"] == 3 and body["continue_final_message"] is True
        assert body["messages"][-1] == {"role": "assistant", "content": "ok go"}
    engine(url, run / "batch" / "requests-2.jsonl", tmp_path / "out-2.jsonl")
    assert main(["-q", "batch", "read", str(run), str(tmp_path / "out-2.jsonl")]) == 0
    done = records(run)
    assert len(done) == 4 and all(r["output"] == "ok go" and r["token_stats"]["top_k"] == 3
                                  for r in done.values())
    # the white-box setting scores the manifest's transcript: in the first file
    reference = tmp_path / "mia-reference"
    assert main([*base, "--target", "reference", "--out", str(reference)]) == 0
    scored = [json.loads(line)["body"] for line in
              (reference / "batch" / "requests-1.jsonl").read_text().splitlines()]
    assert all(b["messages"][-1]["content"] == "the quick brown fox" for b in scored)


def test_a_live_run_completes_what_the_batch_files_left(flaky, manifest, tmp_path,
                                                        monkeypatch):
    _, url = flaky
    monkeypatch.chdir(tmp_path)
    run = tmp_path / "run"
    assert attributes(f"openai:m@batch,{CAPS}", manifest, run) == 0
    keys = sorted(json.loads(line)["custom_id"] for line in
                  (run / "batch" / "requests-1.jsonl").read_text().splitlines())
    engine(url, run / "batch" / "requests-1.jsonl", tmp_path / "out.jsonl", skip=keys[:5])
    assert main(["-q", "batch", "read", str(run), str(tmp_path / "out.jsonl")]) == 0
    Flaky.hits = 0
    # the server probes to the same capabilities, so it is the model the batch run named
    assert attributes(f"openai:m@{url}", manifest, run) == 0
    assert Flaky.hits == 4 + 5  # the capability probes, then only what was left
    assert set(records(run)) == set(keys)
    # a server that serves other capabilities is another model
    Flaky.give_logprobs = False
    assert attributes(f"openai:m@{url}", manifest, tmp_path / "run") == 0  # nothing to do
    fresh = tmp_path / "fresh"
    assert attributes(f"openai:m@batch,{CAPS}", manifest, fresh) == 0
    assert attributes(f"openai:m@{url}", manifest, fresh) == 2
