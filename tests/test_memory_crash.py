"""SIGKILL in the middle of applying a job's decisions: either all of them are applied or
none, and the job is retried, exactly once, by the next run."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

from conftest import ROOT, pai
from fakes.openai_server import Reply, openai_fake

DRAIN_AND_HANG = textwrap.dedent("""
    import sys, time
    from pai_cli.config import load_settings
    from pai_cli.core.memory_service import MemoryService
    from pai_cli.wiring import Wiring

    real = MemoryService.change
    def change(self, *a, **k):
        # The supersede's new fact is added (uncommitted); stop here until killed.
        print("inside", flush=True)
        time.sleep(60)
        return real(self, *a, **k)
    MemoryService.change = change
    w = Wiring(load_settings("alice"))
    w.chat.remember_pending("alice")
""")


def answer(*facts: dict) -> Reply:
    return Reply([json.dumps({"memories": list(facts)})])


def test_a_kill_while_consolidating_applies_all_decisions_or_none(pai_home: Path) -> None:
    lisbon = {"text": "The user lives in Lisbon.", "category": "fact", "action": "add"}
    porto = [{"text": "The user lives in Porto.", "category": "fact", "action": "supersede",
              "target": 1},
             {"text": "The user's partner Sam works at the port.", "category": "person",
              "action": "add"}]
    with openai_fake(Reply(["Nice."]), Reply(["Lovely."])) as (fake, server):
        fake.memory_script = [answer(lisbon), answer(*porto), answer(*porto)]
        env = {**os.environ, "PAI_PROVIDER": "openai", "PAI_BASE_URL": server.url + "/v1",
               "PAI_MODEL": "m"}
        assert pai("chat", "-m", "I live in Lisbon", env=env).code == 0
        # The second exchange is stored with its job (the process ends before writing it)...
        turn = subprocess.run([sys.executable, "-c", textwrap.dedent("""
            from pai_cli.config import load_settings
            from pai_cli.wiring import Wiring
            w = Wiring(load_settings("alice"))
            w.chat.turn("alice", "I moved to Porto with Sam, who works at the port")
        """)], env=env, cwd=ROOT, capture_output=True)
        assert turn.returncode == 0, turn.stderr.decode()
        # ...then the writer is killed in the middle of applying its decisions.
        proc = subprocess.Popen([sys.executable, "-c", DRAIN_AND_HANG], env=env, cwd=ROOT,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == b"inside", proc.stderr.read().decode()
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        after_kill = json.loads(pai("memory", "list", "--json", env=env).out)
        assert [m["content"] for m in after_kill] == ["The user lives in Lisbon."]  # none
        assert len(json.loads(pai("memory", "queue", "--json", env=env).out)) == 1
        # The next run retries the job, and every decision lands, once.
        assert pai("memory", "queue", "retry", "--all", env=env).code == 0
    final = json.loads(pai("memory", "list", "--json").out)
    assert sorted(m["content"] for m in final) == ["The user lives in Porto.",
                                                   "The user's partner Sam works at the port."]
    assert json.loads(pai("memory", "queue", "--json").out) == []
    everything = json.loads(pai("memory", "list", "--all", "--json").out)
    assert [m["status"] for m in everything if m["content"] == "The user lives in Lisbon."] == [
        "superseded"]
