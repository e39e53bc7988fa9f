"""The `simulate-ab` command: the online A/B replay of coarse stages on a suite world's fresh requests."""

import argparse
import json
import logging
import os
import shlex
import time

from serving import constants
from tfx_pipeline import outputs
from tfx_pipeline.cli import errors
from tfx_pipeline.cli import flags
from tfx_pipeline.synthetic import config as world_config
from tfx_pipeline.synthetic import worlds

REPORT, RESULT, PLOT = "ab.md", "ab.json", "gmv_lift.png"


def world_from(spec: str, seed: int, logged_requests) -> world_config.WorldConfig:
  """A suite world's name, a logs directory `generate` wrote, or its
  world.json.

  Raises:
    flags.UsageError: none of these, named as typed.
  """
  if spec in worlds.WORLDS:
    try:
      return worlds.world_config(spec, num_requests=logged_requests,
                                 seed=seed)
    except ValueError as e:
      raise flags.UsageError(f"--world {spec}: {e}") from e
  path = (os.path.join(spec, world_config.WORLD_FILE) if os.path.isdir(spec)
          else spec)
  if not os.path.isfile(path):
    raise flags.UsageError(
        f"--world {spec!r} is neither a suite world ({', '.join(worlds.WORLDS)})"
        f" nor a logs directory with {world_config.WORLD_FILE} (written by "
        "`coarse-rank generate`) nor such a file")
  if logged_requests is not None:
    raise flags.UsageError("--logged-requests goes with a world's name; a "
                           f"{world_config.WORLD_FILE} holds its own")
  with open(path) as f:
    try:
      return world_config.from_json(f.read(), source=path)
    except ValueError as e:
      raise flags.UsageError(f"--world: {e}") from e


def saved_model_dir(path: str) -> str:
  """`path` if it is a SavedModel, else its newest numbered version (a
  serving base path such as a run's `serving/coarse_ranker`).

  Raises:
    flags.UsageError: neither.
  """
  from serving import layout  # pylint: disable=g-import-not-at-top

  if os.path.isfile(os.path.join(path, layout.SAVED_MODEL_FILE)):
    return path
  versions = (layout.list_versions(path) if os.path.isdir(path) else {})
  versions = {v: p for v, p in versions.items()
              if os.path.isfile(os.path.join(p, layout.SAVED_MODEL_FILE))}
  if not versions:
    raise flags.UsageError(
        f"--model {path} is neither a SavedModel ({layout.SAVED_MODEL_FILE}) "
        "nor a base path with numbered versions of one")
  return versions[max(versions)]


def _simulate_ab(args: argparse.Namespace) -> int:
  """Replay a world's fresh requests through the funnel, once per coarse stage.

  Rebuild the world the model's logs came from (--world: a suite world's
  name, or the logs directory `generate` wrote), draw a fresh request stream
  later in time (same users and catalog) and pass it through retrieval, a
  coarse stage, the fine ranker, exposure, clicks and purchases, in the
  search and elsewhere, once per arm: A the world's legacy coarse stage, B
  the model's serving_default (in process, or through --grpc), oracle and
  random stages as bounds, and B at each --coarse-output-sizes. Every arm
  draws the same users, retrieval, click and purchase noise (common random
  numbers). Writes ab.md, ab.json and (with a model arm) gmv_lift.png under
  --output and prints the tables. Exit status: 0 written, 2 bad arguments (before any work).
  """
  cfg = world_from(args.world, args.world_seed, args.logged_requests)
  from tfx_pipeline.ablation import online_ab  # pylint: disable=g-import-not-at-top

  try:
    sweep = (online_ab.sizes(args.coarse_output_sizes, cfg)
             if args.coarse_output_sizes else online_ab.default_sizes(cfg))
  except ValueError as e:
    raise flags.UsageError(f"--coarse-output-sizes: {e}") from e
  given = [name for name, value in (("--model", args.model),
                                     ("--grpc", args.grpc),
                                     ("--no-model", args.no_model or None))
           if value is not None]
  if len(given) != 1:
    raise flags.UsageError(
        "pass one of --model (a SavedModel or a serving base path), --grpc "
        "HOST:PORT (the model arm through a server) or --no-model (legacy, "
        "oracle and random arms alone)"
        + (f"; got {' and '.join(given)}" if given else ""))
  model = saved_model_dir(args.model) if args.model is not None else None
  with outputs.fresh(args.output, args.overwrite, flag="--output") as out:
    written = _run(args, cfg, sweep, model, out)
  print(f"written to {args.output}: {', '.join(written)}")
  return errors.OK


def _run(args, cfg, sweep, model, out) -> None:
  from tfx_pipeline.ablation import online_ab  # pylint: disable=g-import-not-at-top
  from tfx_pipeline.synthetic import replay  # pylint: disable=g-import-not-at-top
  from tfx_pipeline.synthetic import world as world_lib  # pylint: disable=g-import-not-at-top

  start = time.time()
  world = world_lib.SyntheticWorld(cfg)
  logging.info("world rebuilt (%.1fs)", time.time() - start)
  scorer = None
  if args.grpc is not None:
    scorer = online_ab.grpc_scorer(args.grpc, args.model_name, world)
  elif model is not None:
    scorer = online_ab.saved_model_scorer(model, world)
  arm_list = online_ab.arms(cfg, sweep, with_model=scorer is not None)

  def progress(done: int, total: int) -> None:
    logging.info("replayed %d/%d requests (%.1fs)", done, total,
                 time.time() - start)

  outcomes = replay.replay(world, arm_list, args.requests, seed=args.seed,
                           model_scorer=scorer, progress=progress)
  result = online_ab.summarize(outcomes, arm_list, cfg, seed=args.seed)
  result["command"] = shlex.join(["coarse-rank"] + list(args.argv))
  result["model"] = args.grpc if args.grpc is not None else model
  text = online_ab.markdown(result) + f"\nCommand: `{result['command']}`\n"
  os.makedirs(out, exist_ok=True)
  with open(os.path.join(out, REPORT), "w") as f:
    f.write(text)
  with open(os.path.join(out, RESULT), "w") as f:
    json.dump(result, f, indent=1, sort_keys=True)
  written = [REPORT, RESULT]
  if online_ab.plot(result, os.path.join(out, PLOT)):
    written.append(PLOT)
  print(text)
  return written


def add_parser(sub) -> None:
  """Adds `simulate-ab` to the `coarse-rank` subparsers."""
  parser = flags.command(sub, "simulate-ab", _simulate_ab)
  parser.add_argument("--world", required=True,
                      help="the world of the model's logs: a suite world's "
                           f"name ({', '.join(worlds.WORLDS)}) or the logs "
                           "directory `generate` wrote (its world.json)")
  parser.add_argument("--world-seed", type=int, default=0,
                      help="with a world's name: its seed, as given to "
                           "`generate --seed` (default: %(default)s)")
  parser.add_argument("--logged-requests", type=flags.positive_int,
                      default=None,
                      help="with a world's name: the requests of the logs, "
                           "as given to `generate --requests` (default: the "
                           "world's); users and the fine ranker depend on it")
  parser.add_argument("--model", default=None,
                      help="the model arm's SavedModel, or a serving base "
                           "path (its newest version)")
  parser.add_argument("--grpc", default=None, metavar="HOST:PORT",
                      help="score the model arm through this gRPC server "
                           "instead of in process")
  parser.add_argument("--model-name", default=constants.DEFAULT_MODEL_NAME,
                      help="with --grpc: the served model's name "
                           "(default: %(default)s)")
  parser.add_argument("--no-model", action="store_true",
                      help="no model arm: legacy, oracle and random only")
  parser.add_argument("--requests", type=flags.positive_int, default=20_000,
                      help="requests to replay (default: %(default)s)")
  parser.add_argument("--seed", type=int, default=0,
                      help="seed of the replayed requests and the bootstrap "
                           "(default: %(default)s)")
  parser.add_argument("--coarse-output-sizes", default=None,
                      help="the model's output-size sweep: items "
                           "(50,100,200) or shares of the retrieved set "
                           "(5%%,10%%); default: half, once and twice the "
                           "world's own")
  parser.add_argument("--output", required=True,
                      help="folder for ab.md, ab.json and gmv_lift.png")
  parser.add_argument("--overwrite", action="store_true",
                      help="replace what --output holds")
