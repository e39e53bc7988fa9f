"""The README and the docs name files of this repository that exist, link to files that exist, and are all reachable from the README."""

import glob
import os
import re

import pytest

_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# Every doc: the README, the benches' README and every Markdown file under
# docs/, found by glob so that a new doc is checked without a word here.
_DOCS = tuple(["README.md", "bench/README.md"] + sorted(
    os.path.relpath(p, _ROOT).replace(os.sep, "/")
    for p in glob.glob(os.path.join(_ROOT, "docs", "**", "*.md"),
                       recursive=True)))
# A path in backticks, relative to the repository's root in every doc:
# outside the repository, or under a top-level folder; an optional ":Name"
# after a file names something in it.
_PATH = re.compile(
    r"`((?:\.\./|(?:components|models|serving|tfx_pipeline|testing|tests|"
    r"bench|docs)/)[\w./-]*)(?::\w+)?`")
# A Markdown link [text](target) or image ![alt](target), with an optional
# title after the target.
_LINK = re.compile(r"!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
_FENCE = re.compile(r"^[ \t]*(```|~~~).*?^[ \t]*\1", re.DOTALL | re.MULTILINE)
_URL = re.compile(r"^(?:https?:|mailto:)", re.IGNORECASE)
_MAX_README_LINES = 200


def _read(doc):
  with open(os.path.join(_ROOT, doc), encoding="utf-8") as f:
    return f.read()


def _link_targets(doc):
  """The doc's local link targets, as written, without "#anchor" or ":Name"."""
  targets = []
  for target in _LINK.findall(_FENCE.sub("", _read(doc))):
    if _URL.match(target) or target.startswith("#"):
      continue
    target = re.sub(r":\w+$", "", target.split("#", 1)[0])
    targets.append(target)
  return targets


def _resolve(doc, target):
  """The target's path relative to the repository's root."""
  path = os.path.normpath(os.path.join(os.path.dirname(doc), target))
  return path.replace(os.sep, "/")


def test_the_docs_are_found():
  assert {"README.md", "bench/README.md", "docs/design.md",
          "docs/quality/README.md"} <= set(_DOCS)


@pytest.mark.parametrize("doc", _DOCS)
def test_paths_in_the_docs_exist_in_the_repository(doc):
  paths = _PATH.findall(_read(doc))
  assert paths or doc != "README.md"
  outside = [p for p in paths if p.startswith("../")]
  missing = [p for p in paths
             if not os.path.exists(os.path.join(_ROOT, p.rstrip("/")))]
  assert not outside and not missing, (outside, missing)


@pytest.mark.parametrize("doc", _DOCS)
def test_links_in_the_docs_resolve_to_files_of_the_repository(doc):
  targets = _link_targets(doc)
  outside = [t for t in targets if _resolve(doc, t).startswith("../")]
  missing = [t for t in targets if t not in outside and not os.path.exists(
      os.path.join(_ROOT, _resolve(doc, t)))]
  assert not outside and not missing, (outside, missing)


def test_the_readme_is_a_front_door_of_at_most_200_lines():
  lines = _read("README.md").splitlines()
  assert len(lines) <= _MAX_README_LINES, len(lines)


def test_every_doc_is_linked_from_the_readme_or_a_doc_it_links_to():
  linked = {_resolve("README.md", t) for t in _link_targets("README.md")}
  reached = set(linked)
  for doc in linked:
    if doc.endswith(".md") and os.path.isfile(os.path.join(_ROOT, doc)):
      reached |= {_resolve(doc, t) for t in _link_targets(doc)}
  unreached = [doc for doc in _DOCS if doc != "README.md" and doc not in reached]
  assert not unreached


def test_the_readme_points_to_the_design_in_the_repository():
  assert "[`docs/design.md`](docs/design.md)" in _read("README.md")
