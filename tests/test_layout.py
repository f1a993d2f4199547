"""The package's layout, checked on its import graph (built with ``ast`` from the source).

* no import cycle, and no module imports a leading-underscore name of another module;
* training code never imports the tools (``analysis/``, ``bench/``); the thin entry points
  ``dqn_atari/plot.py``, ``side_by_side.py`` and ``wandb_download.py`` call into analysis/;
* analysis may import ``dqn_atari.scores`` (the paper's tables), nothing else of training;
* one run for any number of seeds: no ``packed_*`` module, one ``Runner``, one
  ``train_phase`` and one ``eval_phase``;
* the run's bookkeeping is in ``dqn_atari/run/``, and the learning parts (agent, update,
  learner, networks, losses, optim, schedules, replay, envs, actor, loop) never import it;
* each module of the run and the loop has its own test file (``tests/test_<module>.py``);
* ``analysis/`` has one module per job (``ANALYSIS_JOBS``), each with a module docstring
  that its ``__init__`` lists; one estimator set, one Dopamine loader, one figure helper;
* a human-normalised score is computed in ``dqn_atari/scores.py`` only.

Every import counts, module level or inside a function (a lazy import is still a
dependency). ``from dqn_atari.pkg import name`` is an edge to ``dqn_atari.pkg.name`` when that
is a module, else to ``dqn_atari.pkg``.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent.parent / "dqn_atari"
TOOLS = ("dqn_atari.analysis", "dqn_atari.bench")
ANALYSIS_ENTRY_POINTS = ("dqn_atari.plot", "dqn_atari.side_by_side", "dqn_atari.wandb_download")
ANALYSIS_MAY_IMPORT = ("dqn_atari.analysis", "dqn_atari.scores")
LEARNING_PARTS = ("dqn_atari.agent", "dqn_atari.update_step", "dqn_atari.learner",
                  "dqn_atari.stacked_learner", "dqn_atari.networks", "dqn_atari.losses",
                  "dqn_atari.optim", "dqn_atari.schedules", "dqn_atari.replay",
                  "dqn_atari.envs", "dqn_atari.actor", "dqn_atari.loop")
TESTS_DIR = Path(__file__).resolve().parent
# Modules of the run and the loop, each tested in tests/test_<last part of its name>.py.
TESTED_ONE_TO_ONE = ("dqn_atari.run.runner", "dqn_atari.run.seed_run", "dqn_atari.loop",
                     "dqn_atari.learner", "dqn_atari.run.checkpoint", "dqn_atari.run.lock",
                     "dqn_atari.actor")
RUN_PACKAGE_MODULES = ("runner", "seed_run", "checkpoint", "lock", "status_file", "provenance",
                       "resume_config", "metrics", "eval_report", "final_eval")
ANALYSIS_JOBS = {  # analysis/ module -> its job
    "tidy": "runs into one tidy table (run directories, W&B downloads)",
    "estimators": "the statistics: aggregates, bootstrap intervals, profiles, P(X > Y), Welch",
    "dopamine": "Dopamine's published DQN: the one loader, name map and iteration length",
    "tables": "the numbers of the report and of the aggregates over training",
    "side_by_side": "our seeds beside Dopamine's, iteration by iteration: the rows",
    "figures": "every figure",
    "report": "the commands that write files: report, aggregates, side-by-side",
    "download": "W&B runs into tidy CSVs",
    "__main__": "python -m dqn_atari.analysis report|aggregates|side-by-side|download",
}


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE_DIR.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in sorted(PACKAGE_DIR.rglob("*.py"))}


def _imports(name: str, path: Path, known: set[str]) -> list[tuple[str, str | None, int]]:
    """(imported module, imported name or None, line) for every dqn_atari import in ``path``."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            found += [(a.name, None, node.lineno) for a in node.names
                      if a.name.split(".")[0] == "dqn_atari"]
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: resolve against this module's package
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            if module.split(".")[0] != "dqn_atari":
                continue
            for alias in node.names:
                sub = f"{module}.{alias.name}"
                found.append((sub, None, node.lineno) if sub in known
                             else (module, alias.name, node.lineno))
    return found


def _graph() -> tuple[dict[str, set[str]], list[str]]:
    """Edges between dqn_atari modules, and the private-name imports across modules."""
    modules = _modules()
    known = set(modules)
    edges: dict[str, set[str]] = {m: set() for m in modules}
    private = []
    for name, path in modules.items():
        for target, imported, line in _imports(name, path, known):
            assert target in known, f"{path}:{line} imports {target}, which does not exist"
            if target != name:
                edges[name].add(target)
            if imported and imported.startswith("_") and target != name:
                private.append(f"{path.relative_to(PACKAGE_DIR.parent)}:{line} imports "
                               f"{imported} from {target}")
    return edges, private


def _find_cycle(edges: dict[str, set[str]]) -> list[str] | None:
    """One import cycle as a path ``[a, b, ..., a]``, or None."""
    state: dict[str, int] = {}  # 1 = on the current path, 2 = done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(edges[node]):
            if state.get(nxt) == 1:
                return path[path.index(nxt):] + [nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        path.pop()
        state[node] = 2
        return None

    for node in sorted(edges):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def _under(name: str, packages) -> bool:
    return any(name == p or name.startswith(p + ".") for p in packages)


def test_the_package_has_no_import_cycle():
    cycle = _find_cycle(_graph()[0])
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def test_no_module_imports_a_private_name_of_another():
    private = _graph()[1]
    assert not private, "private names imported across modules:\n" + "\n".join(private)


def test_training_code_never_imports_analysis_or_bench():
    edges = _graph()[0]
    training = [m for m in edges if not _under(m, TOOLS) and m not in ANALYSIS_ENTRY_POINTS]
    assert "dqn_atari.run.runner" in training and "dqn_atari.train" in training
    offenders = {m: sorted(t for t in edges[m] if _under(t, TOOLS)) for m in training}
    assert not {k: v for k, v in offenders.items() if v}, offenders


def test_learning_parts_never_import_the_run_package():
    edges = _graph()[0]
    learning = [m for m in edges if _under(m, LEARNING_PARTS)]
    assert len(learning) >= len(LEARNING_PARTS)  # every part exists
    offenders = {m: sorted(t for t in edges[m] if _under(t, ("dqn_atari.run",)))
                 for m in learning}
    assert not {k: v for k, v in offenders.items() if v}, offenders


def test_nothing_the_run_package_imports_imports_it_back():
    """With run/ drawn as one node, the import graph has no cycle: run/ stands above all it
    uses (evaluate.py's CLI uses run/; the games it plays are in nature_eval.py, below)."""
    def node(module: str) -> str:
        return "dqn_atari.run" if _under(module, ("dqn_atari.run",)) else module

    collapsed: dict[str, set[str]] = {}
    for module, targets in _graph()[0].items():
        collapsed.setdefault(node(module), set()).update(
            node(t) for t in targets if node(t) != node(module))
    assert "dqn_atari.nature_eval" in collapsed["dqn_atari.run"]
    assert _find_cycle(collapsed) is None, _find_cycle(collapsed)


def test_the_run_package_holds_the_runs_bookkeeping():
    modules = _modules()
    assert {f"dqn_atari.run.{name}" for name in RUN_PACKAGE_MODULES} <= set(modules)
    for name in ("runner", "checkpoint", "run_lock", "run_status", "provenance",
                 "resume_config", "metrics", "final_eval"):
        assert f"dqn_atari.{name}" not in modules, f"dqn_atari/{name}.py is back at the top"


def _definitions(kind, name: str) -> list[str]:
    """The modules that define a top-level class or function ``name``."""
    return [module for module, path in _modules().items()
            for node in ast.parse(path.read_text(encoding="utf-8")).body
            if isinstance(node, kind) and node.name == name]


def test_one_run_and_one_loop_for_any_number_of_seeds():
    assert not [m for m in _modules() if m.rpartition(".")[2].startswith("packed_")]
    assert _definitions(ast.ClassDef, "Runner") == ["dqn_atari.run.runner"]
    for phase in ("train_phase", "eval_phase", "play"):
        assert _definitions(ast.FunctionDef, phase) == ["dqn_atari.loop"], phase


def test_each_module_of_the_run_and_the_loop_has_its_test_file():
    modules = _modules()
    for module in TESTED_ONE_TO_ONE:
        assert module in modules, f"{module} is gone: update TESTED_ONE_TO_ONE"
        test_file = TESTS_DIR / f"test_{module.rpartition('.')[2]}.py"
        assert test_file.is_file(), f"{module} has no {test_file.name}"
        assert module in test_file.read_text(encoding="utf-8"), (
            f"{test_file.name} does not import {module}")


def test_analysis_imports_only_analysis_and_scores():
    edges = _graph()[0]
    analysis = [m for m in edges if _under(m, ("dqn_atari.analysis",))]
    assert analysis
    offenders = {m: sorted(t for t in edges[m] if not _under(t, ANALYSIS_MAY_IMPORT))
                 for m in analysis}
    assert not {k: v for k, v in offenders.items() if v}, offenders


def test_entry_points_are_thin():
    edges, modules = _graph()[0], _modules()
    for name in ANALYSIS_ENTRY_POINTS:
        assert edges[name] and all(_under(t, ("dqn_atari.analysis",)) for t in edges[name]), (
            name, edges[name])
        assert len(modules[name].read_text(encoding="utf-8").splitlines()) <= 15, name


def test_the_checks_catch_a_cycle_and_a_private_import(tmp_path):
    """The graph code itself: a cycle and the imports of a module, lazy ones included."""
    assert _find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": set()}) == ["a", "b", "c", "a"]
    assert _find_cycle({"a": {"b"}, "b": set()}) is None
    source = tmp_path / "probe.py"
    source.write_text("from dqn_atari.replay.frame_store import _helper\n"
                      "from dqn_atari import seeds\n"
                      "def f():\n    import dqn_atari.loop\n")
    known = set(_modules())
    assert _imports("dqn_atari.probe", source, known) == [
        ("dqn_atari.replay.frame_store", "_helper", 1), ("dqn_atari.seeds", None, 2),
        ("dqn_atari.loop", None, 4)]


def test_analysis_has_one_module_per_job_each_saying_what_it_does():
    directory = PACKAGE_DIR / "analysis"
    modules = sorted(p.stem for p in directory.glob("*.py") if p.stem != "__init__")
    assert modules == sorted(ANALYSIS_JOBS), "analysis/ modules changed: update ANALYSIS_JOBS"
    package_doc = ast.get_docstring(ast.parse((directory / "__init__.py").read_text()))
    for name in modules:
        doc = ast.get_docstring(ast.parse((directory / f"{name}.py").read_text()))
        assert doc and len(doc.splitlines()[0]) > 20, f"analysis/{name}.py: no module docstring"
        assert f"{name}.py" in package_doc, f"analysis/__init__.py does not list {name}.py"


def _lines_matching(pattern: str) -> list[str]:
    """``file:line`` of every line of dqn_atari/ matching ``pattern``."""
    found = []
    for path in sorted(PACKAGE_DIR.rglob("*.py")):
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if re.search(pattern, line):
                found.append(f"{path.relative_to(PACKAGE_DIR)}:{number}")
    return found


def test_one_estimator_set_one_dopamine_reference_one_figure_helper():
    """Each of these is defined once: a second copy is what issue 21 removed."""
    once = {
        r"^def (stratified_bootstrap_ci|bootstrap_band|aggregate_iqm|optimality_gap)\(":
            ["analysis/estimators.py"] * 4,
        r"^def iqm\(": ["analysis/estimators.py"],
        r"^FRAMES_PER_ITERATION = 1_000_000": ["analysis/dopamine.py"],
        r"^def (dopamine_game|read_reference)\(": ["analysis/dopamine.py"] * 2,
        r"^def _figure\(": ["analysis/figures.py"],
        r"Figure\(": ["analysis/figures.py"],  # every figure is made by _figure
    }
    for pattern, files in once.items():
        where = _lines_matching(pattern)
        assert [w.rsplit(":", 1)[0] for w in where] == files, (pattern, where)


def _normalisations(path: Path) -> list[int]:
    """Lines of ``path`` that divide ``x - <random>`` by something: the HNS formula."""
    lines = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if (isinstance(node, ast.BinOp) and isinstance(node.op, ast.Div)
                and isinstance(node.left, ast.BinOp) and isinstance(node.left.op, ast.Sub)
                and "random" in ast.unparse(node.left.right)):
            lines.append(node.lineno)
    return lines


def test_human_normalised_scores_are_computed_in_scores_only():
    """``(score - random) / (human - random)`` is computed once, in dqn_atari/scores.py; every
    other module asks scores.py for it."""
    formula = {str(p.relative_to(PACKAGE_DIR)): _normalisations(p)
               for p in sorted(PACKAGE_DIR.rglob("*.py"))}
    assert {k: v for k, v in formula.items() if v} == {"scores.py": formula["scores.py"]}
    assert len(formula["scores.py"]) == 1
    helpers = _lines_matching(r"^def (_?hns\w*|\w*human_normali[sz]ed\w*)\(")
    assert {w.rsplit(":", 1)[0] for w in helpers} == {"scores.py"}, helpers
