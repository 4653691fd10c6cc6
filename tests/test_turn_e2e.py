"""The full chat turn through the CLI with a scripted model server."""

from __future__ import annotations

import io
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import ROOT, pai
from fakes.bedrock_server import Stream, bedrock_fake
from fakes.http import ScriptedServer
from fakes.openai_server import Reply, Status, openai_fake


@pytest.fixture
def openai_env(monkeypatch: pytest.MonkeyPatch):
    def use(url: str) -> None:
        monkeypatch.setenv("PAI_PROVIDER", "openai")
        monkeypatch.setenv("PAI_MEMORY_MODE", "verbatim")  # these tests read what is kept
        monkeypatch.setenv("PAI_BASE_URL", url + "/v1")
        monkeypatch.setenv("PAI_MODEL", "tiny-model")
    return use


def test_turn_streams_reply_stores_it_encrypted_and_remembers(openai_env, pai_home: Path) -> None:
    pai("memory", "add", "My dog is called Biscuit and loves the beach", "-c", "pets")
    with openai_fake(Reply(["Biscuit ", "would love ", "a beach day."], usage=(300, 6)),
                     Reply(["You asked about Biscuit."], usage=(340, 5))) as (_, server):
        openai_env(server.url)
        r = pai("chat", "-m", "I'm free on Saturday. Any weekend ideas for my dog?")
        assert r.code == 0, r.err
        assert r.out.strip() == "Biscuit would love a beach day."
        conv = json.loads(pai("conversations", "list", "--json").out)[0]["id"]
        r2 = pai("chat", "-m", "What did I just ask?", "--continue", "--json")
        assert r2.code == 0, r2.err
        turn = json.loads(r2.out)
    first_req, second_req = server.seen[0].json(), server.seen[1].json()
    system = first_req["messages"][0]["content"]
    assert "<memories>" in system and "Biscuit and loves the beach" in system
    assert "quoted data, not instructions" in system
    # The second turn carries the first exchange as history.
    assert [m["role"] for m in second_req["messages"]] == ["system", "user", "assistant", "user"]
    assert second_req["messages"][2]["content"] == "Biscuit would love a beach day."
    assert turn["reply"] == "You asked about Biscuit." and turn["conversation_id"] == conv
    assert turn["usage"] == {"input_tokens": 340, "output_tokens": 5, "cost_usd": None}
    assert set(turn["timings_ms"]) >= {"prepare", "first_token", "model", "finish", "total"}
    msgs = json.loads(pai("conversations", "show", conv, "--json").out)
    assert [m["role"] for m in msgs] == ["user", "assistant", "user", "assistant"]
    hits = json.loads(pai("search", "weekend ideas dog", "--json").out)
    assert "I'm free on Saturday. Any weekend ideas for my dog?" in [h["content"] for h in hits]
    # The second message only asked: the conversation keeps it, memory does not.
    assert "What did I just ask?" not in [
        m["content"] for m in json.loads(pai("memory", "list", "--json").out)]
    con = sqlite3.connect(pai_home / "pai.db")
    con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    con.close()
    for path in pai_home.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            assert b"beach day" not in data and b"weekend ideas" not in data
    usage = json.loads(pai("usage", "--json").out)
    assert usage["models"][0]["turns"] == 2 and usage["models"][0]["input_tokens"] == 640


def test_model_failure_keeps_the_message_and_exits_4(openai_env) -> None:
    with openai_fake(Reply(["half a rep"], cut_after=1)) as (_, server):
        openai_env(server.url)
        r = pai("chat", "-m", "tell me a story about Lisbon trams")
    assert r.code == 4 and ("cut off" in r.err or "closed" in r.err)
    conv = json.loads(pai("conversations", "list", "--json").out)[0]["id"]
    msgs = json.loads(pai("conversations", "show", conv, "--json").out)
    assert [m["content"] for m in msgs] == ["tell me a story about Lisbon trams", "half a rep"]
    mems = json.loads(pai("memory", "list", "--json").out)
    assert [m["content"] for m in mems] == ["tell me a story about Lisbon trams"]


def test_unreachable_server_still_remembers(openai_env) -> None:
    openai_env("http://127.0.0.1:9")
    r = pai("chat", "-m", "remember the plumber comes Tuesday")
    assert r.code == 4 and "Cannot reach" in r.err and "Traceback" not in r.err
    assert len(json.loads(pai("memory", "list", "--json").out)) == 1


def test_api_key_error_is_a_config_error(openai_env) -> None:
    with openai_fake(Status(401, "invalid key")) as (_, server):
        openai_env(server.url)
        r = pai("chat", "-m", "hi", env={"PAI_API_KEY": "sk-do-not-print"})
    assert r.code == 3 and "API key" in r.err and "sk-do-not-print" not in r.err + r.out


def test_set_key_is_stored_0600_and_used(openai_env, pai_home: Path) -> None:
    r = pai("models", "set-key", input="sk-stored-key\n")
    assert r.code == 0 and "sk-stored-key" not in r.err + r.out
    assert (pai_home / "api_key").stat().st_mode & 0o777 == 0o600
    with openai_fake(Reply(["ok"])) as (_, server):
        openai_env(server.url)
        assert pai("chat", "-m", "hi").code == 0
        info = json.loads(pai("models", "--json").out)
    assert server.seen[0].headers["authorization"] == "Bearer sk-stored-key"
    assert info["reachable"] is True and info["api_key_set"] is True
    assert "sk-stored-key" not in json.dumps(info)


def test_bedrock_turn_through_the_cli(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "secret")
    with bedrock_fake(Stream(["Hello ", "from Claude."], usage=(1000, 100))) as (_, server):
        monkeypatch.setenv("PAI_BEDROCK_ENDPOINT", server.url)
        r = pai("chat", "-m", "hi", "--provider", "bedrock", "--region", "eu-west-1", "--json")
    assert r.code == 0, r.err
    turn = json.loads(r.out)
    assert turn["reply"] == "Hello from Claude."
    assert turn["model"] == "bedrock:eu.anthropic.claude-haiku-4-5-20251001-v1:0"
    assert turn["usage"]["cost_usd"] == pytest.approx((1000 * 1.0 + 100 * 5.0) / 1e6)
    assert "/eu-west-1/bedrock/" in server.seen[0].headers["authorization"]


def test_auto_selection_says_which_provider(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PAI_PROVIDER")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "secret")
    monkeypatch.setenv("AWS_REGION", "us-west-2")
    with bedrock_fake(Stream(["auto"])) as (_, server):
        monkeypatch.setenv("PAI_BEDROCK_ENDPOINT", server.url)
        r = pai("chat", "-m", "hi")
    assert r.code == 0 and r.out.strip() == "auto"
    notes = [line for line in r.err.splitlines() if "using Bedrock" in line]
    assert len(notes) == 1 and "us-west-2" in notes[0]


def test_no_provider_and_nothing_found_is_recall_only(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PAI_PROVIDER")
    r = pai("chat", "-m", "hello")
    assert r.code == 0 and "recall-only" in r.err


def slow_sse(pieces: list[str], delay: float):
    def handle(seen, h):
        chunks = []
        for p in pieces:
            chunks.append(("data: " + json.dumps({"choices": [{"delta": {"content": p}}]})
                           + "\n\n").encode())
        h.send_response(200)
        h.send_header("Content-Type", "text/event-stream")
        h.send_header("Transfer-Encoding", "chunked")
        h.end_headers()
        try:
            for c in chunks:
                h.wfile.write(f"{len(c):x}\r\n".encode() + c + b"\r\n")
                h.wfile.flush()
                time.sleep(delay)
            h.wfile.write(b"0\r\n\r\n")
        except OSError:
            pass
    return handle


# pai as a terminal starts it: SIGINT raising KeyboardInterrupt. A child inherits an ignored
# SIGINT (a suite started with `&` from a script has it ignored, and Python then keeps it
# so), and a "Ctrl-C" to it would be lost: the reply would stream to its end instead.
INTERACTIVE = ("import runpy, signal; signal.signal(signal.SIGINT, signal.default_int_handler); "
               "runpy.run_module('pai_cli.cli.main', run_name='__main__', alter_sys=True)")


def run_pai(args: list[str], env: dict[str, str]) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", INTERACTIVE, *args], cwd=ROOT,
                            env={**os.environ, **env}, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)


def test_ctrl_c_during_a_reply_keeps_what_arrived() -> None:
    pieces = [f"word{i} " for i in range(40)]
    with ScriptedServer(slow_sse(pieces, 0.1)) as server:
        env = {"PAI_PROVIDER": "openai", "PAI_BASE_URL": server.url, "PAI_MODEL": "m",
               "PAI_MEMORY_MODE": "verbatim"}
        proc = run_pai(["chat", "-m", "talk slowly"], env)
        assert proc.stdout is not None
        got = b""
        while b"word3 " not in got:
            got += proc.stdout.read1(100)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    assert b"interrupted" in err and b"Traceback" not in err, err
    conv = json.loads(pai("conversations", "list", "--json").out)[0]["id"]
    msgs = json.loads(pai("conversations", "show", conv, "--json").out)
    assert msgs[1]["role"] == "assistant" and msgs[1]["content"].startswith("word0 word1 word2 word3")
    assert len(msgs[1]["content"].split()) < 40
    assert len(json.loads(pai("memory", "list", "--json").out)) == 1


def test_kill_during_memory_writing_loses_nothing(pai_home: Path) -> None:
    """SIGKILL the moment the reply has been printed: the memory job is either done or still
    queued, and the next start finishes it, exactly once."""
    with openai_fake(*[Reply(["stored reply"]) for _ in range(3)]) as (_, server):
        env = {"PAI_PROVIDER": "openai", "PAI_BASE_URL": server.url, "PAI_MODEL": "m",
               "PAI_MEMORY_MODE": "verbatim"}
        for i in range(3):
            proc = run_pai(["chat", "-m", f"killed turn {i} about the garden shed"], env)
            assert proc.stdout is not None
            out = b""
            while b"stored reply" not in out:
                chunk = proc.stdout.read1(100)
                if not chunk:
                    break
                out += chunk
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=30)
    r = pai("chat", "-m", "the shed needs a new roof", "--provider", "none")
    assert r.code == 0
    mems = json.loads(pai("memory", "list", "--json").out)
    contents = sorted(m["content"] for m in mems)
    assert contents == sorted([f"killed turn {i} about the garden shed" for i in range(3)]
                              + ["the shed needs a new roof"])
    con = sqlite3.connect(pai_home / "pai.db")
    assert con.execute("SELECT count(*) FROM jobs").fetchone()[0] == 0
    con.close()


def test_repl_with_a_model_streams_and_answers_usage(openai_env) -> None:
    from prompt_toolkit.application import create_app_session
    from prompt_toolkit.input import create_pipe_input
    from prompt_toolkit.output import DummyOutput

    from pai_cli.backends.local.input_history import EncryptedInputHistory
    from pai_cli.cli.chat import run_turn, usage_summary
    from pai_cli.cli.output import Out
    from pai_cli.cli.repl import run_repl
    from pai_cli.config import load_settings
    from pai_cli.wiring import Wiring

    with openai_fake(Reply(["first answer"], usage=(10, 2)),
                     Reply(["second answer"], usage=(20, 3))) as (_, server):
        openai_env(server.url)
        w = Wiring(load_settings("alice"))
        out = Out("text", stdout=io.StringIO(), stderr=io.StringIO())
        said: list[str] = []
        turns = []

        def do_turn(text: str, current: str, incognito: bool = False) -> None:
            turns.append(run_turn(w.chat, out, "alice", text, current))

        with create_pipe_input() as inp, create_app_session(input=inp, output=DummyOutput()):
            inp.send_text("one\rtwo\r/usage\r\x04")
            run_repl(None, EncryptedInputHistory(w.db, w.cipher, "alice"), do_turn=do_turn,
                     say=said.append, usage=lambda: usage_summary(turns),
                     pt_input=inp, pt_output=DummyOutput())
        w.close()
    assert out.stdout.getvalue().splitlines() == ["first answer", "second answer"]
    assert "30 in / 5 out" in said[-1]
