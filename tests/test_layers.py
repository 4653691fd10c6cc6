"""The layer arrows of DESIGN.md, checked on every import statement in pai_cli/ (top-level
and inside functions), so they stay true:

- core imports no adapter, no SDK and no wiring (nor config: settings reach it as values);
- ports and records import nothing of pai_cli but errors (and records);
- the homes (backends/local, backends/aws) never import each other, nor core or wiring;
- deploy imports no core;
- the CLI, the API and the MCP server reach adapters only through the wiring, and the API
  and the MCP server never import the CLI."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent / "pai_cli"
CORE_THIRD_PARTY = {"snowballstemmer"}  # an algorithm (a stemmer), not an SDK or a store

FORBIDDEN: dict[str, tuple[str, ...]] = {
    "pai_cli.core": ("pai_cli.backends", "pai_cli.wiring", "pai_cli.config", "pai_cli.cli",
                     "pai_cli.api", "pai_cli.mcp", "pai_cli.deploy"),
    "pai_cli.ports": ("pai_cli.core", "pai_cli.backends", "pai_cli.wiring", "pai_cli.config",
                      "pai_cli.cli", "pai_cli.api", "pai_cli.mcp", "pai_cli.deploy"),
    "pai_cli.records": ("pai_cli.core", "pai_cli.backends", "pai_cli.wiring", "pai_cli.ports",
                        "pai_cli.config", "pai_cli.cli", "pai_cli.api", "pai_cli.deploy"),
    "pai_cli.backends.local": ("pai_cli.backends.aws", "pai_cli.core", "pai_cli.wiring",
                               "pai_cli.cli", "pai_cli.api", "pai_cli.mcp", "pai_cli.deploy"),
    "pai_cli.backends.aws": ("pai_cli.backends.local", "pai_cli.core", "pai_cli.wiring",
                             "pai_cli.cli", "pai_cli.api", "pai_cli.mcp", "pai_cli.deploy"),
    "pai_cli.backends.api": ("pai_cli.backends.local", "pai_cli.backends.aws", "pai_cli.core",
                             "pai_cli.wiring", "pai_cli.cli", "pai_cli.api", "pai_cli.mcp",
                             "pai_cli.deploy"),
    "pai_cli.backends.llm": ("pai_cli.backends.local", "pai_cli.core", "pai_cli.wiring",
                             "pai_cli.cli", "pai_cli.api", "pai_cli.mcp", "pai_cli.deploy"),
    "pai_cli.deploy": ("pai_cli.core", "pai_cli.cli", "pai_cli.api", "pai_cli.mcp",
                       "pai_cli.wiring"),
    "pai_cli.cli": ("pai_cli.backends",),
    "pai_cli.api": ("pai_cli.backends", "pai_cli.cli"),
    "pai_cli.mcp": ("pai_cli.backends", "pai_cli.cli"),
}


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path: Path, me: str) -> list[tuple[int, str]]:
    """(line, module) of every import in the module `me` at path, relative ones resolved."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = me if path.name == "__init__.py" else me.rsplit(".", 1)[0]
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                name = f"{base}.{node.module}" if node.module else base
            else:
                name = node.module or ""
            found.append((node.lineno, name))
            # `from pai_cli import wiring` names a module too.
            found += [(node.lineno, f"{name}.{a.name}") for a in node.names if name == "pai_cli"]
    return found


def under(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


FILES = sorted(ROOT.rglob("*.py"))


def test_the_walk_sees_every_module_and_its_imports() -> None:
    names = {module_name(p) for p in FILES}
    assert {"pai_cli.core.chat", "pai_cli.ports", "pai_cli.wiring", "pai_cli.cli.main"} <= names
    chat = {m for _, m in imports(ROOT / "core" / "chat.py", "pai_cli.core.chat")}
    assert "pai_cli.ports" in chat and "pai_cli.core.jobs" in chat


def violations(path: Path, me: str) -> list[str]:
    rules = [bad for layer, bads in FORBIDDEN.items() if under(me, layer) for bad in bads]
    found = imports(path, me)
    wrong = [f"{me}:{line} imports {name}" for line, name in found for bad in rules
             if under(name, bad)]
    if under(me, "pai_cli.core"):
        wrong += [f"{me}:{line} imports {name} (an SDK or library)" for line, name in found
                  if name and not under(name, "pai_cli")
                  and name.split(".")[0] not in sys.stdlib_module_names
                  and name.split(".")[0] not in CORE_THIRD_PARTY]
    return wrong


@pytest.mark.parametrize("path", FILES, ids=lambda p: module_name(p))
def test_no_forbidden_arrow(path: Path) -> None:
    wrong = violations(path, module_name(path))
    assert not wrong, "\n".join(wrong)


def test_the_walk_would_catch_a_forbidden_import(tmp_path: Path) -> None:
    probe = tmp_path / "probe.py"
    probe.write_text("def f():\n    import boto3\n    from pai_cli.backends.local import db\n"
                     "from ..wiring import Wiring\n")
    assert sorted(violations(probe, "pai_cli.core.probe")) == [
        "pai_cli.core.probe:2 imports boto3 (an SDK or library)",
        "pai_cli.core.probe:3 imports pai_cli.backends.local",
        "pai_cli.core.probe:4 imports pai_cli.wiring"]
    assert violations(probe, "pai_cli.cli.probe") == [
        "pai_cli.cli.probe:3 imports pai_cli.backends.local"]
