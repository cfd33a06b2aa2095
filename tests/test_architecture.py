"""The house rules that keep coach easy to extend: one-way layers, declared dependencies, and
subpackages that say what they own (docs/architecture.md)."""

from __future__ import annotations

import ast
import importlib
import importlib.metadata
import importlib.util
import re
import subprocess
import sys
from pathlib import Path

import pytest

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "coach"
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
SUBPACKAGES = sorted(p.parent.name for p in PACKAGE.glob("*/__init__.py"))


def _requirement_name(spec: str) -> str:
    return re.split(r"[<>=!~;\[ ]", spec, maxsplit=1)[0].strip().lower().replace("_", "-")


def _imported_top_names(folder: Path) -> set[str]:
    names: set[str] = set()
    for path in folder.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names |= {a.name.split(".")[0] for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names.add(node.module.split(".")[0])
    return names


def _third_party(names: set[str]) -> set[str]:
    return {n for n in names if n not in sys.stdlib_module_names and n not in ("coach", "tests")}


def test_the_import_contracts_hold():
    lint = Path(sys.executable).parent / "lint-imports"
    done = subprocess.run([str(lint)], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert "BROKEN" not in done.stdout
    # Every layer of the contract exists, so a renamed package cannot drop out of it unseen.
    (layers,) = [
        c["layers"] for c in PYPROJECT["tool"]["importlinter"]["contracts"] if c["type"] == "layers"
    ]
    for layer in layers:
        for module in re.split(r"\s*[|:]\s*", layer):
            assert importlib.util.find_spec(module) is not None, module


@pytest.mark.parametrize("subpackage", SUBPACKAGES)
def test_every_subpackage_says_what_it_owns_and_what_it_must_not_import(subpackage):
    module = importlib.import_module(f"coach.{subpackage}")
    doc = " ".join((module.__doc__ or "").split())
    assert len(doc.split()) >= 15, f"coach/{subpackage}/__init__.py needs a docstring"
    assert "must not import" in doc.lower(), f"coach/{subpackage}: say what it must not import"


def _distributions() -> dict[str, set[str]]:
    # import name -> the distributions that provide it, as installed
    found: dict[str, set[str]] = {}
    for name, dists in importlib.metadata.packages_distributions().items():
        found.setdefault(name, set()).update(d.lower().replace("_", "-") for d in dists)
    return found


def test_every_package_coach_imports_is_a_declared_dependency():
    project = PYPROJECT["project"]
    declared = {_requirement_name(s) for s in project["dependencies"]}
    for extra, specs in project["optional-dependencies"].items():
        if extra != "test":
            declared |= {_requirement_name(s) for s in specs}
    providers = _distributions()
    undeclared = {
        name: sorted(providers.get(name, {"(not installed)"}))
        for name in _third_party(_imported_top_names(PACKAGE))
        if not providers.get(name, {name}) & declared
    }
    assert undeclared == {}, "declare these in pyproject.toml [project] dependencies"


def test_every_package_the_tests_import_is_declared_for_them():
    project = PYPROJECT["project"]
    declared = {_requirement_name(s) for s in project["dependencies"]}
    for specs in project["optional-dependencies"].values():
        declared |= {_requirement_name(s) for s in specs}
    providers = _distributions()
    imported = _third_party(
        _imported_top_names(ROOT / "tests") | _imported_top_names(ROOT / "bench")
    )
    undeclared = {
        name: sorted(providers.get(name, {"(not installed)"}))
        for name in imported
        if not providers.get(name, {name}) & declared
    }
    assert undeclared == {}, "declare these in pyproject.toml's test extra"


def test_there_is_a_license_and_the_package_says_which():
    text = (ROOT / "LICENSE").read_text(encoding="utf-8")
    assert "GNU GENERAL PUBLIC LICENSE" in text and "Version 3" in text
    assert PYPROJECT["project"]["license"] == {"text": "GPL-3.0-or-later"}
