"""Sphinx configuration for the bws documentation."""

from __future__ import annotations

import inspect
import os
import re
import sys
from typing import Any

# The API reference (api.rst) documents this checkout's bws, not an installed copy.
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

project = "bws"
author = "the bws team"
copyright = "2026, the bws team"
extensions: list[str] = ["sphinx.ext.autodoc"]
exclude_patterns = ["_build"]
html_theme = "alabaster"

# The docstrings are reST with Sphinx field lists (:param:, :raises:, :ivar:); members are
# listed in source order, signatures keep the annotations as written.
autodoc_member_order = "bysource"
autodoc_typehints = "signature"
autodoc_preserve_defaults = True
autodoc_default_options = {"show-inheritance": True}

#: The public modules the API reference covers, each name documented once (api.rst).
PUBLIC = ("bws", "bws.tls", "bws.auth", "bws.sync", "bws.testing")


def publicNames() -> set[str]:
    """``module.name`` for every public name, under the first module of ``PUBLIC`` that
    exports it."""
    import importlib

    names: set[str] = set()
    seen: set[str] = set()
    for moduleName in PUBLIC:
        module = importlib.import_module(moduleName)
        for name in module.__all__:
            if name not in seen:
                names.add(f"{moduleName}.{name}")
        seen.update(module.__all__)
    return names


def attributeDoc(name: str, value: object) -> list[str]:
    """The ``#:`` comment of a constant re-exported by a package (``bws.NORMAL_CLOSURE``),
    found in the module that assigns it (autodoc reads only the package's own source)."""
    from sphinx.pycode import ModuleAnalyzer, PycodeError

    for moduleName, module in sorted(sys.modules.items()):
        if not moduleName.startswith("bws.") or vars(module).get(name) is not value:
            continue
        try:
            docs = ModuleAnalyzer.for_module(moduleName).find_attr_docs()
        except PycodeError:
            continue
        if ("", name) in docs:
            return list(docs["", name])
    return []


def interfaceLines(interface: Any) -> list[str]:
    """A zope interface's attributes and methods, as reST (autodoc does not list them)."""
    from zope.interface.interface import Method

    lines: list[str] = []
    for member in interface.names():
        description = interface[member]
        signature = description.getSignatureString() if isinstance(description, Method) else ""
        doc = inspect.cleandoc(description.getDoc() or "").splitlines()
        lines += ["", f"``{member}{signature}``"]
        lines += ["   " + line if line.strip() else "" for line in doc] or ["   \\"]
    return lines


def fillDocstring(app: Any, what: str, name: str, obj: Any, options: Any,
                  lines: list[str]) -> None:
    """Give re-exported constants their comment (rather than the docstring of ``str`` or
    ``tuple``), and interfaces their members."""
    from zope.interface.interface import InterfaceClass

    if what != "data":
        return
    if isinstance(obj, InterfaceClass):
        lines += interfaceLines(obj)
    elif not lines or "\n".join(lines).strip() == inspect.cleandoc(type(obj).__doc__ or ""):
        # The docstring of ``str``, ``tuple`` or a union says nothing about the constant.
        lines[:] = attributeDoc(name.rpartition(".")[2], obj)


#: How a zope interface in an annotation prints (``<InterfaceClass a.b.IName>``).
_INTERFACE = re.compile(r"<InterfaceClass ([\w.]+)>")


def interfaceNames(app: Any, what: str, name: str, obj: Any, options: Any,
                   signature: str | None, returnAnnotation: str | None) -> tuple[Any, Any]:
    """Annotations naming a zope interface print as its dotted name, so that the signature
    parses (autodoc writes the interface's ``repr``)."""
    def fix(text: str | None) -> str | None:
        return None if text is None else _INTERFACE.sub(r"~\1", text)

    return fix(signature), fix(returnAnnotation)


def interfaceNamesInText(app: Any, doctree: Any) -> None:
    """The same for the annotations of attributes, written as text."""
    from docutils import nodes

    for node in list(doctree.findall(nodes.Text)):
        if "<InterfaceClass " in node:
            node.parent.replace(node, nodes.Text(_INTERFACE.sub(r"\1", str(node))))


def checkCoverage(app: Any, env: Any) -> None:
    """Warn (an error under ``-W``) for every public name api.rst leaves out."""
    from sphinx.util import logging

    documented = {entry[0] for entry in env.get_domain("py").get_objects()}
    for name in sorted(publicNames() - documented):
        logging.getLogger(__name__).warning(
            "api.rst: the public name %s is not documented", name)


def setup(app: Any) -> dict[str, Any]:
    app.connect("autodoc-process-docstring", fillDocstring)
    app.connect("autodoc-process-signature", interfaceNames)
    app.connect("doctree-read", interfaceNamesInText)
    app.connect("env-check-consistency", checkCoverage)
    return {"parallel_read_safe": True}
