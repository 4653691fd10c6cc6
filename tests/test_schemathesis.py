"""schemathesis against a real `pai serve`: the OpenAPI document must describe what the
server does (every status with its body, every constraint), and undeclared methods get 405.

Run as the issue ran it: `schemathesis run URL/openapi.json --checks all`, every phase
(coverage, fuzzing, stateful), offline against a local server. The number of examples is
bounded so the suite stays quick (~1 min here); the seed is fixed so a failure reproduces,
and PAI_SCHEMATHESIS_SEED / PAI_SCHEMATHESIS_EXAMPLES widen the search by hand."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from conftest import ROOT

EXAMPLES = os.environ.get("PAI_SCHEMATHESIS_EXAMPLES", "25")
SEED = os.environ.get("PAI_SCHEMATHESIS_SEED", "20261515")


@pytest.fixture
def served(pai_home: Path):
    proc = subprocess.Popen([sys.executable, "-m", "pai_cli.cli.main", "serve", "--port", "0"],
                            cwd=ROOT, env=os.environ.copy(), stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
    try:
        assert proc.stderr is not None
        line = b""
        while b"serving" not in line:
            line = proc.stderr.readline()
            assert line, "pai serve exited early"
        yield re.search(rb"http://[0-9.]+:\d+", line)[0].decode()  # type: ignore[index]
    finally:
        proc.terminate()
        proc.wait(timeout=20)


def test_schemathesis_finds_nothing(served: str, tmp_path: Path) -> None:
    # Some data for the stateful phase to walk: a conversation, and what it remembered.
    httpx.post(served + "/chat", json={"message": "My bike is a green Brompton"}, timeout=30)
    r = subprocess.run(
        [sys.executable, "-m", "schemathesis.cli", "run", served + "/openapi.json",
         "--checks", "all", "--max-examples", EXAMPLES, "--seed", SEED, "--no-color",
         "--generation-database", "none", "--workers", "1"],
        cwd=tmp_path, capture_output=True, text=True, timeout=900,
        env={**os.environ, "SCHEMATHESIS_HOOKS": ""},
    )
    tail = r.stdout[-6000:] + r.stderr[-2000:]
    assert r.returncode == 0, tail
    assert "No issues found" in r.stdout, tail
    assert re.search(r"Selected: 7/7", r.stdout), tail  # every operation was tested


def test_undeclared_methods_get_405_with_allow(served: str) -> None:
    with httpx.Client(base_url=served, timeout=10) as c:
        for method, path, allow in [("TRACE", "/memories", "GET, POST"), ("PUT", "/chat", "POST"),
                                    ("PATCH", "/memories/mem-x", "DELETE, GET"),
                                    ("PUT", "/memories", "GET, POST"), ("QUERY", "/search", "POST"),
                                    ("DELETE", "/openapi.json", "GET")]:
            r = c.request(method, path)
            assert r.status_code == 405, (method, path, r.text)
            assert r.headers["allow"] == allow and "error" in r.json()
        r = c.get("/no/such/route")
        assert r.status_code == 404 and "error" in r.json()
        r = c.head("/memories")
        assert r.status_code == 405 and r.content == b""  # HEAD: headers only
        r = c.post("/search", content=b"query=x", headers={"content-type": "text/plain"})
        assert r.status_code == 415 and "application/json" in r.json()["error"]
    # A body announced as ~1 GB is refused before a byte of it is read.
    host, port = served.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as s:
        s.sendall(b"POST /search HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                  b"Content-Length: 999999999\r\n\r\n{}")
        assert s.recv(200).startswith(b"HTTP/1.0 413")


def test_document_lists_every_status_the_routes_answer(served: str) -> None:
    doc = httpx.get(served + "/openapi.json", timeout=10).json()
    ops = {(m.upper(), p): op for p, item in doc["paths"].items() for m, op in item.items()}
    assert set(ops) == {("POST", "/chat"), ("POST", "/search"),
                        ("GET", "/memory/{conversation_id}"), ("GET", "/memories"),
                        ("POST", "/memories"),
                        ("GET", "/memories/{memory_id}"), ("DELETE", "/memories/{memory_id}")}
    for key, op in ops.items():
        codes = set(op["responses"])
        assert {"200", "400", "401", "413", "500", "502"} <= codes, key
        assert "422" not in codes, key  # validation errors are 400s here
    assert {"404", "415", "504"} <= set(ops[("POST", "/chat")]["responses"])
    search = doc["components"]["schemas"]["SearchRequest"]["properties"]
    assert search["category"]["anyOf"][0]["pattern"] == "^[a-z0-9][a-z0-9_.-]{0,39}$"
    with httpx.Client(base_url=served, timeout=10) as c:
        # The constraints in the document are the server's: what it refuses, it says.
        for body in ({"query": "   "}, {"query": "a\x00b"}, {"query": "x", "category": "A B"},
                     {"query": "x", "k": 51}):
            r = c.post("/search", json=body)
            assert r.status_code == 400 and "error" in r.json(), body
        assert c.post("/search", json={"query": "x", "category": "health"}).status_code == 200
        r = c.get("/memories/mem-%2Fetc")  # decoded, it is no id at all
        assert r.status_code in (400, 404)
