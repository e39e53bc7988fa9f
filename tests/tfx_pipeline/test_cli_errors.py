"""The CLI's exception -> exit status table names real classes."""

import importlib

import pytest

from tfx_pipeline.cli import errors
from tfx_pipeline.cli import flags


@pytest.mark.parametrize("module,name,status,prefix", errors.TABLE,
                         ids=[f"{m}.{n}" for m, n, _, _ in errors.TABLE])
def test_every_row_names_an_exception_class_its_module_defines(
    module, name, status, prefix):
  # A class moved to another module must move its row too: the lookup is
  # by module name, so a stale row would silently never match.
  cls = getattr(importlib.import_module(module), name, None)
  assert isinstance(cls, type) and issubclass(cls, Exception), (
      f"{module} has no exception class {name}")
  assert cls.__module__ == module
  error = cls.__new__(cls)
  assert errors.classify(error) == (status, prefix)


def test_an_unknown_error_is_not_classified():
  assert errors.classify(ValueError("x")) is None


def test_a_known_error_prints_one_line_and_returns_its_status(capsys):
  def fail():
    raise flags.UsageError("--foo must be positive")

  assert errors.call(fail) == errors.USAGE
  assert capsys.readouterr().err == "error: --foo must be positive\n"
