# -*- coding: utf-8 -*-
# Copyright (c) certkeeper.pki contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The layers of plugins/module_utils (docs/architecture.md): each imports only from the layers below it
or from its own, and no file imports itself back through others."""

from __future__ import annotations

import ast
import os

import pytest

MODULE_UTILS = os.path.join(os.path.dirname(__file__), "..", "..", "plugins", "module_utils")
# What each layer may import, besides itself (docs/architecture.md draws the same picture).
ALLOWED = {
    "_core": set(),
    "_ca": {"_core"},
    "_tracking": {"_core", "_ca"},
    "_signing_cert": {"_core", "_ca"},
    "_pg_mtls": {"_core", "_ca", "_tracking"},
    "_report": {"_core", "_ca", "_tracking"},
    "_host": {"_core", "_ca", "_tracking", "_signing_cert", "_pg_mtls", "_report"},
}


def module_utils_imports() -> dict:
    """{"_core/files": {"_core/stamp", ...}}: what each module_utils file imports of the others, at any depth
    of its code (an import inside a function counts: it is a dependency all the same)."""
    graph = {}
    for layer in ALLOWED:
        for name in sorted(os.listdir(os.path.join(MODULE_UTILS, layer))):
            if not name.endswith(".py") or name == "__init__.py":
                continue
            module = "%s/%s" % (layer, name[:-3])
            with open(os.path.join(MODULE_UTILS, layer, name), encoding="utf-8") as handle:
                tree = ast.parse(handle.read())
            graph[module] = set()
            for node in ast.walk(tree):
                if isinstance(node, ast.ImportFrom):
                    graph[module] |= set(_targets(layer, node))
    return graph


def _targets(layer: str, node: ast.ImportFrom):
    if node.level == 0:
        prefix = "ansible_collections.certkeeper.pki.plugins.module_utils."
        if (node.module or "").startswith(prefix):
            parts = node.module[len(prefix) :].split(".")
            yield from _named(parts, node)
        return
    base = [layer] if node.level == 1 else []
    parts = base + (node.module.split(".") if node.module else [])
    yield from _named(parts, node)


def _named(parts: list, node: ast.ImportFrom):
    if len(parts) == 2:
        yield "/".join(parts)
    else:  # from ..layer import module, module
        for alias in node.names:
            yield "%s/%s" % (parts[0], alias.name)


GRAPH = module_utils_imports()


@pytest.mark.parametrize("module", sorted(GRAPH))
def test_each_file_imports_only_from_its_layer_and_the_layers_below(module):
    layer = module.split("/")[0]
    wrong = sorted(target for target in GRAPH[module] if target.split("/")[0] not in ALLOWED[layer] | {layer})
    assert not wrong, "%s (layer %s) may import from %s only, but imports %s" % (
        module, layer, sorted(ALLOWED[layer] | {layer}), wrong)


def test_no_import_cycle():
    done, stack = set(), []

    def visit(module):
        if module in stack:
            raise AssertionError("import cycle: %s" % " -> ".join(stack[stack.index(module):] + [module]))
        if module in done:
            return
        stack.append(module)
        for target in sorted(GRAPH.get(module, ())):
            visit(target)
        stack.pop()
        done.add(module)

    for module in sorted(GRAPH):
        visit(module)


def test_the_checker_sees_imports_and_cycles():
    """The graph is real: files import what they say, and a planted cycle would be found."""
    assert "_core/stamp" in GRAPH["_core/files"] and "_core/files" in GRAPH["_core/stamp_record"]
    assert "_ca/registry" in GRAPH["_tracking/renewal"]
    GRAPH["_core/stamp"].add("_core/files")
    try:
        with pytest.raises(AssertionError, match="import cycle"):
            test_no_import_cycle()
    finally:
        GRAPH["_core/stamp"].discard("_core/files")


def test_the_host_program_needs_nothing_but_the_standard_library_until_it_works():
    """The stamp reader and the program are sent to a host as one script: the reader imports nothing of this
    collection, and the program only the work (direct_run), from the code sent along, when the stamp has no
    answer."""
    assert GRAPH["_core/stamp"] == set()
    assert GRAPH["_host/program"] == {"_host/direct_run"}
