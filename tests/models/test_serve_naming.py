"""``telltale serve --name``: the model id clients ask for, and how the model must be asked
(an organism's card phrasings) listed beside it, also by a text-only server."""

import pytest

from telltale.models.base import BaseModel
from telltale.models.serve_cli import main as serve_main
from telltale.models.server import build_app

CARD = {"taxonomy": {"gender": {"question": ["Say, is this voice male or female?"]}},
        "modes": {"direct": {"system": None, "user": "{question}"}}}


class Carded(BaseModel):
    """Stands in for an organism (no weights are needed to list it)."""

    name = "carded"
    fingerprint = "carded"
    capabilities = frozenset({"generate", "audio"})
    prompts = CARD


@pytest.mark.parametrize("text_only", [False, True])
def test_models_lists_the_chosen_name_and_the_cards_phrasings(text_only):
    from starlette.testclient import TestClient

    from telltale.models.openai_spec import served_prompts

    listing = TestClient(build_app(Carded(), "org", text_only=text_only)).get("/v1/models")
    entry = listing.json()["data"][0]
    assert entry["id"] == "org" and entry["telltale_prompts"] == CARD
    assert served_prompts(entry) == CARD  # the client reads /v1/models as plain JSON
    assert served_prompts({**entry, "telltale_prompts": None}) is None


@pytest.mark.parametrize("argv, message", [
    (["organism:/nonexistent"], "no model directory at /nonexistent"),
    (["openai:m@http://127.0.0.1:9/v1,concurrency=0"], "concurrency=0: must be at least 1"),
    (["organism:.", "--name", "a@b"], "without '@' or ','"),
])
def test_serve_refuses_a_bad_spec_or_name_before_loading(argv, message, capsys):
    assert serve_main(argv) == 2
    assert message in capsys.readouterr().err
