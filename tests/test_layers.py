"""The project's top-level packages form layers; a package imports only the ones below it.

Lowest first: ``online`` (the pure numpy/scipy/pydantic core) -> ``schemas`` -> ``offline``
-> ``stream_app`` -> ``replay`` -> ``movierec_cli``. Every ``import`` in every module counts,
including ones inside functions and under ``if TYPE_CHECKING:`` (a cycle there is still a
cycle for the reader and for any tool that resolves annotations).
"""
from __future__ import annotations

import ast
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LAYERS: tuple[str, ...] = ("online", "schemas", "offline", "stream_app", "replay", "movierec_cli")
# Top-level names in the repository that no package may import (they import the packages).
NOT_IMPORTABLE: frozenset[str] = frozenset({"tests", "bench"})
ONLINE_THIRD_PARTY: frozenset[str] = frozenset({"numpy", "scipy", "pydantic", "pydantic_core", "pydantic_settings"})
"""pydantic_core: pydantic's own JSON engine (the compact state bytes)."""
COMPILED = "online/kernels.py"
"""The one module of ``online`` that may import numba: the compiled twins of numpy code
(``online.kernels``), which only ``online.compiled`` imports, inside a function."""


def modules(package: str) -> list[Path]:
    return sorted((ROOT / package).rglob("*.py"))


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports_in(source: str, module: str, is_package: bool) -> Iterator[tuple[int, str]]:
    """(line, absolute dotted module) for every import anywhere in ``source``: top level, inside
    functions and ``if TYPE_CHECKING:`` blocks, relative ones resolved against ``module``, and
    ``importlib.import_module("...")`` / ``__import__("...")`` calls with a literal name."""
    package_parts = module.split(".") if is_package else module.split(".")[:-1]
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package_parts[: len(package_parts) - (node.level - 1)]
                yield node.lineno, ".".join([*base, node.module] if node.module else base)
            else:
                yield node.lineno, node.module or ""
        elif (isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant)
              and isinstance(node.args[0].value, str)
              and ((isinstance(node.func, ast.Attribute) and node.func.attr == "import_module")
                   or (isinstance(node.func, ast.Name) and node.func.id in ("import_module", "__import__")))):
            yield node.lineno, node.args[0].value


def imported_modules(path: Path) -> Iterator[tuple[int, str]]:
    return imports_in(path.read_text(encoding="utf-8"), module_name(path), path.name == "__init__.py")


def violations(package: str) -> list[str]:
    allowed = set(LAYERS[: LAYERS.index(package) + 1])
    out = []
    for path in modules(package):
        rel = path.relative_to(ROOT)
        for line, target in imported_modules(path):
            top = target.split(".")[0]
            if top in NOT_IMPORTABLE or (top in LAYERS and top not in allowed):
                out.append(f"{rel}:{line}: imports {target} ({package} may import only {sorted(allowed)})")
    return out


@pytest.mark.parametrize("package", LAYERS)
def test_package_imports_only_the_layers_below_it(package: str) -> None:
    assert modules(package), f"no modules found under {package}/"
    found = violations(package)
    assert not found, "layering violations:\n" + "\n".join(found)


def test_online_imports_only_stdlib_numpy_scipy_pydantic() -> None:
    allowed = set(sys.stdlib_module_names) | ONLINE_THIRD_PARTY | {"online"}
    found = []
    for path in modules("online"):
        extra = {"numba"} if path.relative_to(ROOT).as_posix() == COMPILED else set()
        for line, target in imported_modules(path):
            if target.split(".")[0] not in allowed | extra:
                found.append(f"{path.relative_to(ROOT)}:{line}: imports {target}")
    assert not found, ("online may import only itself, the standard library and "
                       f"{sorted(ONLINE_THIRD_PARTY)} (and numba in {COMPILED}):\n" + "\n".join(found))


def test_only_the_lazy_loader_imports_the_compiled_kernels() -> None:
    """Importing the pure core never loads numba: ``online.kernels`` is imported by
    ``online.compiled`` alone, inside its function, and by nothing at module level."""
    importers = []
    for package in LAYERS:
        for path in modules(package):
            tree = ast.parse(path.read_text(encoding="utf-8"))
            top_level = {id(node) for node in tree.body}
            for node in ast.walk(tree):
                names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                    [f"{node.module}.{a.name}" for a in node.names] if isinstance(node, ast.ImportFrom) else []
                if any(n == "online.kernels" or n.startswith("online.kernels.") for n in names):
                    importers.append((path.relative_to(ROOT).as_posix(), id(node) in top_level))
    assert importers == [("online/compiled.py", False)], importers


def test_the_walker_sees_nested_type_checking_relative_and_dynamic_imports() -> None:
    src = ("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import stream_app.settings\n"
           "def f():\n    from offline import artifacts\nfrom .sibling import x\nfrom .. import y\n"
           "import importlib\nimportlib.import_module('replay.run')\n")
    found = {target for _, target in imports_in(src, "online.sub.mod", is_package=False)}
    assert {"stream_app.settings", "offline", "online.sub.sibling", "online", "replay.run"} <= found
