"""Serving commands: `serve` pushed models over TF Serving's gRPC API, `query` them as a client."""

import argparse
import json
import sys
from typing import List

from serving import constants
from tfx_pipeline.cli import errors
from tfx_pipeline.cli import flags


def _batching_parameters(args: argparse.Namespace):
  """The batching parameters of the flags; None without --enable_batching."""
  from serving import batching  # pylint: disable=g-import-not-at-top
  from serving import batching_config  # pylint: disable=g-import-not-at-top

  if not args.enable_batching:
    if args.batching_parameters_file:
      raise flags.UsageError("--batching_parameters_file needs "
                             "--enable_batching")
    return None
  if args.batching_parameters_file:
    return batching_config.read(args.batching_parameters_file)
  return batching.Parameters()


def _serve(args: argparse.Namespace) -> int:
  """Serve pushed models over TF Serving's gRPC and REST APIs (local server).

  Serve the SavedModels of TF Serving's layout
  (<model_base_path>/<version>/saved_model.pb) over TF Serving's gRPC
  PredictionService (Predict, GetModelMetadata) and ModelService
  (GetModelStatus), and with --rest_api_port its REST API. Serves the
  newest version and loads new ones as they appear, after their warmup;
  refuses broken versions and keeps the old one. --enable_batching batches
  concurrent Predict calls. Flags mirror tensorflow_model_server, which
  production runs instead (serving/k8s/). Prints "serving <models> on
  <host>:<port>", then with REST "REST API on <host>:<port>". Stops
  gracefully on SIGTERM or SIGINT. Exit status: 0 stopped, 2 bad
  configuration or a port is in use.
  """
  from serving import config as config_lib  # pylint: disable=g-import-not-at-top
  from serving import server as server_lib  # pylint: disable=g-import-not-at-top

  configs = config_lib.from_flags(args.model_name, args.model_base_path,
                                  args.model_config_file)
  server = server_lib.ModelServer(
      configs, port=args.port, host=args.host, max_workers=args.max_workers,
      poll_seconds=args.file_system_poll_wait_seconds,
      max_candidates=args.max_candidates,
      rest_api_port=args.rest_api_port,
      batching_parameters=_batching_parameters(args))
  port = server.start()
  print(f"serving {', '.join(c.name for c in configs)} on "
        f"{args.host}:{port}", flush=True)
  if server.rest_port is not None:
    print(f"REST API on {args.host}:{server.rest_port}", flush=True)
  server_lib.serve_until_signalled(server, args.grace_seconds)
  print("stopped", flush=True)
  return errors.OK


def _candidates(args: argparse.Namespace) -> List[str]:
  """The candidate ids; an empty one is refused, since "" is the signature's
  padding and would be scored -inf, not ranked."""
  if args.candidates_file:
    try:
      with open(args.candidates_file, encoding="utf-8") as f:
        lines = [line.strip() for line in f]
    except (OSError, UnicodeDecodeError) as e:
      raise flags.UsageError(
          f"cannot read --candidates-file {args.candidates_file}: "
          f"{getattr(e, 'strerror', None) or e}") from e
    while lines and not lines[-1]:  # A trailing newline is not a candidate.
      lines.pop()
    empty = [n for n, line in enumerate(lines, start=1) if not line]
    if empty:
      raise flags.UsageError(
          f"--candidates-file {args.candidates_file}: line {empty[0]} is an "
          "empty candidate id (\"\" is the signature's padding)")
    return lines
  values = [c.strip() for value in args.candidates or ()
            for c in value.split(",")]
  if "" in values:
    raise flags.UsageError(
        "--candidates holds an empty candidate id (\"\" is the signature's "
        f"padding): {','.join(args.candidates)!r}")
  return values


def _query(args: argparse.Namespace) -> int:
  """Rank candidates with a served model (gRPC client).

  Send one search request to a TF Serving or `coarse-rank serve` server and
  print the top candidates; or, with --status, the state of each model
  version (exit 0 if one is AVAILABLE: a health check), or with --metadata
  the signatures. Exit status: 0 done, 1 the server refused the call (or,
  with --status, no version is available), 2 bad arguments or an unreadable
  --candidates-file.
  """
  import grpc  # pylint: disable=g-import-not-at-top
  from google.protobuf import text_format  # pylint: disable=g-import-not-at-top
  from serving import client as client_lib  # pylint: disable=g-import-not-at-top

  candidates = _candidates(args)
  if not (args.status or args.metadata) and not (
      args.user_id is not None and args.query is not None and candidates):
    raise flags.UsageError("pass --user-id, --query and --candidates (or "
                           "--candidates-file), or --status or --metadata")
  with client_lib.RankingClient(
      args.server, args.model_name, timeout=args.timeout,
      version=args.version, version_label=args.version_label) as client:
    try:
      if args.status:
        statuses = client.status()
        for s in statuses:
          print(f"version {s.version}: {s.state}"
                + (f" ({s.error_message})" if s.error_message else ""))
        return (errors.OK if any(s.state == "AVAILABLE" for s in statuses)
                else errors.FAILED)
      if args.metadata:
        for name, definition in sorted(client.signature_defs().items()):
          print(f"signature {name}:\n{text_format.MessageToString(definition)}")
        return errors.OK
      ranking = client.rank(client_lib.RankRequest(
          user_id=args.user_id, query=args.query,
          candidate_item_ids=candidates, user_history=args.history or (),
          age_bucket=args.age_bucket, purchase_power=args.purchase_power,
          gender=args.gender))
    except grpc.RpcError as e:
      print(f"error: {e.code().name}: {e.details()}", file=sys.stderr)
      return errors.FAILED
  if args.json:
    print(json.dumps({
        "model_version": ranking.model_version,
        "top_k": [{"item_id": i, "score": s} for i, s in ranking.top_k],
        "scores": [float(s) if s > float("-inf") else None
                   for s in ranking.scores]}, indent=2))
    return errors.OK
  print(f"model {args.model_name} version {ranking.model_version}: top "
        f"{min(args.top, len(ranking.top_k))} of {len(candidates)} candidates")
  for rank, (item, score) in enumerate(ranking.top_k[:args.top], start=1):
    print(f"{rank:5d}  {item}  {score:.4f}")
  return errors.OK


def add_parsers(sub) -> None:
  """Adds `serve` and `query`."""
  serve = flags.command(sub, "serve", _serve)
  serve.add_argument("--port", type=flags.port, default=8500,
                     help="gRPC port, 0 for any free one "
                          "(default: %(default)s)")
  serve.add_argument("--rest_api_port", "--rest-api-port",
                     dest="rest_api_port", type=flags.port,
                     default=None,
                     help="also serve TF Serving's REST API on this port, 0 "
                          "for any free one (default: no REST API; unlike "
                          "tensorflow_model_server, where 0 turns it off)")
  serve.add_argument("--enable_batching", "--enable-batching",
                     dest="enable_batching", action="store_true",
                     help="batch concurrent Predict calls of the same model "
                          "version and signature (TF Serving's server-side "
                          "batching)")
  serve.add_argument("--batching_parameters_file",
                     "--batching-parameters-file",
                     dest="batching_parameters_file", default=None,
                     help="TF Serving BatchingParameters text file (e.g. "
                          "serving/batching_parameters.txt); default: TF "
                          "Serving's defaults")
  serve.add_argument("--host", default="0.0.0.0",
                     help="address to listen on (default: %(default)s)")
  serve.add_argument("--model_name", "--model-name", dest="model_name",
                     default=None,
                     help=f"name of the model (default: "
                          f"{constants.DEFAULT_MODEL_NAME})")
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

  query = flags.command(sub, "query", _query)
  query.add_argument("--server", default="localhost:8500",
                     help="host:port of the gRPC server "
                          "(default: %(default)s)")
  query.add_argument("--model-name", default=constants.DEFAULT_MODEL_NAME,
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
                     help="UTF-8 file with one candidate item id per line")
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
