"""The import rule: every bws module has a layer, imports point down, no cycles, one Autobahn door.

Layers: L0 leaves and values, L1 records, L2 logic cores (Deferred and ``IReactorTime`` only;
no transport, no twisted.web, no Autobahn), L3 adapters, L4 API objects, L5 entry points. A
module may import from its own layer or below, never in a cycle; inside a package, siblings are
imported directly, not through the package's facade (that would be a cycle). Every import
counts, including those inside functions; only ``if TYPE_CHECKING:`` blocks (never run) are
left out. ``CheckerTests`` prove the checker can fail, on a made-up tree.
"""

from __future__ import annotations

import ast
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cache

from twisted.trial.unittest import SynchronousTestCase

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

#: The layer of every bws module. A key ending in ``.`` covers a whole package (its
#: submodules, at any depth); an exact name wins over a prefix, a longer prefix over a shorter.
LAYERS: dict[str, int] = {
    # L0: leaves and values
    "bws.errors": 0,
    "bws.interfaces": 0,
    "bws.closeframe": 0,
    "bws.request": 0,
    "bws.binding": 0,
    "bws._fields": 0,
    "bws._http": 0,
    "bws._frames": 0,
    "bws._deflate": 0,
    "bws._forwarded": 0,
    "bws.tls._suites": 0,
    # L1: records
    "bws.config": 1,
    "bws.tls._records": 1,
    "bws.auth.records": 1,
    # L2: logic cores
    "bws._connection": 2,
    "bws.server._routing": 2,
    "bws.server._handshake": 2,
    "bws.server._dispatch": 2,
    "bws.server._serving": 2,
    "bws.server._stats": 2,
    "bws.server._caller": 2,
    "bws.client._inbox": 2,
    "bws.client._retry": 2,
    "bws.client._attempt": 2,
    "bws.server._returns": 2,
    "bws.dispatchkey": 2,
    "bws.tls._files": 2,
    "bws.tls._wording": 2,
    "bws.auth.credentials": 2,
    "bws.auth.listener": 2,
    "bws._groups": 2,
    # L3: adapters
    "bws._autobahn": 3,
    "bws.server._web": 3,
    "bws._redisbroker": 3,
    "bws.tls._contexts": 3,
    "bws.tls._transport": 3,
    "bws.tls": 3,
    "bws.auth": 3,
    "bws.auth.": 3,
    # L4: API objects
    "bws.server._listener": 4,
    "bws.server": 4,
    "bws.client._client": 4,
    "bws.client": 4,
    "bws.sync": 4,
    # L5: entry points
    "bws": 5,
    "bws.tap": 5,
    "bws._cli": 5,
    "bws.__main__": 5,
    "bws.configfile": 5,
    "bws.workers": 5,
    "bws.metrics": 5,
    "bws._worker": 5,
    "bws.testing": 5,
    "bws.testing.": 5,
}

#: The only module that may import ``autobahn``.
AUTOBAHN_ADAPTER = "bws._autobahn"


@dataclass(frozen=True)
class Import:
    """One import statement's target, as the importing module sees it."""

    importer: str  # dotted name of the importing module
    path: str  # its file, relative to the checkout
    line: int
    imported: str  # dotted name of the module imported (relative imports resolved)

    def where(self) -> str:
        return f"{self.path}:{self.line}"


@dataclass(frozen=True)
class Tree:
    """The modules of a source tree and every import they make."""

    modules: dict[str, str]  # dotted name -> file path
    imports: tuple[Import, ...]


def layerOf(module: str, layers: Mapping[str, int]) -> int | None:
    """The layer of ``module``: its exact entry, else the longest prefix entry covering it."""
    if module in layers:
        return layers[module]
    best: tuple[int, int] | None = None
    for key, layer in layers.items():
        if key.endswith(".") and module.startswith(key):
            if best is None or len(key) > best[0]:
                best = (len(key), layer)
    return best[1] if best is not None else None


def _isTypeChecking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


class _ImportCollector(ast.NodeVisitor):
    """Every import in a module, at any depth, except inside ``if TYPE_CHECKING:``."""

    def __init__(self, module: str, isPackage: bool, path: str, known: Iterable[str]) -> None:
        self.module = module
        self.package = module if isPackage else module.rpartition(".")[0]
        self.path = path
        self.known = set(known)
        self.found: list[Import] = []

    def add(self, imported: str, node: ast.AST) -> None:
        self.found.append(Import(self.module, self.path, getattr(node, "lineno", 0), imported))

    def visit_If(self, node: ast.If) -> None:
        if _isTypeChecking(node.test):
            for statement in node.orelse:
                self.visit(statement)
            return
        self.generic_visit(node)

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            self.add(alias.name, node)

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        if node.level:
            parts = self.package.split(".") if self.package else []
            if node.level - 1 > len(parts):
                raise ValueError(f"{self.path}:{node.lineno}: relative import beyond the top")
            base = ".".join(parts[:len(parts) - (node.level - 1)])
            source = f"{base}.{node.module}" if node.module else base
        else:
            source = node.module or ""
        plain = False
        for alias in node.names:
            candidate = f"{source}.{alias.name}"
            if candidate in self.known:
                self.add(candidate, node)  # ``from bws.tls import _records``: a submodule
            else:
                plain = True
        if plain:
            self.add(source, node)

    def visit_Call(self, node: ast.Call) -> None:
        # importlib.import_module("bws.x") with a literal name is an import too.
        function = node.func
        name = function.attr if isinstance(function, ast.Attribute) else getattr(
            function, "id", None)
        if (name in ("import_module", "__import__") and node.args
                and isinstance(node.args[0], ast.Constant)
                and isinstance(node.args[0].value, str)):
            self.add(node.args[0].value, node)
        self.generic_visit(node)


def scan(sources: Mapping[str, str]) -> Tree:
    """Parse ``{path: source}`` (paths like ``bws/tls/__init__.py``) into a :class:`Tree`."""
    modules: dict[str, str] = {}
    packages: set[str] = set()
    for path in sources:
        parts = path[:-len(".py")].split("/")
        if parts[-1] == "__init__":
            parts.pop()
            packages.add(".".join(parts))
        modules[".".join(parts)] = path
    imports: list[Import] = []
    for name, path in sorted(modules.items()):
        collector = _ImportCollector(name, name in packages, path, modules)
        collector.visit(ast.parse(sources[path], path))
        imports.extend(collector.found)
    return Tree(modules, tuple(imports))


@cache
def scanCheckout(root: str = ROOT) -> Tree:
    """Every module under ``root/bws`` (parsed once per process)."""
    sources: dict[str, str] = {}
    for directory, subdirectories, files in os.walk(os.path.join(root, "bws")):
        subdirectories[:] = sorted(d for d in subdirectories if d != "__pycache__")
        for name in sorted(files):
            if name.endswith(".py"):
                full = os.path.join(directory, name)
                with open(full, encoding="utf-8") as f:
                    sources[os.path.relpath(full, root).replace(os.sep, "/")] = f.read()
    return scan(sources)


def _internal(tree: Tree) -> list[Import]:
    """Imports of one module of the tree by another (or by itself)."""
    return [i for i in tree.imports if i.imported in tree.modules]


def unassignedModules(tree: Tree, layers: Mapping[str, int]) -> list[str]:
    """``path: module`` for every module with no layer."""
    return [f"{path}: {name} has no layer in LAYERS"
            for name, path in sorted(tree.modules.items()) if layerOf(name, layers) is None]


def upwardImports(tree: Tree, layers: Mapping[str, int]) -> list[str]:
    """One line per import of a higher layer: where, who, what, both layers."""
    found = []
    for i in _internal(tree):
        mine, theirs = layerOf(i.importer, layers), layerOf(i.imported, layers)
        if mine is not None and theirs is not None and theirs > mine:
            found.append(f"{i.where()}: {i.importer} (L{mine}) imports {i.imported} "
                         f"(L{theirs}), a higher layer")
    return found


def missingModules(tree: Tree, package: str = "bws") -> list[str]:
    """Imports naming a module of ``package`` that the tree does not have."""
    found = []
    for i in tree.imports:
        if i.imported.startswith(package + ".") and i.imported not in tree.modules:
            found.append(f"{i.where()}: {i.importer} imports {i.imported}, which does not exist")
    return found


def foreignImports(tree: Tree, top: str, allowed: str) -> list[str]:
    """Imports of package ``top`` by any module but ``allowed``."""
    return [f"{i.where()}: {i.importer} imports {i.imported}; only {allowed} may import {top}"
            for i in tree.imports
            if (i.imported == top or i.imported.startswith(top + ".")) and i.importer != allowed]


def _stronglyConnected(nodes: Iterable[str], edges: Mapping[str, set[str]]) -> list[list[str]]:
    """Tarjan's strongly connected components, each sorted, in a stable order."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    onStack: set[str] = set()
    components: list[list[str]] = []
    counter = 0

    def visit(node: str) -> None:
        nonlocal counter
        # Iterative depth-first search (no recursion limit on deep graphs).
        work = [(node, iter(sorted(edges.get(node, ()))))]
        index[node] = low[node] = counter
        counter += 1
        stack.append(node)
        onStack.add(node)
        while work:
            current, children = work[-1]
            advanced = False
            for child in children:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    onStack.add(child)
                    work.append((child, iter(sorted(edges.get(child, ())))))
                    advanced = True
                    break
                if child in onStack:
                    low[current] = min(low[current], index[child])
            if advanced:
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[current])
            if low[current] == index[current]:
                component = []
                while True:
                    member = stack.pop()
                    onStack.discard(member)
                    component.append(member)
                    if member == current:
                        break
                components.append(sorted(component))

    for node in sorted(nodes):
        if node not in index:
            visit(node)
    return sorted(components)


def importCycles(tree: Tree) -> list[list[Import]]:
    """Import cycles among the tree's modules: for every module caught in one, the shortest
    cycle through it (each cycle reported once), as the chain of imports that closes it."""
    byEdge: dict[tuple[str, str], Import] = {}
    edges: dict[str, set[str]] = {}
    for i in _internal(tree):
        byEdge.setdefault((i.importer, i.imported), i)
        edges.setdefault(i.importer, set()).add(i.imported)
    cycles: list[list[Import]] = []
    seen: set[tuple[str, ...]] = set()
    for component in _stronglyConnected(tree.modules, edges):
        members = set(component)
        if len(component) == 1 and component[0] not in edges.get(component[0], ()):
            continue
        for start in component:
            # Breadth-first: the shortest way from ``start`` back to itself inside the component.
            previous: dict[str, str] = {}
            queue = [start]
            found = False
            while queue and not found:
                following = []
                for node in queue:
                    for child in sorted(edges.get(node, ())):
                        if child not in members:
                            continue
                        if child == start:
                            previous[start] = node
                            found = True
                            break
                        if child not in previous:
                            previous[child] = node
                            following.append(child)
                    if found:
                        break
                queue = following
            path = [start]
            node = previous[start]
            while node != start:
                path.append(node)
                node = previous[node]
            path.reverse()  # start -> ... -> last, and last imports start
            rotation = path.index(min(path))
            key = tuple(path[rotation:] + path[:rotation])
            if key in seen:
                continue
            seen.add(key)
            ring = list(key) + [key[0]]
            cycles.append([byEdge[(a, b)] for a, b in zip(ring, ring[1:], strict=False)])
    return cycles


def describeCycle(cycle: list[Import]) -> str:
    """``a -> b -> a`` and, for each step, where the import is."""
    names = " -> ".join([cycle[0].importer] + [i.imported for i in cycle])
    steps = "; ".join(f"{i.where()} imports {i.imported}" for i in cycle)
    return f"cycle {names} ({steps})"


def report(title: str, problems: list[str]) -> str:
    return f"{title} ({len(problems)}):\n  " + "\n  ".join(problems)


class LayerTests(SynchronousTestCase):
    """The checkout's bws package keeps the import rule."""

    def setUp(self) -> None:
        self.tree = scanCheckout()

    def test_scanFindsModules(self) -> None:
        """The scan sees the package and its imports (so an empty result means something)."""
        self.assertIn("bws", self.tree.modules)
        self.assertIn("bws.errors", self.tree.modules)
        self.assertTrue(_internal(self.tree))

    def test_everyModuleHasALayer(self) -> None:
        """Every module under ``bws/`` is assigned a layer in ``LAYERS``."""
        problems = unassignedModules(self.tree, LAYERS)
        if problems:
            self.fail(report("modules without a layer", problems))

    def test_importsPointDown(self) -> None:
        """No module imports from a higher layer (function-level imports included)."""
        problems = upwardImports(self.tree, LAYERS)
        if problems:
            self.fail(report("imports of a higher layer", problems))

    def test_noCycles(self) -> None:
        """No import cycle among bws modules (function-level imports included)."""
        problems = [describeCycle(c) for c in importCycles(self.tree)]
        if problems:
            self.fail(report("import cycles", problems))

    def test_onlyTheAdapterImportsAutobahn(self) -> None:
        """Only ``bws._autobahn`` imports ``autobahn``."""
        problems = foreignImports(self.tree, "autobahn", AUTOBAHN_ADAPTER)
        if problems:
            self.fail(report("autobahn imported outside the adapter", problems))

    def test_importedModulesExist(self) -> None:
        """Every bws module named in an import exists (no import of a module to come)."""
        problems = missingModules(self.tree)
        if problems:
            self.fail(report("imports of bws modules that do not exist", problems))


FAKE_LAYERS = {"bws": 5, "bws.low": 0, "bws.mid": 2, "bws.pkg": 3, "bws.pkg.": 1,
               "bws.pkg.special": 4, "bws._autobahn": 3}


class CheckerTests(SynchronousTestCase):
    """The checker itself, on a made-up tree: it can fail, and says where and why."""

    def fake(self, **modules: str) -> Tree:
        """``fake(low="...", pkg_special="...")``: a module of a made-up ``bws`` package per
        keyword (``_`` between words for ``/``, ``init`` for ``__init__``, a leading ``_``
        kept); ``bws/__init__.py`` is always there."""
        sources = {"bws/__init__.py": ""}
        for name, source in modules.items():
            private = name.startswith("_")
            parts = ["__init__" if p == "init" else p for p in name.lstrip("_").split("_")]
            if private:
                parts[0] = "_" + parts[0]
            sources["bws/" + "/".join(parts) + ".py"] = source
        return scan(sources)

    def test_upwardImportReported(self) -> None:
        """An import of a higher layer is reported with file, line, both modules and layers;
        an import sideways or down is not."""
        tree = self.fake(init="from bws.mid import x\n",
                         low="import os\n\nfrom bws.mid import helper\n",
                         mid="from bws import low\nfrom bws.low import y\n")
        self.assertEqual(upwardImports(tree, FAKE_LAYERS), [
            "bws/low.py:3: bws.low (L0) imports bws.mid (L2), a higher layer"])

    def test_functionLevelImportCounted(self) -> None:
        """An import inside a function counts; one under ``if TYPE_CHECKING:`` does not, but
        its ``else:`` does."""
        tree = self.fake(
            low=("from typing import TYPE_CHECKING\n"
                      "if TYPE_CHECKING:\n    from bws.mid import A\n"
                      "else:\n    A = None\n"
                      "def f():\n    import bws.mid\n"),
            mid=("import typing\nif typing.TYPE_CHECKING:\n    import bws.pkg\n"
                      "else:\n    import bws.pkg.special\n"),
            pkg_init="", pkg_special="")
        self.assertEqual([(i.importer, i.line, i.imported) for i in _internal(tree)],
                         [("bws.low", 7, "bws.mid"), ("bws.mid", 5, "bws.pkg.special")])

    def test_relativeImportsResolved(self) -> None:
        """``from . import x``, ``from .x import y`` and ``from .. import z`` resolve against the
        module's package (a package's ``__init__`` is its own package)."""
        tree = self.fake(init="from .pkg import special\n",
                         low="",
                         pkg_init="from . import special\nfrom .special import s\n",
                         pkg_special="from .. import low\nfrom ..low import x\n")
        self.assertEqual(
            sorted((i.importer, i.imported) for i in _internal(tree)),
            [("bws", "bws.pkg.special"), ("bws.pkg", "bws.pkg.special"),
             ("bws.pkg", "bws.pkg.special"), ("bws.pkg.special", "bws.low"),
             ("bws.pkg.special", "bws.low")])

    def test_cycleReported(self) -> None:
        """A cycle, even one closed by a function-level import, is reported once, as the
        chain of imports with their lines; a module importing its own facade is one too."""
        tree = self.fake(
            low="from bws.mid import a\n",
            mid="import os\n\ndef later():\n    from bws import low\n",
            pkg_init="from bws.pkg.special import s\n",
            pkg_special="from bws.pkg import other\n")
        self.assertEqual([describeCycle(c) for c in importCycles(tree)], [
            "cycle bws.low -> bws.mid -> bws.low (bws/low.py:1 imports bws.mid; "
            "bws/mid.py:4 imports bws.low)",
            "cycle bws.pkg -> bws.pkg.special -> bws.pkg (bws/pkg/__init__.py:1 imports "
            "bws.pkg.special; bws/pkg/special.py:1 imports bws.pkg)"])

    def test_longCycleAndSelfImport(self) -> None:
        """A three-module ring is one cycle naming all three; a module importing itself is a
        cycle; a chain without a way back is none."""
        tree = self.fake(a="import bws.b\n", b="import bws.c\n",
                         c="import bws.a\n", d="import bws.d\n",
                         e="import bws.a\n")
        self.assertEqual([[i.imported for i in c] for c in importCycles(tree)],
                         [["bws.b", "bws.c", "bws.a"], ["bws.d"]])

    def test_unassignedReported(self) -> None:
        """A module covered by neither an exact nor a prefix entry is reported; exact entries
        win over prefixes."""
        tree = self.fake(low="", new="", pkg_init="",
                         pkg_inner="", pkg_special="")
        self.assertEqual(unassignedModules(tree, FAKE_LAYERS),
                         ["bws/new.py: bws.new has no layer in LAYERS"])
        self.assertEqual([layerOf(m, FAKE_LAYERS) for m in ("bws.pkg", "bws.pkg.inner",
                                                             "bws.pkg.special")], [3, 1, 4])

    def test_autobahnOutsideAdapterReported(self) -> None:
        """``import autobahn...`` or ``from autobahn... import`` anywhere but the adapter is
        reported, function-level included."""
        tree = self.fake(_autobahn="from autobahn.twisted import websocket\n",
                         low="def f():\n    import autobahn.websocket.protocol\n",
                         mid="from autobahn import exception\n")
        self.assertEqual(foreignImports(tree, "autobahn", AUTOBAHN_ADAPTER), [
            "bws/low.py:2: bws.low imports autobahn.websocket.protocol; only bws._autobahn "
            "may import autobahn",
            "bws/mid.py:1: bws.mid imports autobahn; only bws._autobahn may import autobahn"])

    def test_missingModuleReported(self) -> None:
        """An import of a bws module the tree lacks is reported; a name imported from an
        existing module is not."""
        tree = self.fake(low="def f():\n    import bws.auth.listener\n",
                         mid="from bws.low import f\n")
        self.assertEqual(missingModules(tree), [
            "bws/low.py:2: bws.low imports bws.auth.listener, which does not exist"])
