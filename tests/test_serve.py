"""`pai serve` over real HTTP on localhost: the same routes as the deployed API."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
from pathlib import Path

import httpx
from conftest import ROOT

from pai_cli.api.local_server import make_server
from pai_cli.config import load_settings
from pai_cli.wiring import Wiring


def test_routes_over_http(pai_home: Path) -> None:
    w = Wiring(load_settings("alice"))
    server = make_server(w, port=0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        with httpx.Client(base_url=base, timeout=10) as c:
            r = c.post("/chat", json={"message": "My bike is a green Brompton"})
            assert r.status_code == 200
            conv = r.json()["conversation_id"]
            assert "recall-only" in r.json()["notice"]
            found = c.post("/search", json={"query": "what bike do I ride"}).json()["results"]
            assert found[0]["content"] == "My bike is a green Brompton"
            mid = found[0]["id"]
            assert c.get(f"/memories/{mid}").json()["id"] == mid
            assert [m["content"] for m in c.get(f"/memory/{conv}").json()["messages"]] == [
                "My bike is a green Brompton"]
            assert c.get("/memories", params={"limit": 5}).json()["memories"][0]["id"] == mid
            assert c.post("/chat", json={"message": ""}).status_code == 400
            assert c.post("/chat", content=b"{oops", headers={
                "content-type": "application/json"}).status_code == 400
            assert c.delete(f"/memories/{mid}").json() == {"forgotten": mid}
            assert c.get(f"/memories/{mid}").status_code == 404
            doc = c.get("/openapi.json").json()
            assert "/chat" in doc["paths"] and doc["info"]["title"] == "pai"
            # Identity comes from the server, not the request.
            r = c.get("/memories", headers={"x-pai-user": "bob"}, params={"user": "bob"})
            assert r.status_code == 200
    finally:
        server.shutdown()
        server.server_close()
        w.close()


def test_pai_serve_command_runs_and_stops() -> None:
    proc = subprocess.Popen([sys.executable, "-m", "pai_cli.cli.main", "serve", "--port", "0"],
                            cwd=ROOT, env=os.environ.copy(), stderr=subprocess.PIPE,
                            stdout=subprocess.PIPE)
    try:
        assert proc.stderr is not None
        line = b""
        while b"serving" not in line:
            line = proc.stderr.readline()
            assert line, "pai serve exited early"
        url = re.search(rb"http://[0-9.]+:\d+", line)[0].decode()  # type: ignore[index]
        r = httpx.post(url + "/search", json={"query": "anything"}, timeout=10)
        assert r.status_code == 200 and json.loads(r.text) == {"results": []}
    finally:
        proc.terminate()
        proc.wait(timeout=10)
