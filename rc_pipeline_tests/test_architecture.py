"""The layout the README's Architecture section promises, checked: one folder per domain under
rc_pipeline/defs/, Dagster only there, no import cycle, the simulator and the client standalone."""

from __future__ import annotations

import ast
import importlib
import os
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest

import rc_pipeline
import rc_pipeline.defs
from rc_pipeline.defs.build import build_definitions, domain_builders

PACKAGE = rc_pipeline.__name__
ROOT = Path(rc_pipeline.__file__).parent
REPO = ROOT.parent


def _modules() -> dict[str, Path]:
    """Every module of rc_pipeline by dotted name (packages by their __init__)."""
    out = {PACKAGE: ROOT / "__init__.py"}
    for path in ROOT.rglob("*.py"):
        parts = path.relative_to(ROOT.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        out[name] = path
    return out


MODULES = _modules()


def _imports(name: str, source: str, known: set[str], is_package: bool = False) -> set[str]:
    """Modules of ``known`` that ``source`` imports anywhere: top level, functions, TYPE_CHECKING."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parts = name.split(".") if is_package else name.split(".")[:-1]
                parts = parts[: len(parts) - (node.level - 1)]
                base = ".".join([*parts, *([node.module] if node.module else [])])
            else:
                base = node.module or ""
            # `from pkg import name` imports the submodule `pkg.name` when there is one, else a name
            # that `pkg` itself defines.
            targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in known else base for a in node.names]
        else:
            continue
        for target in targets:
            while target and target not in known:
                target = target.rpartition(".")[0]
            if target and target != name:
                found.add(target)
    return found


def _third_party(source: str) -> set[str]:
    """Top-level names of every absolute import in ``source`` (dagster, duckdb, ...)."""
    names = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
            names.add(node.module.split(".")[0])
    return names


def _find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, str] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = "open"
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == "open":
                return [*stack[stack.index(nxt) :], nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        stack.pop()
        state[node] = "done"
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def _graph() -> dict[str, set[str]]:
    known = set(MODULES)
    return {
        name: _imports(name, path.read_text(), known, is_package=path.name == "__init__.py")
        for name, path in MODULES.items()
    }


def test_import_cycle_detector_sees_type_checking_and_relative_imports():
    pkg = f"{PACKAGE}.storage"
    known = {pkg, f"{pkg}.a", f"{pkg}.b", PACKAGE}
    a = f"from {pkg}.b import B\n"
    b = f"from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from {pkg}.a import A\n"
    graph = {f"{pkg}.a": _imports(f"{pkg}.a", a, known), f"{pkg}.b": _imports(f"{pkg}.b", b, known)}
    assert _find_cycle(graph) == [f"{pkg}.a", f"{pkg}.b", f"{pkg}.a"]
    relative = _imports(f"{pkg}.b", "def f():\n    from . import a\n    from .. import x\n", known)
    assert relative == {f"{pkg}.a", PACKAGE}


def test_no_import_cycle_anywhere_in_the_package():
    graph = _graph()
    assert f"{PACKAGE}.storage.message_paths" in graph and graph[f"{PACKAGE}.storage.archive"]
    cycle = _find_cycle(graph)
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


def _under(prefix: str) -> dict[str, Path]:
    return {n: p for n, p in MODULES.items() if n == prefix or n.startswith(prefix + ".")}


def test_every_module_under_defs_is_dagster_code():
    """Logic that runs without Dagster belongs in a domain package, not under defs/."""
    plain = [
        name
        for name, path in _under(f"{PACKAGE}.defs").items()
        if path.name != "__init__.py" and "dagster" not in _third_party(path.read_text())
    ]
    assert not plain, f"modules under rc_pipeline/defs/ that import no Dagster: {plain}"


@pytest.mark.parametrize(
    "package",
    [
        "ringcentral",
        "simulator",
        "storage",
        "transform",
        "message_store",
        "calls",
        "control",
        "risk",
        "warehouse",
        "settings",
        "verification",
        "days",
    ],
)
def test_domain_packages_import_no_dagster(package):
    users = [n for n, p in _under(f"{PACKAGE}.{package}").items() if "dagster" in _third_party(p.read_text())]
    assert not users, f"{package} must stay usable without Dagster; these import it: {users}"


# Both may read the operation table generated from the official spec (throttling groups).
@pytest.mark.parametrize(("package", "allowed"), [("simulator", ("apispec",)), ("ringcentral", ("apispec",))])
def test_client_and_simulator_import_nothing_of_the_pipeline(package, allowed):
    """The simulator stands in for RingCentral and the client for its SDK: neither knows the pipeline."""
    graph = _graph()
    own = {f"{PACKAGE}.{package}", *(f"{PACKAGE}.{a}" for a in allowed)}
    reached = {
        target
        for name in _under(f"{PACKAGE}.{package}")
        for target in graph[name]
        if target != PACKAGE and not any(target == o or target.startswith(o + ".") for o in own)
    }
    assert not reached, f"rc_pipeline.{package} imports {sorted(reached)}"


def test_transform_functions_do_no_io():
    """Transforms take and return tables; storage and the domain packages read and write them."""
    for name, path in _under(f"{PACKAGE}.transform").items():
        source = path.read_text()
        assert "ArchiveStorage" not in source and "open(" not in source, f"{name} does I/O"


@dg.definitions
def _lazy_reference() -> dg.Definitions:
    return dg.Definitions()


def test_one_folder_per_domain_each_with_its_definitions():
    folders = sorted(p.name for p in (ROOT / "defs").iterdir() if p.is_dir() and (p / "__init__.py").exists())
    assert {"calls", "recordings", "directory", "message_store", "warehouse"} <= set(folders)
    assert sorted(domain_builders()) == folders
    for folder in folders:
        module = importlib.import_module(f"rc_pipeline.defs.{folder}.definitions")
        assert callable(module.build), folder
        # What `dg`'s loader collects from the folder: a `@dg.definitions` function.
        assert type(module.defs) is type(_lazy_reference), folder


def test_top_level_definitions_is_a_few_lines():
    code = [
        line
        for line in (ROOT / "definitions.py").read_text().splitlines()
        if line.strip() and not line.lstrip().startswith(("#", '"', "'"))
    ]
    assert len(code) <= 12, code


def _inventory(defs: dg.Definitions) -> dict[str, list[str]]:
    repo = defs.get_repository_def()
    return {
        "assets": sorted(k.to_user_string() for k in repo.asset_graph.get_all_asset_keys()),
        "checks": sorted(k.to_user_string() for k in repo.asset_graph.asset_check_keys),
        "jobs": sorted(j.name for j in repo.get_all_jobs() if not j.name.startswith("__")),
        "schedules": sorted(s.name for s in repo.schedule_defs),
        "sensors": sorted(s.name for s in repo.sensor_defs),
        "resources": sorted(repo.get_top_level_resources()),
    }


@pytest.mark.parametrize("source", ["export", "listing"])
def test_code_location_and_build_definitions_hold_the_same(monkeypatch, source):
    """`dg` loads the folders itself; tests and the CLI call build_definitions: never two pipelines."""
    from rc_pipeline.defs.context import DefsContext

    monkeypatch.setenv("RC_MESSAGE_SOURCE", source)
    DefsContext.from_env.cache_clear()
    try:
        folder = dg.load_from_defs_folder(path_within_project=ROOT)
        built = build_definitions()
        assert _inventory(folder) == _inventory(built)
        assert ("message_store_export_sensor" in _inventory(folder)["sensors"]) == (source == "export")
    finally:
        DefsContext.from_env.cache_clear()


def test_dg_check_defs_passes():
    dg_cli = Path(sys.executable).with_name("dg")
    result = subprocess.run(
        [str(dg_cli), "check", "defs"],
        cwd=REPO,
        env={**os.environ, "VIRTUAL_ENV": sys.prefix},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "All definitions loaded successfully" in result.stdout + result.stderr


def test_warehouse_depends_on_exactly_the_datasets_it_reads():
    from rc_pipeline.defs.names import ASSET_OF_DATASET, WAREHOUSE
    from rc_pipeline.warehouse import DATASET_VIEWS, MESSAGE_VIEWS

    repo = build_definitions().get_repository_def()
    deps = repo.asset_graph.get(WAREHOUSE).parent_keys
    assert deps == {ASSET_OF_DATASET[d] for d, _ in (*DATASET_VIEWS.values(), *MESSAGE_VIEWS.values())}


def test_every_module_outside_the_simulator_imports():
    """A module no test reaches must still import (a moved helper leaves no dangling import behind)."""
    broken = {}
    for name in MODULES:
        if name.startswith(f"{PACKAGE}.simulator"):
            continue
        try:
            importlib.import_module(name)
        except ImportError as exc:
            broken[name] = str(exc)
    assert not broken, broken
