"""The map (DESIGN §9, docs/architecture.md): no import cycle between the project's modules, events wired.

The layer contracts themselves are import-linter's (`lint-imports` in `make lint`); this file checks what a
contract cannot say: that no two modules import each other in a ring, however long, counting imports made
inside functions too (a lazy import hides a cycle from Python, not from the map).
"""

import inspect
import re
import tomllib
from pathlib import Path

import grimp
from django.conf import settings

from loyalty.events import event_handlers

ROOT = Path(__file__).resolve().parent.parent


def project_packages() -> list[str]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    return config["tool"]["importlinter"]["root_packages"]


def strongly_connected(graph: dict[str, set[str]]) -> list[set[str]]:
    """Tarjan's algorithm, iterative: the groups of modules that reach each other."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[set[str]] = []
    counter = 0
    for start in graph:
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            for child in children:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.get(child, ())))))
                    break
                if child in on_stack:
                    low[node] = min(low[node], index[child])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    group = set()
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        group.add(member)
                        if member == node:
                            break
                    groups.append(group)
    return groups


def test_strongly_connected_finds_a_ring_and_nothing_else():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert sorted(map(sorted, strongly_connected(graph))) == [["a", "b", "c"], ["d"]]


def test_no_import_cycle_between_project_modules():
    imports = grimp.build_graph(*project_packages(), include_external_packages=False, cache_dir=None)
    graph = {
        module: {imported for imported in imports.find_modules_directly_imported_by(module) if imported != module}
        for module in imports.modules
    }
    cycles = [sorted(group) for group in strongly_connected(graph) if len(group) > 1]
    assert cycles == []


def test_every_event_handler_resolves_and_takes_keywords_only():
    for name in settings.TIERLINE_EVENT_HANDLERS:
        for handler in event_handlers(name):
            parameters = inspect.signature(handler).parameters.values()
            assert all(p.kind in (p.KEYWORD_ONLY, p.VAR_KEYWORD) for p in parameters), handler


def test_every_emitted_event_is_wired():
    emitted = set()
    for package in project_packages():
        for path in (ROOT / package).rglob("*.py"):
            emitted |= set(re.findall(r'event_emit\(\s*"([a-z_.]+)"', path.read_text()))
    assert emitted
    assert emitted <= set(settings.TIERLINE_EVENT_HANDLERS)
