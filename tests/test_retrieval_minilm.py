"""The opt-in MiniLM embedder (embedder = "minilm"): real weights from the installed package."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from conftest import pai

from pai_cli.backends.local.minilm_embedder import DIM, MiniLMEmbedder


@pytest.fixture(scope="module")
def model() -> MiniLMEmbedder:
    return MiniLMEmbedder()


def test_vectors_are_unit_length_and_the_paraphrase_is_nearest(model: MiniLMEmbedder) -> None:
    texts = ["My sister Ana moved to Lisbon last spring", "Penicillin gives me hives",
             "where does my sibling live now?", "am I allergic to any antibiotic?"]
    v = model.embed(texts)
    assert v.shape == (4, DIM) and v.dtype == np.float32
    assert np.allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-5)
    sims = v @ v.T
    # No word in common, yet each question is nearest its own memory.
    assert sims[2, 0] > sims[2, 1] + 0.2
    assert sims[3, 1] > sims[3, 0] + 0.2


def test_padding_does_not_change_a_text_s_vector(model: MiniLMEmbedder) -> None:
    """A short text embedded alone or beside a long one (padded in the same batch) gets the
    same vector: the attention mask and the mean pooling leave the padding out."""
    short = "dentist on Friday"
    long = " ".join(["my neighbour lent me a ladder and a drill for the weekend"] * 5)
    alone = model.embed([short])[0]
    batched = model.embed([long, short, ""])
    assert np.allclose(alone, batched[1], atol=1e-5)
    assert np.allclose(np.linalg.norm(batched[2]), 1.0, atol=1e-5)  # only [CLS] [SEP]


def test_a_wordllama_home_keeps_wordllama_until_it_is_reindexed(pai_home: Path) -> None:
    """MiniLM is the default, but a home indexed with WordLlama (every home before) keeps
    searching with it; asking for MiniLM there asks for a reindex, which moves it over."""
    config = pai_home / "config.toml"
    pai_home.mkdir(parents=True, exist_ok=True)
    config.write_text('embedder = "local"\n')
    sister = json.loads(pai("memory", "add", "My sister Ana moved to Lisbon last spring",
                            "--json").out)["id"]
    pai("memory", "add", "Penicillin gives me hives")
    config.write_text("")
    r = pai("search", "Ana Lisbon", "--json")
    assert r.code == 0, r.err
    assert json.loads(r.out)[0]["id"] == sister

    config.write_text('embedder = "minilm"\n')
    r = pai("search", "where does my sibling live now?")
    assert r.code == 3 and "pai memory reindex" in r.err
    assert pai("memory", "reindex").code == 0
    config.write_text("")  # the default follows the home: MiniLM now
    r = pai("search", "where does my sibling live now?", "--json")
    assert r.code == 0, r.err
    hits = json.loads(r.out)
    assert hits[0]["id"] == sister
    assert all(0.0 <= h["score"] <= 1.0 for h in hits)
    r = pai("search", "Ana Lisbon")
    assert r.code == 0
    config.write_text('embedder = "local"\n')
    assert pai("search", "Ana Lisbon").code == 3


def test_a_new_home_embeds_with_minilm(pai_home: Path) -> None:
    import sqlite3

    pai("memory", "add", "My sister Ana moved to Lisbon last spring")
    con = sqlite3.connect(pai_home / "pai.db")
    tags = [v for (v,) in con.execute("SELECT value FROM meta WHERE key LIKE 'embed_model:%'")]
    con.close()
    assert tags == ["sentence-transformers/all-MiniLM-L6-v2:384"]


@pytest.mark.parametrize(("message", "asks"), [
    ("where do I live now?", True), ("and how is Miso?", True), ("what?!", True),
    ("Which city? Where exactly?", True), ("which city do I live in ?  ", True),
    ("I moved to Porto. Where should I eat?", False), ("I moved to Porto last March", False),
    ("Do you remember my sister? She lives in Lisbon now.", False), ("  ", False),
    # Kept when in doubt: a statement with a question tag, a line that tells something.
    ("I moved to Porto, ok?", False), ("Remember: my PIN is 4471?", False),
    ("My PIN is 4471\nremember it?", False), ("Meeting moved to 3pm - can you note it?", False),
    ("どこ？", False)])
def test_a_message_that_only_asks(message: str, asks: bool) -> None:
    from pai_cli.core.text import is_question

    assert is_question(message) is asks


def test_recall_only_chat_keeps_facts_not_questions(pai_home: Path) -> None:
    """Without a model every message was kept as said, questions too, and MiniLM put a past
    question far above the fact it asked about: "what city am I living in these days?"
    recalled two earlier questions (0.93, 0.79) and never "I moved to Porto last March"."""
    assert pai("chat", "-m", "I moved to Porto last March").code == 0
    for asked in ("where do I live now?", "which city do I live in?"):
        turn = json.loads(pai("chat", "-m", asked, "--json").out)
        assert [r["content"] for r in turn["recalled"]][:1] == ["I moved to Porto last March"]
    turn = json.loads(pai("chat", "-m", "what city am I living in these days?", "--json").out)
    assert [r["content"] for r in turn["recalled"]] == ["I moved to Porto last March"]
    kept = [m["content"] for m in json.loads(pai("memory", "list", "--json").out)]
    assert kept == ["I moved to Porto last March"]
    shown = json.loads(pai("conversations", "list", "--json").out)
    assert len(shown) == 4  # each question is still in its conversation
