"""Pipeline commands: `run` it locally, `report` a run, the `demo`, `compile-kfp` for Kubeflow."""

import argparse
import json
import sys

from tfx_pipeline import config as config_lib
from tfx_pipeline.cli import errors
from tfx_pipeline.cli import flags
from tfx_pipeline.synthetic import config as world_config


def _push_line(result) -> str:
  """What became of the run's model: pushed, already serving, or not."""
  if result.pushed_version is None:
    return "not pushed: the model was not blessed"
  if result.already_pushed:
    return (f"not pushed again: {result.pushed_version} already holds this "
            "model")
  return f"pushed to {result.pushed_version}"


def _run(args: argparse.Namespace) -> int:
  """Run the whole pipeline locally (LocalDagRunner).

  Run the pipeline on LocalDagRunner: listwise examples (Beam), Transform,
  training, hitrate validation and push (or up to --stop-after). OUTPUT
  holds pipeline/ (artifacts), metadata.sqlite (ML Metadata) and serving/
  (pushed models, models.config). A second run reuses the results of
  unchanged components (a changed or new log file is seen) and pushes no
  model the newest version already holds. Arguments after -- go to Beam;
  one naming a --runner (PortableRunner, DataflowRunner, FlinkRunner,
  SparkRunner) runs the Beam steps there instead of on the DirectRunner.
  """
  # Every flag is checked before anything heavy is imported.
  config = flags.config_from_args(args)
  if args.require_blessing and not config.runs(config_lib.VALIDATE):
    raise flags.UsageError(
        f"--require-blessing needs the validation, but the run stops after "
        f"{config.stop_after}")
  flags.checked_beam_args(args.beam_args)
  from components.validation import report  # pylint: disable=g-import-not-at-top
  from tfx_pipeline import local_runner  # pylint: disable=g-import-not-at-top

  result = local_runner.run(config, args.logs, args.output,
                            flags.beam_args_from(args),
                            enable_cache=not args.no_cache)
  if not config.runs(config_lib.VALIDATE):
    print(f"stopped after {config.stop_after}; outputs:")
    for run in result.components:
      for key, uris in sorted(run.outputs.items()):
        print(f"  {run.component}.{key}: {', '.join(uris)}")
    return errors.OK
  print(report.format_report(report.load(result.metrics), result.metrics))
  if config.runs(config_lib.PUSH):
    print(_push_line(result))
  if args.require_blessing and not result.blessed:
    print("error: the model was not blessed (--require-blessing)",
          file=sys.stderr)
    return errors.NOT_BLESSED
  return errors.OK


def _report(args: argparse.Namespace) -> int:
  """Print the hitrate table of the latest (or a named) run.

  Find the hitrate validation metrics of RUN_DIR (a `run` output directory)
  through its ML Metadata and print hitrate@K per scorer (model, fine
  ranker, last blessed model) and slice, NDCG@10, the blessing decision and
  where the plot is. Exit status: 0 printed, 2 no such run.
  """
  from components.validation import report  # pylint: disable=g-import-not-at-top
  from tfx_pipeline import run_result  # pylint: disable=g-import-not-at-top

  runs = run_result.executions_of(args.run_dir, run_result.VALIDATOR,
                                  args.pipeline_name)
  if args.run is not None:
    runs = [r for r in runs if r.execution_id == args.run]
  runs = [r for r in runs if r.outputs.get("metrics")]
  if not runs:
    which = f"run {args.run}" if args.run is not None else "any run"
    raise run_result.NoRunError(
        f"no hitrate metrics of {which} of pipeline {args.pipeline_name!r} "
        f"in {args.run_dir}")
  uri = runs[-1].outputs["metrics"][0]
  data = report.load(uri)
  if args.json:
    print(json.dumps(data, indent=2))
  else:
    print(f"run {runs[-1].execution_id}: {uri}\n"
          + report.format_report(data, uri))
  return errors.OK


def _demo(args: argparse.Namespace) -> int:
  """The main job on the embedded default, end to end.

  Generate synthetic logs, run the whole pipeline locally, serve the pushed
  model with the local TF-Serving-compatible server, rank one eval request
  over gRPC, print the hitrate table and the answer, and stop the server.
  """
  from tfx_pipeline import demo  # pylint: disable=g-import-not-at-top

  cfg = demo.DemoConfig(
      world=world_config.WorldConfig(num_requests=args.requests,
                                     seed=args.seed),
      pipeline=config_lib.PipelineConfig(train_steps=args.train_steps))
  print(demo.run_demo(args.out, cfg, flags.beam_args_from(args)))
  return errors.OK


def _compile_kfp(args: argparse.Namespace) -> int:
  """Compile the pipeline to a Kubeflow Pipelines v2 spec.

  Compile the whole pipeline with KubeflowV2DagRunner. Every step runs in
  --image (build it with the Dockerfile). --output ending in .yaml writes a
  PipelineSpec for Kubeflow Pipelines, .json a PipelineJob for Vertex AI
  Pipelines. Paths are seen from the steps' containers: URIs (gs://...) or
  absolute paths. Arguments after -- go to Beam in every Beam step, e.g. --
  --runner=DataflowRunner --project=P --region=R --temp_location=gs://B/tmp
  --experiments=use_runner_v2 --sdk_container_image=IMAGE. Exit status: 0
  written, 2 bad arguments (unknown suffix, missing output directory,
  relative path, bad pipeline name).
  """
  from tfx_pipeline import kubeflow_runner  # pylint: disable=g-import-not-at-top

  config = flags.config_from_args(args)
  path = kubeflow_runner.compile_pipeline(
      args.image, args.pipeline_root, args.output, config,
      logs_dir=args.logs, serving_dir=args.serving_dir,
      beam_pipeline_args=flags.checked_beam_args(args.beam_args))
  print(f"wrote the KFP v2 spec of {config.pipeline_name} to {path} "
        f"(image {args.image}, pipeline root {args.pipeline_root})")
  return errors.OK


def add_parsers(sub) -> None:
  """Adds `run`, `report`, `demo` and `compile-kfp`."""
  run = flags.command(sub, "run", _run,
      epilog="exit status: 0 done, whether the model was blessed or not "
             "(the report and the last line say which); 1 quarantine share "
             "above the limit, or a component failed (with its traceback); "
             "2 bad arguments, a schema error in the logs or an output "
             "directory that cannot be written, before any work; 3 the "
             "model was not blessed, with --require-blessing.")
  run.add_argument("--logs", required=True, help="raw logs directory")
  run.add_argument("--output", required=True, help="output directory")
  run.add_argument("--no-cache", action="store_true",
                   help="rerun every component")
  run.add_argument("--require-blessing", action="store_true",
                   help="exit 3 when the run's model is not blessed (for "
                        "CI/CD: fail the job)")
  flags.add_beam_flags(run)
  flags.add_config_flags(run)

  rep = flags.command(sub, "report", _report)
  rep.add_argument("run_dir", metavar="RUN_DIR")
  rep.add_argument("--run", type=int, default=None,
                   help="execution id of the validation (default: the "
                        "newest)")
  rep.add_argument("--pipeline-name",
                   default=config_lib.DEFAULT_PIPELINE_NAME,
                   help="pipeline name (default: %(default)s)")
  rep.add_argument("--json", action="store_true",
                   help="print the metrics JSON")

  demo = flags.command(sub, "demo", _demo)
  demo.add_argument("--out", default="demo_run",
                    help="output directory (default: %(default)s)")
  world = world_config.WorldConfig()
  demo.add_argument("--requests", type=flags.positive_int,
                    default=world.num_requests,
                    help="synthetic requests (default: %(default)s)")
  demo.add_argument("--seed", type=int, default=world.seed,
                    help="world seed (default: %(default)s)")
  demo.add_argument("--train-steps", type=flags.positive_int,
                    default=config_lib.PipelineConfig().train_steps,
                    help="training steps (default: %(default)s)")
  flags.add_beam_flags(demo)

  kfp = flags.command(sub, "compile-kfp", _compile_kfp)
  kfp.add_argument("--image", required=True,
                   help="container image of every step")
  kfp.add_argument("--pipeline-root", required=True, metavar="URI",
                   help="where the steps write artifacts")
  kfp.add_argument("--output", required=True, metavar="FILE",
                   help="spec file to write (.yaml or .json)")
  kfp.add_argument("--logs", default=None, metavar="URI",
                   help="raw logs directory (default: <pipeline-root>/logs)")
  kfp.add_argument("--serving-dir", default=None, metavar="URI",
                   help="where blessed models are pushed "
                        "(default: <pipeline-root>/serving)")
  flags.add_beam_args(kfp, "Beam pipeline options of every Beam step after "
                           "--, each --name=value or --switch")
  flags.add_config_flags(kfp)
