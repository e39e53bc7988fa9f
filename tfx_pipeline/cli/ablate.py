"""The `ablate` command: the published ablations, per seed, into a quality report."""

import argparse
import shlex

from tfx_pipeline.ablation import config as ablation_config
from tfx_pipeline.ablation import variants as variants_lib
from tfx_pipeline.cli import errors
from tfx_pipeline.cli import flags


def _ablate(args: argparse.Namespace) -> int:
  """Rerun the published ablations and write the quality report.

  Train and evaluate, on the same logs, eval sets and budget, the fine
  ranker's logged scores, a TFRS retrieval baseline, the full model and its
  ablations, once per seed, each as a pipeline run up to the validation;
  write a Markdown report (findings, mean and spread per metric, the
  command) and the hitrate@K curves as PNG. Runs of the same settings on the
  same log files are reused from OUTPUT (TFX caching). The pipeline settings
  are the full model's. Exit status: 0 written, 1 quarantine share above the
  limit, 2 bad arguments or a schema error in the logs.
  """
  from tfx_pipeline.ablation import run  # pylint: disable=g-import-not-at-top

  try:
    config = ablation_config.AblationConfig(
        seeds=tuple(args.seeds), variants=tuple(args.variants),
        pipeline=flags.config_from_args(args))
  except ValueError as e:
    raise flags.UsageError(str(e)) from e
  out = run.run_ablation(
      args.logs, args.output, config,
      command=shlex.join(["coarse-rank"] + list(args.argv)),
      report_dir=args.report_dir,
      beam_pipeline_args=flags.beam_args_from(args))
  with open(out["report"]) as f:
    print(f.read())
  print(f"report written to {out['report']}")
  return errors.OK


def add_parser(sub) -> None:
  """Adds `ablate` to the `coarse-rank` subparsers."""
  default = ablation_config.AblationConfig()
  parser = flags.command(sub, "ablate", _ablate)
  parser.add_argument("--logs", required=True, help="raw logs directory")
  parser.add_argument("--output", required=True,
                      help="pipeline output directory of every run, and "
                           "results.json")
  parser.add_argument("--report-dir", default=None,
                      help="where report.md and hitrate_curves.png go "
                           "(default: OUTPUT)")
  parser.add_argument("--seeds", type=int, nargs="+",
                      default=list(default.seeds),
                      help="training seeds; each replaces --model-seed "
                           "in turn (default: %(default)s)")
  parser.add_argument("--variants", nargs="+",
                      default=list(default.variants),
                      choices=[v.name for v in variants_lib.VARIANTS],
                      metavar="VARIANT",
                      help="trained scorers to compare (default: all: "
                           "%(default)s); the fine ranker is always "
                           "evaluated")
  flags.add_beam_flags(parser)
  flags.add_config_flags(parser, default.pipeline)
