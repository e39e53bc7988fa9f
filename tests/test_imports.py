"""The import graph, read from the packages' `import` statements: layers point one way, no module cycle, serving's clients and server apart."""

import ast
import collections
import os
from typing import Dict, Set

import pytest

_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# Each package imports only packages to its left.
LAYERS = ("models", "serving", "components", "tfx_pipeline", "testing")
# serving/: what a client user imports, what the server runs; the rest
# (constants, tensors, errors, rest_json) both ends share.
CLIENTS = {"serving.client", "serving.rest_client"}
SERVER = {"serving.server", "serving.service", "serving.manager",
          "serving.servable", "serving.batched", "serving.batching",
          "serving.batching_config", "serving.config", "serving.rest",
          "serving.warmup", "serving.signature", "serving.layout"}


def _modules() -> Dict[str, str]:
  """Dotted module name -> source file, for every module of LAYERS."""
  out = {}
  for package in LAYERS:
    for folder, _, files in os.walk(os.path.join(_ROOT, package)):
      for name in files:
        if name.endswith(".py"):
          dotted = os.path.relpath(os.path.join(folder, name), _ROOT)[:-3]
          dotted = dotted.replace(os.sep, ".")
          out[dotted.removesuffix(".__init__")] = os.path.join(folder, name)
  return out


def import_graph(modules: Dict[str, str]) -> Dict[str, Set[str]]:
  """module -> the project modules it imports anywhere in its source
  (function-level imports included): `from a import b` is module a.b if
  there is one, else a."""

  def resolve(name: str) -> str:
    while name and name not in modules:
      name = name.rpartition(".")[0]
    return name

  graph = collections.defaultdict(set)
  for module, path in modules.items():
    with open(path, encoding="utf-8") as f:
      tree = ast.parse(f.read())
    for node in ast.walk(tree):
      if isinstance(node, ast.Import):
        names = [alias.name for alias in node.names]
      elif isinstance(node, ast.ImportFrom):
        # A relative import would escape the names resolved here.
        assert node.level == 0 and node.module, f"{path}: relative import"
        names = [f"{node.module}.{alias.name}" for alias in node.names]
      else:
        continue
      graph[module].update(r for r in map(resolve, names) if r not in ("",
                                                                      module))
  return graph


def find_cycle(graph: Dict[str, Set[str]]):
  """One cycle of `graph` as a list of nodes, None if it has none."""
  state, stack = {}, []

  def visit(node):
    state[node] = "open"
    stack.append(node)
    for nxt in sorted(graph.get(node, ())):
      if state.get(nxt) == "open":
        return stack[stack.index(nxt):] + [nxt]
      if nxt not in state:
        found = visit(nxt)
        if found:
          return found
    stack.pop()
    state[node] = "done"
    return None

  for node in sorted(graph):
    if node not in state:
      found = visit(node)
      if found:
        return found
  return None


@pytest.fixture(scope="module")
def graph():
  return import_graph(_modules())


def _closure(graph, start):
  seen, todo = set(), [start]
  while todo:
    for nxt in graph.get(todo.pop(), ()):
      if nxt not in seen:
        seen.add(nxt)
        todo.append(nxt)
  return seen


def test_find_cycle_finds_one_and_only_one():
  assert find_cycle({"a": {"b"}, "b": {"c"}, "c": set()}) is None
  assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == [
      "a", "b", "c", "a"]


def test_no_module_imports_itself_back(graph):
  assert find_cycle(graph) is None


def test_packages_import_only_the_layers_below_them(graph):
  rank = {package: i for i, package in enumerate(LAYERS)}
  upward = sorted((a, b) for a, targets in graph.items() for b in targets
                  if rank[b.split(".")[0]] > rank[a.split(".")[0]])
  assert not upward


def test_the_readme_states_the_layers_the_test_checks():
  with open(os.path.join(_ROOT, "README.md"), encoding="utf-8") as f:
    text = " ".join(f.read().split())
  assert " ← ".join(f"`{p}`" for p in LAYERS) in text


def test_serving_clients_and_server_import_nothing_of_each_other(graph):
  known = {m for m in graph if m.startswith("serving.")} | {
      t for targets in graph.values() for t in targets
      if t.startswith("serving.")}
  assert known - {"serving"} <= CLIENTS | SERVER | {
      "serving.constants", "serving.tensors", "serving.errors",
      "serving.rest_json"}, "a new serving module: name its side"
  for client in CLIENTS:
    assert not _closure(graph, client) & SERVER, client
  for server in SERVER:
    assert not _closure(graph, server) & CLIENTS, server
