"""The `coarse-rank` command line: one module per command group.

Heavy modules (TensorFlow, Beam, TFX) are imported inside the handlers, so
`--help` and the light commands never pay for them.
"""

import argparse
import contextlib
import os
import sys
from typing import Iterator, List, Optional

from tfx_pipeline.cli import ablate
from tfx_pipeline.cli import console
from tfx_pipeline.cli import data
from tfx_pipeline.cli import errors
from tfx_pipeline.cli import pipeline
from tfx_pipeline.cli import serving
from tfx_pipeline.cli import simulate


def build_parser() -> argparse.ArgumentParser:
  parser = argparse.ArgumentParser(
      prog="coarse-rank",
      description="Coarse ranker for e-commerce search: synthetic logs, "
                  "log validation, the TFX pipeline and serving.")
  parser.add_argument("-v", "--verbose", action="store_true",
                      help="log every message of this project, "
                           "TensorFlow, Beam and TFX, down to debug "
                           "(default: this project's progress and warnings, "
                           "each TFX component started and finished, and "
                           "errors)")
  sub = parser.add_subparsers(dest="command", required=True,
                              metavar="COMMAND")
  data.add_parsers(sub)
  serving.add_parsers(sub)
  pipeline.add_parsers(sub)
  ablate.add_parser(sub)
  simulate.add_parser(sub)
  return parser


@contextlib.contextmanager
def _program_name_only_argv() -> Iterator[None]:
  """`sys.argv` holds only the program's name inside the block.

  TFX's Beam executors parse `sys.argv` with absl's flags, where `-v` is
  absl's `--verbosity` (`coarse-rank -v run` failed in the first Beam
  component: "flag --verbosity=run: invalid literal for int()"). Every
  argument is parsed here, and Beam's go to the pipeline explicitly.
  """
  saved = sys.argv
  sys.argv = saved[:1]
  try:
    yield
  finally:
    sys.argv = saved


def main(argv: Optional[List[str]] = None) -> int:
  os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
  args = build_parser().parse_args(argv)
  args.argv = list(sys.argv[1:] if argv is None else argv)
  console.configure(args.verbose)
  with _program_name_only_argv():
    return errors.call(args.handler, args)
