"""The `coarse-rank ablate` subcommand."""

import argparse
import shlex
import sys

from components.listwise import params as params_lib
from tfx_pipeline import flags
from tfx_pipeline.ablation import variants as variants_lib

DEFAULT_SEEDS = (0, 1, 2)


def _ablate(args: argparse.Namespace) -> int:
  from components.listwise import report as listwise_report
  from components.raw_logs import files as log_files
  from models import hparams as hparams_lib
  from tfx_pipeline.ablation import run

  try:
    config = run.AblationConfig(
        seeds=tuple(args.seeds), variants=tuple(args.variants),
        train_steps=args.train_steps, eval_steps=args.eval_steps,
        ks=tuple(args.ks), head_share=args.head_share,
        hparams=flags.dataclass_from_args(hparams_lib.HParams, args),
        listwise=flags.dataclass_from_args(params_lib.ListwiseParams, args))
    out = run.run_ablation(
        args.logs, args.output, config,
        command=shlex.join(["coarse-rank"] + list(args.argv)),
        report_dir=args.report_dir)
  except (ValueError, FileNotFoundError) as e:
    print(f"error: {e}", file=sys.stderr)
    return 2
  except log_files.LogSchemaError as e:
    print(f"schema error: {e}", file=sys.stderr)
    return 2
  except listwise_report.QuarantineLimitError as e:
    print(f"error: {e}", file=sys.stderr)
    return 1
  with open(out["report"]) as f:
    print(f.read())
  print(f"report written to {out['report']}")
  return 0


def add_parser(sub) -> None:
  """Adds `ablate` to the `coarse-rank` subparsers."""
  from models import hparams as hparams_lib

  parser = sub.add_parser(
      "ablate",
      help="rerun the published ablations and write the quality report",
      description="Train and evaluate, on the same logs, eval sets and "
                  "budget, the fine ranker's logged scores, a TFRS "
                  "retrieval baseline, the full model and its ablations, "
                  "once per seed; write a Markdown report (findings, mean "
                  "and spread per metric, the command) and the hitrate@K "
                  "curves as PNG. Finished runs under OUTPUT are reused.")
  parser.add_argument("--logs", required=True, help="raw logs directory")
  parser.add_argument("--output", required=True,
                      help="work directory: examples, trained models, "
                           "per-run metrics, results.json")
  parser.add_argument("--report-dir", default=None,
                      help="where report.md and hitrate_curves.png go "
                           "(default: OUTPUT)")
  parser.add_argument("--seeds", type=int, nargs="+",
                      default=list(DEFAULT_SEEDS),
                      help="training seeds; each replaces --model-seed "
                           "in turn (default: %(default)s)")
  parser.add_argument("--variants", nargs="+",
                      default=[v.name for v in variants_lib.VARIANTS],
                      choices=[v.name for v in variants_lib.VARIANTS],
                      metavar="VARIANT",
                      help="trained scorers to compare (default: all: "
                           "%(default)s); the fine ranker is always "
                           "evaluated")
  parser.add_argument("--train-steps", type=int, default=2_000,
                      help="training steps of every trained scorer "
                           "(default: %(default)s)")
  parser.add_argument("--eval-steps", type=int, default=20,
                      help="Trainer validation steps (default: %(default)s)")
  parser.add_argument("--ks", type=int, nargs="+", default=list(variants_lib.DEFAULT_KS),
                      help="hitrate cutoffs, must include 100 "
                           "(default: %(default)s)")
  parser.add_argument("--head-share", type=float, default=0.2,
                      help="share of most-exposed candidate items counted "
                           "as head (default: %(default)s)")
  flags.add_dataclass_flags(parser, params_lib.ListwiseParams,
                            "list building parameters of the full model")
  flags.add_dataclass_flags(parser, hparams_lib.HParams,
                            "hyperparameters of the full model",
                            prefix="model-")
  parser.set_defaults(handler=_ablate)
