"""Data commands: `generate` synthetic logs, `validate-logs`, `build-examples` (the listwise Beam stage alone)."""

import argparse
import json

from components.listwise import params as params_lib
from tfx_pipeline.cli import errors
from tfx_pipeline import outputs
from tfx_pipeline.cli import flags
from tfx_pipeline.synthetic import config as world_config
from tfx_pipeline.synthetic import worlds


# `generate` flags that override a world's preset only when given.
_WORLD_OVERRIDES = {"items": "num_items", "users": "num_users",
                    "fine_head_share": "fine_head_share",
                    "fine_tail_bias": "fine_tail_bias",
                    "out_of_scene_shown_weight": "out_of_scene_shown_weight"}


def _generate(args: argparse.Namespace) -> int:
  """Write a synthetic search-log world as Parquet.

  Simulate search requests, the fine ranker, clicks and purchases (in search
  and in other scenes) of one world of the suite and write every table of
  the raw-log contract under --out. Deterministic per --world and --seed.
  The size and mechanism flags override the world's preset only when given.
  Exit status: 0 written, 2 bad arguments or --out already holds tables.
  """
  overrides = {field: getattr(args, flag)
               for flag, field in _WORLD_OVERRIDES.items()
               if getattr(args, flag) is not None}
  try:
    cfg = worlds.world_config(args.world, num_requests=args.requests,
                              seed=args.seed, **overrides)
  except ValueError as e:
    # Name the flags typed; the preset's other fields keep their names.
    flag_of = {field: "--" + flag.replace("_", "-")
               for flag, field in _WORLD_OVERRIDES.items()}
    flag_of["num_requests"] = "--requests"
    raise flags.UsageError(
        f"world {args.world!r}: " + flags.with_flag_names(str(e), flag_of)
        + " (the others are the world's preset: "
        "tfx_pipeline/synthetic/worlds.py)") from e
  from tfx_pipeline.synthetic import write  # pylint: disable=g-import-not-at-top

  summary = write.write_logs(args.out, cfg, overwrite=args.overwrite)
  print(json.dumps(summary, indent=2) if args.json
        else f"wrote synthetic logs to {args.out}\n"
             + write.format_summary(summary))
  return errors.OK


def _validate_logs(args: argparse.Namespace) -> int:
  """Check a logs directory against the raw-log contract.

  Check every table under LOGS_DIR against the raw-log contract: row faults
  by reason, coercions (valid rows kept with a value changed, which are not
  faults) and files skipped (not *.parquet; subfolders are not read). Exit
  status: 0 valid, 1 row faults found, 2 schema error (missing table or
  column, wrong type, unreadable file).
  """
  from components.raw_logs import validate  # pylint: disable=g-import-not-at-top

  report = validate.validate_logs(args.logs_dir)
  print(json.dumps(report.to_dict(), indent=2) if args.json
        else report.format())
  return errors.OK if report.ok else errors.FAILED


def _build_examples(args: argparse.Namespace) -> int:
  """Run the listwise example stage (Beam) outside the pipeline.

  Turn a raw logs directory into listwise tf.Examples (train, validation and
  eval splits, the catalog and the validation candidate sets), eval
  candidate sets, quarantined rows and the reconciliation report, with
  Beam. An --out that holds outputs is refused, or with --overwrite
  replaced whole once the run succeeds (never mixed). Arguments after --
  go to Beam, e.g. -- --runner=DirectRunner
  --direct_running_mode=multi_processing --direct_num_workers=2. Exit
  status: 0 done, 1 quarantine share above the limit, 2 schema error
  (every file's header and footer are checked first) or an output
  directory that cannot be written or already holds outputs.
  """
  params = flags.dataclass_from_args(params_lib.ListwiseParams, args)
  beam_args = flags.checked_beam_args(args.beam_args)
  import apache_beam as beam  # pylint: disable=g-import-not-at-top
  from apache_beam.options.pipeline_options import PipelineOptions  # pylint: disable=g-import-not-at-top
  from components.listwise import beam_pipeline  # pylint: disable=g-import-not-at-top
  from components.listwise import report as report_lib  # pylint: disable=g-import-not-at-top

  options = PipelineOptions(beam_args)
  with outputs.fresh(args.out, args.overwrite) as folder:
    report = beam_pipeline.run(args.logs, params,
                               beam_pipeline.OutputPaths.under(folder),
                               lambda: beam.Pipeline(options=options))
  print(f"wrote listwise examples to {args.out} (train/, valid/, eval/, "
        "catalog/, valid_candidates/, eval_candidates/, quarantine/, "
        "report/)")
  print(report_lib.format_report(report))
  return errors.OK


def add_parsers(sub) -> None:
  """Adds `generate`, `validate-logs` and `build-examples`."""
  gen = flags.command(sub, "generate", _generate,
      epilog="worlds: " + "; ".join(f"{name}: {text}"
                                    for name, text in worlds.WORLDS.items()))
  gen.add_argument("--out", required=True, help="logs directory to write")
  gen.add_argument("--world", default="default", choices=list(worlds.WORLDS),
                   help="the world's structure (default: %(default)s; see "
                        "below and tfx_pipeline/synthetic/worlds.py)")
  gen.add_argument("--requests", type=flags.positive_int, default=None,
                   help="number of search requests (default: the world's, "
                        f"{world_config.WorldConfig().num_requests:,} for "
                        "default)")
  gen.add_argument("--items", type=flags.positive_int, default=None,
                   help="catalog size (default: the world's)")
  gen.add_argument("--users", type=flags.positive_int, default=None,
                   help="number of users (default: the world's requests per "
                        "user)")
  gen.add_argument("--seed", type=int, default=0,
                   help="random seed (default: %(default)s)")
  gen.add_argument("--fine-head-share", type=float, default=None,
                   help="share of the catalog, by popularity, the "
                        "parametric fine ranker knows well; see "
                        "WorldConfig.fine_head_share")
  gen.add_argument("--fine-tail-bias", type=float, default=None,
                   help="standard deviation of the parametric fine ranker's "
                        "per-item bias on the items it does not know")
  gen.add_argument("--out-of-scene-shown-weight", type=float, default=None,
                   help="out-of-scene purchase propensity of shown items "
                        "relative to items not shown (0 in every preset: "
                        "only items not shown)")
  gen.add_argument("--overwrite", action="store_true",
                   help="replace tables already in --out")
  gen.add_argument("--json", action="store_true",
                   help="print the summary as JSON")

  val = flags.command(sub, "validate-logs", _validate_logs)
  val.add_argument("logs_dir", metavar="LOGS_DIR")
  val.add_argument("--json", action="store_true",
                   help="print the report as JSON")

  build = flags.command(sub, "build-examples", _build_examples)
  build.add_argument("--logs", required=True, help="raw logs directory")
  build.add_argument("--out", required=True, help="output directory")
  build.add_argument("--overwrite", action="store_true",
                     help="replace the outputs --out already holds, once "
                          "the run succeeds (without it, a folder that "
                          "holds outputs is refused)")
  flags.add_beam_args(build, "Beam pipeline options after --, each "
                             "--name=value or --switch")
  flags.add_dataclass_flags(build, params_lib.ListwiseParams(),
                            "list building parameters")
