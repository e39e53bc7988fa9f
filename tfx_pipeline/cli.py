"""The `coarse-rank` command line: one subcommand per job."""

import argparse
import json
import logging
import os
import sys
from typing import List, Optional

from components.listwise import params as params_lib
from tfx_pipeline import flags
from tfx_pipeline.ablation import cli as ablation_cli
from tfx_pipeline.synthetic import config as world_config

# Heavy modules (TensorFlow, Beam) are imported inside the handlers so that
# `--help` and the light subcommands never pay for them.


def _generate(args: argparse.Namespace) -> int:
  from tfx_pipeline.synthetic import write

  try:
    cfg = world_config.WorldConfig(
        num_requests=args.requests, num_items=args.items,
        num_users=args.users, fine_head_share=args.fine_head_share,
        fine_tail_bias=args.fine_tail_bias,
        out_of_scene_shown_weight=args.out_of_scene_shown_weight,
        seed=args.seed)
  except ValueError as e:
    print(f"error: {e}", file=sys.stderr)
    return 2
  try:
    summary = write.write_logs(args.out, cfg, overwrite=args.overwrite)
  except write.OutputNotEmptyError as e:
    print(f"error: {e}", file=sys.stderr)
    return 2
  print(json.dumps(summary, indent=2) if args.json
        else f"wrote synthetic logs to {args.out}\n"
             + write.format_summary(summary))
  return 0


def _validate_logs(args: argparse.Namespace) -> int:
  from components.raw_logs import validate

  try:
    report = validate.validate_logs(args.logs_dir)
  except validate.LogSchemaError as e:
    print(f"schema error: {e}", file=sys.stderr)
    return 2
  print(json.dumps(report.to_dict(), indent=2) if args.json
        else report.format())
  return 0 if report.ok else 1


def _build_examples(args: argparse.Namespace) -> int:
  from apache_beam.options.pipeline_options import PipelineOptions
  import apache_beam as beam
  from components.listwise import beam_pipeline
  from components.listwise import report as report_lib
  from components.raw_logs import files as log_files

  params = flags.dataclass_from_args(params_lib.ListwiseParams, args)
  out = beam_pipeline.OutputPaths(*(
      os.path.join(args.out, name) for name in
      ("train", "eval", "eval_candidates", "quarantine", "report")))
  options = PipelineOptions(args.beam_args)
  try:
    report = beam_pipeline.run(args.logs, params, out,
                               lambda: beam.Pipeline(options=options))
  except log_files.LogSchemaError as e:
    print(f"schema error: {e}", file=sys.stderr)
    return 2
  except report_lib.QuarantineLimitError as e:
    print(f"error: {e}", file=sys.stderr)
    return 1
  print(f"wrote listwise examples to {args.out} "
        "(train/, eval/, eval_candidates/, quarantine/, report/)")
  print(report_lib.format_report(report))
  return 0


def _serve(args: argparse.Namespace) -> int:
  from serving import config as config_lib
  from serving import server as server_lib

  try:
    configs = config_lib.from_flags(args.model_name, args.model_base_path,
                                    args.model_config_file)
    server = server_lib.ModelServer(
        configs, port=args.port, host=args.host, max_workers=args.max_workers,
        poll_seconds=args.file_system_poll_wait_seconds,
        max_candidates=args.max_candidates)
    port = server.start()
  except config_lib.ConfigError as e:
    print(f"error: {e}", file=sys.stderr)
    return 2
  except RuntimeError as e:  # grpc cannot bind the address.
    print(f"error: cannot listen on {args.host}:{args.port}: {e}",
          file=sys.stderr)
    return 2
  print(f"serving {', '.join(c.name for c in configs)} on "
        f"{args.host}:{port}", flush=True)
  server_lib.serve_until_signalled(server, args.grace_seconds)
  print("stopped", flush=True)
  return 0


def _candidates(args: argparse.Namespace) -> List[str]:
  if args.candidates_file:
    with open(args.candidates_file) as f:
      return [line.strip() for line in f if line.strip()]
  return [c for value in args.candidates or () for c in value.split(",") if c]


def _query(args: argparse.Namespace) -> int:
  import grpc
  from google.protobuf import text_format
  from serving import client as client_lib

  candidates = _candidates(args)
  if not (args.status or args.metadata) and not (
      args.user_id is not None and args.query is not None and candidates):
    print("error: pass --user-id, --query and --candidates (or "
          "--candidates-file), or --status or --metadata", file=sys.stderr)
    return 2
  with client_lib.RankingClient(
      args.server, args.model_name, timeout=args.timeout,
      version=args.version, version_label=args.version_label) as client:
    try:
      if args.status:
        statuses = client.status()
        for s in statuses:
          print(f"version {s.version}: {s.state}"
                + (f" ({s.error_message})" if s.error_message else ""))
        return 0 if any(s.state == "AVAILABLE" for s in statuses) else 1
      if args.metadata:
        for name, definition in sorted(client.signature_defs().items()):
          print(f"signature {name}:\n{text_format.MessageToString(definition)}")
        return 0
      ranking = client.rank(client_lib.RankRequest(
          user_id=args.user_id, query=args.query,
          candidate_item_ids=candidates, user_history=args.history or (),
          age_bucket=args.age_bucket, purchase_power=args.purchase_power,
          gender=args.gender))
    except grpc.RpcError as e:
      print(f"error: {e.code().name}: {e.details()}", file=sys.stderr)
      return 1
  if args.json:
    print(json.dumps({
        "model_version": ranking.model_version,
        "top_k": [{"item_id": i, "score": s} for i, s in ranking.top_k],
        "scores": [float(s) if s > float("-inf") else None
                   for s in ranking.scores]}, indent=2))
    return 0
  print(f"model {args.model_name} version {ranking.model_version}: top "
        f"{min(args.top, len(ranking.top_k))} of {len(candidates)} candidates")
  for rank, (item, score) in enumerate(ranking.top_k[:args.top], start=1):
    print(f"{rank:5d}  {item}  {score:.4f}")
  return 0


def _add_serve_parser(sub) -> None:
  serve = sub.add_parser(
      "serve",
      help="serve pushed models over TF Serving's gRPC API (local server)",
      description="Serve the SavedModels of TF Serving's layout "
                  "(<model_base_path>/<version>/saved_model.pb) over TF "
                  "Serving's gRPC PredictionService (Predict, "
                  "GetModelMetadata) and ModelService (GetModelStatus). "
                  "Serves the newest version and loads new ones as they "
                  "appear, after their warmup; refuses broken versions and "
                  "keeps the old one. Flags mirror tensorflow_model_server, "
                  "which production runs instead (serving/k8s/). Stops "
                  "gracefully on SIGTERM or SIGINT. Exit status: 0 stopped, "
                  "2 bad configuration.")
  serve.add_argument("--port", type=int, default=8500,
                     help="gRPC port, 0 for any free one "
                          "(default: %(default)s)")
  serve.add_argument("--host", default="0.0.0.0",
                     help="address to listen on (default: %(default)s)")
  serve.add_argument("--model_name", "--model-name", dest="model_name",
                     default=None,
                     help="name of the model (default: coarse_ranker)")
  serve.add_argument("--model_base_path", "--model-base-path",
                     dest="model_base_path", default=None,
                     help="folder holding the model's numeric version "
                          "folders")
  serve.add_argument("--model_config_file", "--model-config-file",
                     dest="model_config_file", default=None,
                     help="TF Serving ModelServerConfig text file (e.g. "
                          "serving/models.config), instead of "
                          "--model_base_path")
  serve.add_argument("--file_system_poll_wait_seconds",
                     "--file-system-poll-wait-seconds",
                     dest="file_system_poll_wait_seconds", type=float,
                     default=1.0,
                     help="seconds between polls for new versions; 0 polls "
                          "once at startup (default: %(default)s)")
  serve.add_argument("--max-candidates", type=flags.positive_int, default=None,
                     help="refuse requests with more candidates than this "
                          "(INVALID_ARGUMENT); the model has its own limit")
  serve.add_argument("--max-workers", type=flags.positive_int, default=16,
                     help="concurrent requests (default: %(default)s)")
  serve.add_argument("--grace-seconds", type=float, default=10.0,
                     help="on shutdown, how long requests in flight may "
                          "take to finish (default: %(default)s)")
  serve.set_defaults(handler=_serve)


def _add_query_parser(sub) -> None:
  query = sub.add_parser(
      "query",
      help="rank candidates with a served model (gRPC client)",
      description="Send one search request to a TF Serving or `coarse-rank "
                  "serve` server and print the top candidates; or, with "
                  "--status, the state of each model version (exit 0 if "
                  "one is AVAILABLE: a health check), or with --metadata "
                  "the signatures. Exit status: 0 done, 1 the server "
                  "refused the call (or, with --status, no version is "
                  "available), 2 bad arguments.")
  query.add_argument("--server", default="localhost:8500",
                     help="host:port of the gRPC server "
                          "(default: %(default)s)")
  query.add_argument("--model-name", default="coarse_ranker",
                     help="model to call (default: %(default)s)")
  query.add_argument("--version", type=int, default=None,
                     help="model version (default: the newest served)")
  query.add_argument("--version-label", default=None,
                     help="model version label (TF Serving)")
  query.add_argument("--user-id", help="the user")
  query.add_argument("--query", help="the raw query text")
  query.add_argument("--candidates", nargs="+", metavar="ITEM_ID",
                     help="candidate item ids (space or comma separated)")
  query.add_argument("--candidates-file",
                     help="file with one candidate item id per line")
  query.add_argument("--history", nargs="*", metavar="ITEM_ID",
                     help="items the user bought before, newest first")
  query.add_argument("--age-bucket", type=int, default=-1,
                     help="age bucket, -1 unknown (default: %(default)s)")
  query.add_argument("--purchase-power", type=int, default=-1,
                     help="purchase power, -1 unknown (default: %(default)s)")
  query.add_argument("--gender", default="",
                     help="gender, empty if unknown")
  query.add_argument("--top", type=flags.positive_int, default=10,
                     help="how many of the top K to print "
                          "(default: %(default)s)")
  query.add_argument("--timeout", type=float, default=10.0,
                     help="seconds per call (default: %(default)s)")
  query.add_argument("--json", action="store_true",
                     help="print the version, the top K and every score as "
                          "JSON")
  mode = query.add_mutually_exclusive_group()
  mode.add_argument("--status", action="store_true",
                    help="print each version's state instead of ranking")
  mode.add_argument("--metadata", action="store_true",
                    help="print the signatures instead of ranking")
  query.set_defaults(handler=_query)


def _report(args: argparse.Namespace) -> int:
  from components.validation import report

  try:
    path = report.find(args.run_dir, args.run)
  except report.NoRunError as e:
    print(f"error: {e}", file=sys.stderr)
    return 2
  data = report.load(path)
  print(json.dumps(data, indent=2) if args.json
        else f"{path}\n" + report.format_report(data, path))
  return 0


def _add_report_parser(sub) -> None:
  rep = sub.add_parser(
      "report",
      help="print the hitrate table of the latest (or a named) run",
      description="Find the hitrate validation metrics under RUN_DIR (a "
                  "pipeline output directory) and print hitrate@K per scorer "
                  "(model, fine ranker, last blessed model) and slice, "
                  "NDCG@10, the blessing decision and where the plot is.")
  rep.add_argument("run_dir", metavar="RUN_DIR")
  rep.add_argument("--run", default=None,
                   help="execution id of the run (default: the newest)")
  rep.add_argument("--json", action="store_true",
                   help="print the metrics JSON")
  rep.set_defaults(handler=_report)


def build_parser() -> argparse.ArgumentParser:
  parser = argparse.ArgumentParser(
      prog="coarse-rank",
      description="Coarse ranker for e-commerce search: synthetic logs, "
                  "log validation, the TFX pipeline and serving.")
  parser.add_argument("-v", "--verbose", action="store_true",
                      help="log debug messages")
  sub = parser.add_subparsers(dest="command", required=True,
                              metavar="COMMAND")

  gen = sub.add_parser(
      "generate",
      help="write a synthetic search-log world as Parquet",
      description="Simulate search requests, the fine ranker, clicks and "
                  "purchases (in search and in other scenes) and write every "
                  "table of the raw-log contract under --out. Deterministic "
                  "per --seed.")
  gen.add_argument("--out", required=True, help="logs directory to write")
  gen.add_argument("--requests", type=int, default=5_000,
                   help="number of search requests (default: %(default)s)")
  gen.add_argument("--items", type=int, default=5_000, help="catalog size (default: %(default)s)")
  gen.add_argument("--users", type=int, default=None,
                   help="number of users (default: max(50, requests // 4))")
  gen.add_argument("--seed", type=int, default=0, help="random seed (default: %(default)s)")
  world = world_config.WorldConfig()
  gen.add_argument("--fine-head-share", type=float,
                   default=world.fine_head_share,
                   help="share of the catalog, by popularity, the fine "
                        "ranker knows well (default: %(default)s); see "
                        "WorldConfig.fine_head_share")
  gen.add_argument("--fine-tail-bias", type=float,
                   default=world.fine_tail_bias,
                   help="standard deviation of the fine ranker's per-item "
                        "bias on the items it does not know "
                        "(default: %(default)s)")
  gen.add_argument("--out-of-scene-shown-weight", type=float,
                   default=world.out_of_scene_shown_weight,
                   help="out-of-scene purchase propensity of shown items "
                        "relative to items not shown (default: "
                        "%(default)s: only items not shown)")
  gen.add_argument("--overwrite", action="store_true",
                   help="replace tables already in --out")
  gen.add_argument("--json", action="store_true",
                   help="print the summary as JSON")
  gen.set_defaults(handler=_generate)

  val = sub.add_parser(
      "validate-logs",
      help="check a logs directory against the raw-log contract",
      description="Check every table under LOGS_DIR against the raw-log "
                  "contract. Exit status: 0 valid, 1 row faults found, "
                  "2 schema error (missing table or column, wrong type, "
                  "unreadable file).")
  val.add_argument("logs_dir", metavar="LOGS_DIR")
  val.add_argument("--json", action="store_true",
                   help="print the report as JSON")
  val.set_defaults(handler=_validate_logs)

  build = sub.add_parser(
      "build-examples",
      help="run the listwise example stage (Beam) outside the pipeline",
      description="Turn a raw logs directory into listwise tf.Examples "
                  "(train and eval splits), eval candidate sets, quarantined "
                  "rows and the reconciliation report, with Beam. Arguments "
                  "after -- go to Beam, e.g. -- --runner=DirectRunner "
                  "--direct_running_mode=multi_processing "
                  "--direct_num_workers=2. Exit status: 0 done, 1 quarantine "
                  "share above the limit, 2 schema error.")
  build.add_argument("--logs", required=True, help="raw logs directory")
  build.add_argument("--out", required=True, help="output directory")
  build.add_argument("beam_args", nargs="*", metavar="BEAM_ARG",
                     help="Beam pipeline options (after --)")
  flags.add_dataclass_flags(build, params_lib.ListwiseParams,
                            "list building parameters")
  build.set_defaults(handler=_build_examples)
  _add_serve_parser(sub)
  _add_query_parser(sub)
  _add_report_parser(sub)
  _add_run_parser(sub)
  _add_compile_kfp_parser(sub)
  _add_demo_parser(sub)
  ablation_cli.add_parser(sub)
  return parser


def _compile_kfp(args: argparse.Namespace) -> int:
  from tfx_pipeline import kubeflow_runner

  options = {}
  if args.train_steps is not None:
    if args.train_steps < 1:
      print(f"error: --train-steps must be >= 1, got {args.train_steps}",
            file=sys.stderr)
      return 2
    options["train_steps"] = args.train_steps
  try:
    path = kubeflow_runner.compile_pipeline(
        args.image, args.pipeline_root, args.output, logs_dir=args.logs,
        serving_dir=args.serving_dir, pipeline_name=args.pipeline_name,
        beam_pipeline_args=args.beam_args, **options)
  except kubeflow_runner.CompileError as e:
    print(f"error: {e}", file=sys.stderr)
    return 2
  print(f"wrote the KFP v2 spec of {args.pipeline_name} to {path} "
        f"(image {args.image}, pipeline root {args.pipeline_root})")
  return 0


def _add_compile_kfp_parser(sub) -> None:
  kfp = sub.add_parser(
      "compile-kfp",
      help="compile the pipeline to a Kubeflow Pipelines v2 spec",
      description="Compile the whole pipeline with KubeflowV2DagRunner. "
                  "Every step runs in --image (build it with the "
                  "Dockerfile). --output ending in .yaml writes a "
                  "PipelineSpec for Kubeflow Pipelines, .json a PipelineJob "
                  "for Vertex AI Pipelines. Paths are seen from the steps' "
                  "containers: URIs (gs://...) or absolute paths. Arguments "
                  "after -- go to Beam in every Beam step, e.g. -- "
                  "--runner=DataflowRunner --project=P --region=R "
                  "--temp_location=gs://B/tmp --experiments=use_runner_v2 "
                  "--sdk_container_image=IMAGE. Exit status: 0 written, 2 "
                  "bad arguments (unknown suffix, missing output directory, "
                  "relative path, bad pipeline name).")
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
  kfp.add_argument("--pipeline-name", default="coarse-rank",
                   help="pipeline name (default: %(default)s)")
  kfp.add_argument("--train-steps", type=int, default=None, metavar="N",
                   help="Trainer steps (default: create_pipeline's)")
  kfp.add_argument("beam_args", nargs="*", metavar="BEAM_ARG",
                   help="Beam pipeline options (after --)")
  kfp.set_defaults(handler=_compile_kfp)


def main(argv: Optional[List[str]] = None) -> int:
  os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
  args = build_parser().parse_args(argv)
  args.argv = list(sys.argv[1:] if argv is None else argv)
  logging.basicConfig(
      level=logging.DEBUG if args.verbose else logging.INFO,
      format="%(asctime)s %(levelname)s %(name)s: %(message)s")
  return args.handler(args)




def _run(args: argparse.Namespace) -> int:
  from components.listwise import report as listwise_report
  from components.raw_logs import files as log_files
  from components.validation import report
  from models import hparams as hparams_lib
  from tfx_pipeline import local_runner
  from tfx_pipeline import pipeline as pipeline_lib

  validation = pipeline_lib.ValidationConfig(
      k_main=args.k_main, threshold=args.threshold, tolerance=args.tolerance)
  try:
    local_runner.run(
        args.logs, args.output, pipeline_name=args.pipeline_name,
        beam_pipeline_args=local_runner.beam_args(
            args.beam_mode, args.beam_workers, args.beam_args),
        listwise_params=flags.dataclass_from_args(params_lib.ListwiseParams,
                                                  args),
        hparams=flags.dataclass_from_args(hparams_lib.HParams, args),
        train_steps=args.train_steps, eval_steps=args.eval_steps,
        validation=validation, enable_cache=not args.no_cache)
  except log_files.LogSchemaError as e:
    print(f"schema error: {e}", file=sys.stderr)
    return 2
  except listwise_report.QuarantineLimitError as e:
    print(f"error: {e}", file=sys.stderr)
    return 1
  path = report.find(args.output)
  print(report.format_report(report.load(path), path))
  return 0


def _add_run_parser(sub) -> None:
  from models import hparams as hparams_lib

  run = sub.add_parser(
      "run",
      help="run the whole pipeline locally (LocalDagRunner)",
      description="Run the pipeline on LocalDagRunner: listwise examples "
                  "(Beam), Transform, training, hitrate validation and push. "
                  "OUTPUT holds pipeline/ (artifacts), metadata.sqlite (ML "
                  "Metadata) and serving/ (pushed models, models.config). A "
                  "second run reuses the results of unchanged components. "
                  "Arguments after -- go to Beam.")
  run.add_argument("--logs", required=True, help="raw logs directory")
  run.add_argument("--output", required=True, help="output directory")
  run.add_argument("--pipeline-name", default="coarse-rank",
                   help="pipeline name (default: %(default)s)")
  run.add_argument("--train-steps", type=int, default=2000,
                   help="training steps (default: %(default)s)")
  run.add_argument("--eval-steps", type=int, default=20,
                   help="Trainer evaluation steps (default: %(default)s)")
  run.add_argument("--k-main", type=int, default=100,
                   help="K of the blessing hitrate (default: %(default)s)")
  run.add_argument("--threshold", type=float, default=0.2,
                   help="minimum global hitrate@K to bless "
                        "(default: %(default)s)")
  run.add_argument("--tolerance", type=float, default=0.01,
                   help="allowed drop below the last blessed model "
                        "(default: %(default)s)")
  flags.add_beam_mode_flag(run)
  run.add_argument("--beam-workers", type=int, default=2,
                   help="DirectRunner worker processes "
                        "(default: %(default)s)")
  run.add_argument("--no-cache", action="store_true",
                   help="rerun every component")
  run.add_argument("beam_args", nargs="*", metavar="BEAM_ARG",
                   help="further Beam pipeline options (after --)")
  flags.add_dataclass_flags(run, params_lib.ListwiseParams,
                            "list building parameters")
  flags.add_dataclass_flags(run, hparams_lib.HParams,
                            "model hyperparameters", prefix="model-")
  run.set_defaults(handler=_run)


def _demo(args: argparse.Namespace) -> int:
  from tfx_pipeline import demo

  print(demo.run_demo(args.out, demo.DemoConfig(
      requests=args.requests, seed=args.seed, train_steps=args.train_steps,
      beam_mode=args.beam_mode)))
  return 0


def _add_demo_parser(sub) -> None:
  parser = sub.add_parser(
      "demo",
      help="the main job on the embedded default, end to end",
      description="Generate synthetic logs, run the whole pipeline locally, "
                  "serve the pushed model with the local TF-Serving-"
                  "compatible server, rank one eval request over gRPC, print "
                  "the hitrate table and the answer, and stop the server.")
  parser.add_argument("--out", default="demo_run",
                      help="output directory (default: %(default)s)")
  parser.add_argument("--requests", type=int, default=5_000,
                      help="synthetic requests (default: %(default)s)")
  parser.add_argument("--seed", type=int, default=0,
                      help="world seed (default: %(default)s)")
  parser.add_argument("--train-steps", type=int, default=2_000,
                      help="training steps (default: %(default)s)")
  flags.add_beam_mode_flag(parser)
  parser.set_defaults(handler=_demo)


if __name__ == "__main__":
  sys.exit(main())
