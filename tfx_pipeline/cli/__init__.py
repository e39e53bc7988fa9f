"""The `coarse-rank` command line: one module per command group.

Heavy modules (TensorFlow, Beam, TFX) are imported inside the handlers, so
`--help` and the light commands never pay for them.
"""

import argparse
import logging
import os
import sys
from typing import List, Optional

from tfx_pipeline.cli import ablate
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
                      help="log debug messages")
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
  logging.basicConfig(
      level=logging.DEBUG if args.verbose else logging.INFO,
      format="%(asctime)s %(levelname)s %(name)s: %(message)s")
  return errors.call(args.handler, args)
