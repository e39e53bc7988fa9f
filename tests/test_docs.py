"""The README and docs/ name files of this repository that exist, and nothing outside it."""

import os
import re

import pytest

_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_DOCS = ("README.md", "docs/design.md", "docs/listwise_schema.md",
         "docs/quality/README.md")
# A path in backticks: outside the repository, or under a top-level folder;
# an optional ":Name" after a file names something in it.
_PATH = re.compile(
    r"`((?:\.\./|(?:components|models|serving|tfx_pipeline|testing|tests|"
    r"bench|docs)/)[\w./-]*)(?::\w+)?`")


@pytest.mark.parametrize("doc", _DOCS)
def test_paths_in_the_docs_exist_in_the_repository(doc):
  with open(os.path.join(_ROOT, doc), encoding="utf-8") as f:
    paths = _PATH.findall(f.read())
  assert paths or doc != "README.md"
  outside = [p for p in paths if p.startswith("../")]
  missing = [p for p in paths
             if not os.path.exists(os.path.join(_ROOT, p.rstrip("/")))]
  assert not outside and not missing, (outside, missing)


def test_the_readme_points_to_the_design_in_the_repository():
  with open(os.path.join(_ROOT, "README.md"), encoding="utf-8") as f:
    assert "[`docs/design.md`](docs/design.md)" in f.read()
