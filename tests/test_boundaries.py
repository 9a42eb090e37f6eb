"""The package's import rules, read from the source (ast), so a change that breaks one fails here by name.

- No module (of the package, benchmarks or scripts) imports an underscore name from another anyaudio_eval
  module, or reaches one through a module it imported (`module._name`): what starts with `_` is its own
  module's business.
- The model runtime has one public face: outside `anyaudio_eval/engine/`, code imports `anyaudio_eval.engine`,
  never one of its modules.
- The runtime sits below its users: `engine/` imports nothing of the provider, lm-eval, training, judge, task
  or scorer layers.
- The package is layered (the README's Development picture): a module imports its own folder, the modules of
  a lower layer and, inside one layer, only the members of its unit; so nothing imports a task, a provider or
  the report from below, and no two folders of one layer lean on each other.
- `import anyaudio_eval` and the Inspect registry load no torch (the `hf` extra stays optional).
"""

from __future__ import annotations

import ast
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "anyaudio_eval"
ENGINE = "anyaudio_eval.engine"
ABOVE_ENGINE = ("providers", "lmeval", "training", "judge", "tasks", "scorers", "report", "cli")
# Lowest first. Each entry is one unit: its members may import each other (report, plots and leaderboard read
# each other's summaries); everything else only imports lower layers.
LAYERS: tuple[tuple[str, ...], ...] = (
    ("constants", "errors"),
    ("audio", "shards"),
    ("bench",),
    ("rubric", "acoustic", "models"),
    ("engine", "judge"),
    ("scorers", "providers"),
    ("tasks", "reward", "lmeval", "training"),
    ("report", "plots", "leaderboard"),
    ("cli", "_registry"),
)
UNITS = ({"report", "plots", "leaderboard"},)


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def sources(*folders: Path) -> Iterator[tuple[Path, ast.Module]]:
    for folder in folders:
        for path in sorted(folder.rglob("*.py")):
            yield path, ast.parse(path.read_text(encoding="utf-8"), filename=str(path))


def imports(tree: ast.Module) -> Iterator[tuple[int, str, str | None]]:
    """(line, module, name) of every import of an anyaudio_eval module; name is None for `import x`."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("anyaudio_eval"):
                    yield node.lineno, alias.name, None
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and (node.module or "").startswith("anyaudio_eval"):
            for alias in node.names:
                yield node.lineno, str(node.module), alias.name


def is_private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def module_aliases(tree: ast.Module) -> set[str]:
    """Local names bound to anyaudio_eval modules (`import anyaudio_eval.x as m`, `from anyaudio_eval.x import m`)."""
    bound: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            bound.update(a.asname for a in node.names if a.name.startswith("anyaudio_eval") and a.asname)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and (node.module or "").startswith("anyaudio_eval"):
            for alias in node.names:
                target = PACKAGE.parent / Path(*f"{node.module}.{alias.name}".split("."))
                if target.with_suffix(".py").is_file() or (target / "__init__.py").is_file():
                    bound.add(alias.asname or alias.name)
    return bound


def test_no_module_imports_another_modules_underscore_names():
    found = []
    # tests are left out: a unit test may look at its own module's private helpers
    for path, tree in sources(PACKAGE, ROOT / "benchmarks", ROOT / "scripts"):
        here = module_name(path)
        for line, module, name in imports(tree):
            if module == here:
                continue
            if any(is_private(part) for part in module.split(".")[1:]) and module != "anyaudio_eval._registry":
                found.append(f"{path.relative_to(ROOT)}:{line}: imports the private module {module}")
            if name is not None and is_private(name):
                found.append(f"{path.relative_to(ROOT)}:{line}: imports {name} from {module}")
        aliases = module_aliases(tree)
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Attribute)
                and isinstance(node.value, ast.Name)
                and node.value.id in aliases
                and is_private(node.attr)
            ):
                found.append(f"{path.relative_to(ROOT)}:{node.lineno}: reaches {node.value.id}.{node.attr}")
    assert not found, "underscore names used across modules:\n" + "\n".join(found)


def test_the_engine_is_imported_through_its_public_face():
    found = []
    for path, tree in sources(PACKAGE, ROOT / "benchmarks", ROOT / "scripts", ROOT / "tests"):
        if path.is_relative_to(PACKAGE / "engine"):
            continue
        for line, module, name in imports(tree):
            if module.startswith(ENGINE + ".") or (module == ENGINE and name is not None and is_private(name)):
                found.append(f"{path.relative_to(ROOT)}:{line}: imports {module}{'.' + name if name else ''}")
    # benchmarks/*.sh run Python too
    for script in sorted((ROOT / "benchmarks").glob("*.sh")):
        for n, text in enumerate(script.read_text(encoding="utf-8").splitlines(), 1):
            if f"from {ENGINE}." in text or f"import {ENGINE}." in text:
                found.append(f"{script.relative_to(ROOT)}:{n}: {text.strip()}")
    assert not found, f"import {ENGINE}, not its modules:\n" + "\n".join(found)


def test_the_engine_imports_nothing_above_it():
    found = []
    for path, tree in sources(PACKAGE / "engine"):
        for line, module, _ in imports(tree):
            layer = module.split(".")[1] if "." in module else ""
            if layer in ABOVE_ENGINE:
                found.append(f"{path.relative_to(ROOT)}:{line}: imports {module}")
    assert not found, "the engine sits below its users:\n" + "\n".join(found)


def top_level(module: str) -> str:
    """`anyaudio_eval.judge.procedure` -> `judge`; the package itself is ''."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def test_the_package_imports_only_downwards():
    level = {name: n for n, layer in enumerate(LAYERS) for name in layer}
    found = []
    for path, tree in sources(PACKAGE):
        here = top_level(module_name(path))
        if here == "":
            continue
        assert here in level, f"{here} is in no layer: add it to LAYERS (and to the README's Development picture)"
        for line, module, _ in imports(tree):
            there = top_level(module)
            if there in ("", here) or any({here, there} <= unit for unit in UNITS):
                continue
            if level.get(there, len(LAYERS)) >= level[here]:
                found.append(f"{path.relative_to(ROOT)}:{line}: {here} imports {module}")
    assert not found, "imports go downwards only (tests/test_boundaries.py LAYERS):\n" + "\n".join(found)


def test_the_engine_exports_what_its_modules_define_for_others():
    import pytest

    pytest.importorskip("torch")
    import anyaudio_eval.engine as engine

    assert sorted(engine.__all__) == sorted(set(engine.__all__)), "duplicates in __all__"
    for name in engine.__all__:
        assert hasattr(engine, name), name


def test_importing_the_package_and_its_registry_loads_no_torch():
    code = (
        "import sys, anyaudio_eval, anyaudio_eval._registry, anyaudio_eval.providers; "
        "assert 'torch' not in sys.modules, 'torch imported'"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == 0, done.stderr
