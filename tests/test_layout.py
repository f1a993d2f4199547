"""The package layout holds: training code never imports the tools (analysis/, bench/).

``dqn_atari/analysis/`` and ``dqn_atari/bench/`` are tools run on or beside training; the
thin entry points ``dqn_atari/plot.py``, ``side_by_side.py`` and ``wandb_download.py`` call
into analysis/. Everything else is training code and must work without either package.
Analysis may import ``dqn_atari.scores`` (the paper's tables), nothing else of training.
"""

from __future__ import annotations

import ast
from pathlib import Path

from conftest import REPO

PACKAGE = REPO / "dqn_atari"
TOOLS = ("dqn_atari.analysis", "dqn_atari.bench")
ANALYSIS_ENTRY_POINTS = ("plot.py", "side_by_side.py", "wandb_download.py")
ANALYSIS_MAY_IMPORT = ("dqn_atari.analysis", "dqn_atari.scores")


def _imports(path: Path) -> set[str]:
    """Every dqn_atari module ``path`` imports, at any depth (lazy imports included)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module != "dqn_atari":  # `from dqn_atari import scores`: the names
                found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return {name for name in found if name == "dqn_atari" or name.startswith("dqn_atari.")}


def _under(name: str, packages) -> bool:
    return any(name == p or name.startswith(p + ".") for p in packages)


def test_training_code_never_imports_analysis_or_bench():
    training = [p for p in PACKAGE.rglob("*.py")
                if p.relative_to(PACKAGE).parts[0] not in ("analysis", "bench")
                and p.relative_to(PACKAGE).as_posix() not in ANALYSIS_ENTRY_POINTS]
    assert any(p.name == "runner.py" for p in training)
    offenders = {p.relative_to(REPO).as_posix(): sorted(n for n in _imports(p)
                                                        if _under(n, TOOLS))
                 for p in training}
    assert not {k: v for k, v in offenders.items() if v}, offenders


def test_analysis_imports_only_analysis_and_scores():
    modules = list((PACKAGE / "analysis").rglob("*.py"))
    assert modules
    offenders = {p.relative_to(REPO).as_posix(): sorted(
        n for n in _imports(p) if not _under(n, ANALYSIS_MAY_IMPORT))
        for p in modules}
    assert not {k: v for k, v in offenders.items() if v}, offenders


def test_entry_points_are_thin():
    for name in ANALYSIS_ENTRY_POINTS:
        path = PACKAGE / name
        imports = _imports(path)
        assert imports and all(_under(n, ("dqn_atari.analysis",)) for n in imports), (name,
                                                                                    imports)
        assert len(path.read_text(encoding="utf-8").splitlines()) <= 15, name
