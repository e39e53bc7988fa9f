"""Command-line flags generated from the frozen settings dataclasses, one flag per field."""

import argparse
import dataclasses
import inspect
import logging
import re
from typing import Any, Callable, Dict, List, Optional, Type, TypeVar

from tfx_pipeline import beam_options
from tfx_pipeline import config as config_lib

T = TypeVar("T")

# PipelineConfig's nested settings: field -> (flag prefix, group title).
CONFIG_GROUPS = {
    "listwise": ("", "list building parameters"),
    "preprocessing": ("transform-", "Transform parameters"),
    "hparams": ("model-", "model hyperparameters"),
    "validation": ("", "hitrate validation and blessing"),
}
_TOP = "config"


class UsageError(ValueError):
  """Flags whose values the settings refuse (exit status 2)."""


def command(sub, name: str, handler: Callable[[argparse.Namespace], int],
            **options) -> argparse.ArgumentParser:
  """Adds subcommand `name` running `handler`, described by its docstring.

  The docstring's first line is the command's one-line help, the rest its
  `--help` description.
  """
  summary, _, description = inspect.cleandoc(handler.__doc__).partition("\n")
  parser = sub.add_parser(
      name, help=summary[0].lower() + summary[1:].rstrip("."),
      description=" ".join(description.split()), **options)
  parser.set_defaults(handler=handler)
  return parser


def _flag(name: str, prefix: str) -> str:
  return "--" + prefix + name.replace("_", "-")


def _int_at_least(text: str, minimum: int) -> int:
  value = int(text)
  if value < minimum:
    raise argparse.ArgumentTypeError(f"must be >= {minimum}, got {value}")
  return value


def port(text: str) -> int:
  """An argparse type: a TCP port, 1..65535, or 0 for any free one."""
  value = int(text)
  if not 0 <= value <= 65535:
    raise argparse.ArgumentTypeError(
        f"a port is 1..65535 (0: any free one), got {value}")
  return value


def with_flag_names(message: str, flag_of: Dict[str, str]) -> str:
  """`message` with each field name (a word of it) replaced by its flag,
  so an error names what the user typed: "train_steps must be >= 1" ->
  "--train-steps must be >= 1"."""
  if not flag_of:
    return message
  names = sorted(flag_of, key=len, reverse=True)
  pattern = re.compile(r"(?<![\w-])(" + "|".join(map(re.escape, names))
                       + r")(?![\w-])")
  return pattern.sub(lambda m: flag_of[m.group(1)], message)


def positive_int(text: str) -> int:
  """An argparse type: an integer >= 1."""
  return _int_at_least(text, 1)


def non_negative_int(text: str) -> int:
  """An argparse type: an integer >= 0."""
  return _int_at_least(text, 0)


def _parse_bool(text: str) -> bool:
  if text.lower() in ("1", "true", "yes"):
    return True
  if text.lower() in ("0", "false", "no"):
    return False
  raise argparse.ArgumentTypeError(f"expected true or false, got {text!r}")


def _add_field(group, field: dataclasses.Field, default: Any, dest: str,
               prefix: str) -> None:
  options: Dict[str, Any] = dict(dest=dest, default=default,
                                 help="(default: %(default)s)")
  if isinstance(default, tuple):
    kind = type(default[0])
    options.update(nargs="+", type=kind, metavar=kind.__name__.upper())
  elif isinstance(default, bool):
    options.update(type=_parse_bool, metavar="BOOL")
  elif "choices" in field.metadata:
    options.update(choices=field.metadata["choices"])
  else:
    options.update(type=type(default), metavar=type(default).__name__.upper())
  group.add_argument(_flag(field.name, prefix), **options)


def add_dataclass_flags(parser: argparse.ArgumentParser, instance: Any,
                        title: str, prefix: str = "",
                        dest_prefix: Optional[str] = None) -> None:
  """Adds `--<prefix>field-name` for every field of `instance`'s class.

  The defaults are `instance`'s values; booleans take true/false, tuples
  one or more values. The help names the default; the class docstring gives
  each meaning.
  """
  cls = type(instance)
  group = parser.add_argument_group(
      title, f"see {cls.__module__}.{cls.__name__} for each field's meaning")
  for field in dataclasses.fields(cls):
    _add_field(group, field, getattr(instance, field.name),
               f"{dest_prefix or cls.__name__}.{field.name}", prefix)


def dataclass_from_args(cls: Type[T], args: argparse.Namespace,
                        dest_prefix: Optional[str] = None,
                        prefix: str = "") -> T:
  """Builds `cls` from the flags added by `add_dataclass_flags`.

  Raises:
    UsageError: the class refuses the values; the message names the flag
      (`prefix` as given to add_dataclass_flags).
  """
  values = {f.name: getattr(args, f"{dest_prefix or cls.__name__}.{f.name}")
            for f in dataclasses.fields(cls)}
  values = {k: tuple(v) if isinstance(v, list) else v
            for k, v in values.items()}
  try:
    return cls(**values)
  except ValueError as e:
    raise UsageError(with_flag_names(str(e), {
        f.name: _flag(f.name, prefix) for f in dataclasses.fields(cls)
    })) from e


def add_config_flags(parser: argparse.ArgumentParser,
                     default: config_lib.PipelineConfig = (
                         config_lib.PipelineConfig())) -> None:
  """Adds a flag for every setting of PipelineConfig, `default` its values.

  Top-level settings keep their names (`--train-steps`, `--stop-after`);
  nested ones take their group's prefix (CONFIG_GROUPS), e.g.
  `--model-learning-rate`, `--transform-min-frequency`, `--list-size`.
  """
  top = parser.add_argument_group(
      "pipeline settings",
      f"see {config_lib.__name__}.PipelineConfig for each field's meaning")
  for field in dataclasses.fields(config_lib.PipelineConfig):
    value = getattr(default, field.name)
    if field.name in CONFIG_GROUPS:
      prefix, title = CONFIG_GROUPS[field.name]
      add_dataclass_flags(parser, value, title, prefix,
                          dest_prefix=f"{_TOP}.{field.name}")
    else:
      _add_field(top, field, value, f"{_TOP}.{field.name}", "")


def config_from_args(args: argparse.Namespace) -> config_lib.PipelineConfig:
  """The PipelineConfig of the flags added by `add_config_flags`."""
  values = {}
  for field in dataclasses.fields(config_lib.PipelineConfig):
    dest = f"{_TOP}.{field.name}"
    if field.name in CONFIG_GROUPS:
      values[field.name] = dataclass_from_args(
          type(field.default), args, dest_prefix=dest,
          prefix=CONFIG_GROUPS[field.name][0])
    else:
      values[field.name] = getattr(args, dest)
  try:
    return config_lib.PipelineConfig(**values)
  except ValueError as e:
    raise UsageError(with_flag_names(str(e), {
        f.name: _flag(f.name, "")
        for f in dataclasses.fields(config_lib.PipelineConfig)
        if f.name not in CONFIG_GROUPS})) from e


BEAM_ARGS_HELP = ("Beam pipeline options after --, each --name=value or "
                  "--switch; a --runner (e.g. --runner=PortableRunner, "
                  "DataflowRunner, FlinkRunner, SparkRunner) replaces the "
                  "DirectRunner and its --beam-mode and --beam-workers "
                  "(see docs/scale.md)")
_BEAM_OPTION = re.compile(r"--[A-Za-z][A-Za-z0-9_-]*(=.*)?", re.DOTALL)


def add_beam_args(parser: argparse.ArgumentParser,
                  help_text: str = BEAM_ARGS_HELP) -> None:
  """The Beam options after `--` (read with `checked_beam_args`)."""
  parser.add_argument("beam_args", nargs="*", metavar="BEAM_ARG",
                      help=help_text)


def add_beam_flags(parser: argparse.ArgumentParser) -> None:
  """`--beam-mode`, `--beam-workers` and Beam options after `--`."""
  parser.add_argument("--beam-mode", default=config_lib.BEAM_MODES[0],
                      choices=config_lib.BEAM_MODES,
                      help="DirectRunner mode (default: %(default)s)")
  parser.add_argument("--beam-workers", type=positive_int,
                      default=config_lib.DEFAULT_BEAM_WORKERS,
                      help="DirectRunner worker processes "
                           "(default: %(default)s)")
  add_beam_args(parser)


def checked_beam_args(beam_args: List[str]) -> List[str]:
  """`beam_args` if each is `--name=value` or `--switch`.

  Beam drops an argument it cannot parse with a warning only (with
  `runner=DataflowRunner`, dashes missing, the job would run on the
  DirectRunner), so a malformed one is refused here, before any work.
  Option names are not checked: Flink and Spark take options of their own.

  Raises:
    UsageError: an argument is not an option of that form, or `--runner`
      has no value.
  """
  for arg in beam_args:
    if not _BEAM_OPTION.fullmatch(arg):
      raise UsageError(
          f"Beam argument {arg!r} is not an option: write each Beam "
          "option after -- as --name=value or --switch (e.g. -- "
          "--runner=PortableRunner --job_endpoint=embed)")
    if arg == "--runner":
      raise UsageError("Beam argument --runner needs a value, e.g. "
                       "--runner=DataflowRunner")
  return list(beam_args)


def unknown_beam_options(beam_args: List[str]) -> List[str]:
  """The names of the options no Beam option class knows (imported ones:
  Beam's own, and any a plugin registered), e.g. a typo or an option of a
  runner's own (Flink and Spark take some)."""
  from apache_beam.options import pipeline_options  # pylint: disable=g-import-not-at-top

  known = pipeline_options.PipelineOptions(beam_args).get_all_options(
      drop_default=False)
  names = [arg[2:].split("=", 1)[0] for arg in beam_args]
  return [name for name in names
          if name.replace("-", "_") not in known
          and not (name.startswith("no_") and name[3:] in known)]


def beam_args_from(args: argparse.Namespace) -> List[str]:
  """The Beam options of the flags added by `add_beam_flags`.

  Options no Beam option class knows are passed on (a runner may have
  options of its own) with a warning naming them: Beam itself would drop
  them silently.

  Raises:
    UsageError: a malformed Beam argument (see `checked_beam_args`).
  """

  beam_args = checked_beam_args(args.beam_args)
  unknown = unknown_beam_options(beam_args)
  if unknown:
    logging.warning(
        "Beam options no Beam option class knows, passed on as given (a "
        "typo, or an option of the runner's own): %s",
        ", ".join(f"--{name}" for name in unknown))
  return beam_options.beam_args(args.beam_mode, args.beam_workers, beam_args)
