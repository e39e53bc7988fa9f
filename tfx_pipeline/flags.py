"""Command-line flags generated from a frozen parameter dataclass, one flag per field."""

import argparse
import dataclasses
from typing import Type, TypeVar

T = TypeVar("T")


def _flag(name: str, prefix: str) -> str:
  return "--" + prefix + name.replace("_", "-")


def positive_int(text: str) -> int:
  """An argparse type: an integer >= 1."""
  value = int(text)
  if value < 1:
    raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
  return value


def add_beam_mode_flag(parser: argparse.ArgumentParser) -> None:
  """Adds `--beam-mode`: the DirectRunner mode of local runs."""
  parser.add_argument("--beam-mode", default="multi_processing",
                      choices=["multi_processing", "in_memory"],
                      help="DirectRunner mode (default: %(default)s)")


def _parse_bool(text: str) -> bool:
  if text.lower() in ("1", "true", "yes"):
    return True
  if text.lower() in ("0", "false", "no"):
    return False
  raise argparse.ArgumentTypeError(f"expected true or false, got {text!r}")


def add_dataclass_flags(parser: argparse.ArgumentParser, cls: type,
                        title: str, prefix: str = "") -> None:
  """Adds `--<prefix>field-name` for every field of `cls`, with its default.

  Booleans take true/false. The help names the default; the class docstring
  gives each meaning.
  """
  group = parser.add_argument_group(
      title, f"see {cls.__module__}.{cls.__name__} for each field's meaning")
  for field in dataclasses.fields(cls):
    kind = type(field.default)
    group.add_argument(_flag(field.name, prefix),
                       dest=f"{cls.__name__}.{field.name}",
                       type=_parse_bool if kind is bool else kind,
                       default=field.default, metavar=kind.__name__.upper(),
                       help="(default: %(default)s)")


def dataclass_from_args(cls: Type[T], args: argparse.Namespace) -> T:
  """Builds `cls` from the flags added by `add_dataclass_flags`."""
  values = {f.name: getattr(args, f"{cls.__name__}.{f.name}")
            for f in dataclasses.fields(cls)}
  return cls(**values)
