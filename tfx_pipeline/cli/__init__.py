"""The `coarse-rank` command line: one module per command group.

Heavy modules (TensorFlow, Beam, TFX) are imported inside the handlers, so
`--help` and the light commands never pay for them.
"""

import argparse
import os
import sys
from typing import List, Optional

from tfx_pipeline.cli import ablate
from tfx_pipeline.cli import console
from tfx_pipeline.cli import data
from tfx_pipeline.cli import errors
from tfx_pipeline.cli import pipeline
from tfx_pipeline.cli import serving


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
  return parser


def main(argv: Optional[List[str]] = None) -> int:
  os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
  args = build_parser().parse_args(argv)
  args.argv = list(sys.argv[1:] if argv is None else argv)
  console.configure(args.verbose)
  return errors.call(args.handler, args)
