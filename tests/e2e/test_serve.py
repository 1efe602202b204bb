"""``telltale serve`` names its model as the user says and carries how the model must be
asked: the demo organism served (text only, as a closed API) and reached over ``openai:``
is asked its card's phrasings, exactly as it is when loaded directly."""

import json

import httpx
from cli import served, telltale


def _records(run):
    return {r["key"]: r for r in map(json.loads,
                                     (run / "records.jsonl").read_text().splitlines())}


def test_a_served_organism_is_asked_its_cards_phrasings_under_the_name_given(demo, tmp_path):
    spec = f"organism:{demo / 'organism'}"
    common = ["attributes", "--data", demo / "corpus" / "manifest.csv", "--limit", "6",
              "--attributes", "gender", "--modes", "direct,defense", "--no-silence",
              "--no-cache"]
    with served(spec, "--name", "org", "--text-only") as port:
        listing = httpx.get(f"http://127.0.0.1:{port}/v1/models").json()["data"]
        telltale("-q", *common, "--model", f"openai:org@http://127.0.0.1:{port}/v1",
                 "--out", tmp_path / "served")
    assert [m["id"] for m in listing] == ["org"]
    assert set(listing[0]["telltale_prompts"]) == {"taxonomy", "modes"}
    telltale("-q", *common, "--model", spec, "--out", tmp_path / "direct")
    direct, remote = _records(tmp_path / "direct"), _records(tmp_path / "served")
    assert direct.keys() == remote.keys() and len(direct) == 12
    card = json.loads((demo / "organism" / "card.json").read_text())["policy"]
    for key, record in direct.items():
        assert (remote[key]["prompt"], remote[key]["system"]) == (record["prompt"],
                                                                  record["system"])
        assert remote[key]["output"] == record["output"], key
    # the held-out phrasings of the card, not the built-in questions
    held_out = {opener + core for opener, core in card["heldout"]["gender"]}
    assert {r["prompt"] for r in direct.values()} <= held_out
