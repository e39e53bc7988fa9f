"""Benchmark: the hitrate validator's Beam evaluation against the in-memory evaluation it replaced.

Generates a world of the suite (default paper_scale: 2,000 candidates per
request), runs the pipeline up to the Trainer, then evaluates the trained
model on the eval split twice, each in a child process of its own:

- in memory: every eval set read into one process, then scored
  (data.read_eval_sets, evaluate.evaluate: the validator before #16);
- Beam: beam_evaluate.run, the validator's job, on DirectRunner in
  `--beam-mode`.

Prints each one's time and the peak RSS of its process and of its largest
worker process (sampled by testing/memory.py), the time ratio Beam / in
memory (target <= 1.5) and
the largest difference between their metrics (target: identical, up to
float summation order).

    python bench/validator.py [--requests 12000] [--world paper_scale]
                              [--train-steps 50] [--beam-mode ...]
                              [--run OUTPUT_DIR_OF_A_RUN]
"""

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from typing import Iterator, List

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")

import apache_beam as beam  # pylint: disable=g-import-not-at-top,wrong-import-position
from apache_beam.options import pipeline_options  # pylint: disable=g-import-not-at-top,wrong-import-position
from tfx.utils import path_utils  # pylint: disable=g-import-not-at-top,wrong-import-position

from components.listwise import split as split_lib  # pylint: disable=g-import-not-at-top,wrong-import-position
from components.validation import beam_evaluate  # pylint: disable=g-import-not-at-top,wrong-import-position
from components.validation import data  # pylint: disable=g-import-not-at-top,wrong-import-position
from components.validation import evaluate  # pylint: disable=g-import-not-at-top,wrong-import-position
from components.validation import scorers  # pylint: disable=g-import-not-at-top,wrong-import-position
from components.validation import scoring  # pylint: disable=g-import-not-at-top,wrong-import-position
from testing import memory  # pylint: disable=g-import-not-at-top,wrong-import-position
from tfx_pipeline import beam_options  # pylint: disable=g-import-not-at-top,wrong-import-position
from tfx_pipeline import config as config_lib  # pylint: disable=g-import-not-at-top,wrong-import-position
from tfx_pipeline import local_runner  # pylint: disable=g-import-not-at-top,wrong-import-position
from tfx_pipeline import run_result  # pylint: disable=g-import-not-at-top,wrong-import-position
from tfx_pipeline.synthetic import worlds  # pylint: disable=g-import-not-at-top,wrong-import-position
from tfx_pipeline.synthetic import write  # pylint: disable=g-import-not-at-top,wrong-import-position

_KS = ["100", "5%", "10%", "25%"]
_HEAD_SHARE = 0.2
_TARGET_RATIO = 1.5
_MODES = ("in_memory", "beam")


def _evaluate(mode: str, candidates: str, lists: str, model: str,
              beam_mode: str, out: str) -> dict:
  """One evaluation in this process; its metrics, seconds and peak RSS."""
  start = time.perf_counter()
  if mode == "in_memory":
    sets, contexts = data.read_eval_sets(candidates)
    result = evaluate.evaluate(
        sets, contexts, data.read_exposed_lists(lists),
        {scorers.MODEL: scoring.SavedModelScorer(model).score}, _KS,
        _HEAD_SHARE)
  else:
    result = beam_evaluate.run(
        data.split_files(candidates), data.split_files(lists),
        {scorers.MODEL: model}, _KS, _HEAD_SHARE, out,
        lambda: beam.Pipeline(options=pipeline_options.PipelineOptions(
            beam_options.beam_args(beam_mode))))
  return {"seconds": time.perf_counter() - start, "metrics": result}


def _leaves(value, path="") -> Iterator[tuple]:
  if isinstance(value, dict):
    for key in sorted(value):
      yield from _leaves(value[key], f"{path}/{key}")
  elif isinstance(value, (int, float)) and not isinstance(value, bool):
    yield path, float(value)


def _largest_difference(a: dict, b: dict) -> float:
  """Largest absolute difference of the numbers of two results (inf if they differ in shape or NaNs)."""
  left, right = dict(_leaves(a)), dict(_leaves(b))
  if left.keys() != right.keys():
    return math.inf
  out = 0.0
  for key, x in left.items():
    y = right[key]
    if math.isnan(x) or math.isnan(y):
      if not (math.isnan(x) and math.isnan(y)):
        return math.inf
      continue
    out = max(out, abs(x - y))
  return out


def _child(mode: str, args: argparse.Namespace, candidates: str, lists: str,
           model: str, tmp: str) -> dict:
  command = [sys.executable, __file__, "--evaluate", mode, "--beam-mode",
             args.beam_mode, "--candidates-split", candidates,
             "--lists-split", lists, "--model", model, "--output",
             os.path.join(tmp, f"{mode}.json")]
  with tempfile.TemporaryFile("w+") as stdout, tempfile.TemporaryFile(
      "w+") as stderr:
    process = subprocess.Popen(command, stdout=stdout, stderr=stderr,
                               text=True)
    with memory.Sampler(process.pid) as sampler:
      process.wait()
    stdout.seek(0)
    stderr.seek(0)
    if process.returncode:
      raise SystemExit(f"the {mode} evaluation failed:\n"
                       f"{stderr.read()[-4000:]}")
    return {**json.loads(stdout.read().strip().splitlines()[-1]),
            "rss_mb": sampler.peak_mb(),
            "workers_rss_mb": sampler.peak_mb(of=memory.CHILDREN)}


def _newest_trained(output_dir: str) -> List[str]:
  """(eval sets, eval lists, model) of the newest model trained under `output_dir`.

  Not simply the newest run's: a later run may have stopped before training.
  """
  done = ("ran", "cached")
  trainers = [r for r in run_result.executions_of(
      output_dir, run_result.TRAINER) if r.state in done]
  gens = [r for r in run_result.executions_of(
      output_dir, run_result.EXAMPLE_GEN) if r.state in done]
  if not trainers or not gens:
    raise SystemExit(f"no trained model under {output_dir}")
  gen = gens[-1].outputs
  return [run_result.split_uri(gen["eval_candidates"][0], split_lib.EVAL),
          run_result.split_uri(gen["examples"][0], split_lib.EVAL),
          path_utils.serving_model_path(trainers[-1].outputs["model"][0])]


def _trained(args: argparse.Namespace, tmp: str) -> List[str]:
  """Logs -> examples -> Transform -> Trainer (or --run's); (eval sets, eval lists, model)."""
  if args.run:
    return _newest_trained(args.run)
  print(f"generating {args.requests:,} requests of {args.world} and "
        f"training {args.train_steps} steps...", flush=True)
  logs = os.path.join(tmp, "logs")
  write.write_logs(logs, worlds.world_config(args.world, args.requests))
  config = config_lib.PipelineConfig(stop_after=config_lib.TRAIN,
                                     train_steps=args.train_steps)
  result = local_runner.run(config, logs, os.path.join(tmp, "run"),
                            beam_options.beam_args(args.beam_mode))
  return [result.split(run_result.EXAMPLE_GEN, "eval_candidates",
                       split_lib.EVAL),
          result.split(run_result.EXAMPLE_GEN, "examples", split_lib.EVAL),
          path_utils.serving_model_path(result.model)]


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--requests", type=int, default=12_000)
  parser.add_argument("--world", default="paper_scale",
                      choices=worlds.WORLDS)
  parser.add_argument("--train-steps", type=int, default=50)
  parser.add_argument("--beam-mode", default=config_lib.BEAM_MODES[0],
                      choices=config_lib.BEAM_MODES)
  parser.add_argument("--run", help="the output folder of a pipeline run "
                                    "that trained a model: evaluate its "
                                    "model on its eval split instead")
  # One evaluation in this process (how the benchmark runs each).
  parser.add_argument("--evaluate", choices=_MODES, help=argparse.SUPPRESS)
  for flag in ("--candidates-split", "--lists-split", "--model",
               "--output"):
    parser.add_argument(flag, help=argparse.SUPPRESS)
  args = parser.parse_args()
  if args.evaluate:
    print(json.dumps(_evaluate(args.evaluate, args.candidates_split,
                               args.lists_split, args.model, args.beam_mode,
                               args.output)))
    return

  with tempfile.TemporaryDirectory() as tmp:
    candidates, lists, model = _trained(args, tmp)
    runs = {mode: _child(mode, args, candidates, lists, model, tmp)
            for mode in _MODES}
  in_mem, job = runs["in_memory"], runs["beam"]
  print(f"\n{in_mem['metrics']['requests']:,} eval requests x "
        f"{in_mem['metrics']['counts']['mean_candidates']:,.0f} candidates "
        f"({args.world}), {os.cpu_count()} CPUs")
  print(f"{'evaluation':<28}{'seconds':>9}{'peak RSS MB':>13}"
        f"{'worker MB':>11}")
  print(f"{'in memory (before #16)':<28}{in_mem['seconds']:>9.1f}"
        f"{in_mem['rss_mb']:>13,.0f}{in_mem['workers_rss_mb']:>11,.0f}")
  print(f"{'Beam, ' + args.beam_mode:<28}{job['seconds']:>9.1f}"
        f"{job['rss_mb']:>13,.0f}{job['workers_rss_mb']:>11,.0f}")
  ratio = job["seconds"] / in_mem["seconds"]
  print(f"time ratio Beam / in memory: {ratio:.2f} "
        f"({'meets' if ratio <= _TARGET_RATIO else 'MISSES'} the target of "
        f"{_TARGET_RATIO})")
  difference = _largest_difference(job["metrics"], in_mem["metrics"])
  print(f"largest metric difference: {difference:.2e} "
        f"({'identical' if difference <= 1e-9 else 'DIFFERENT'})")


if __name__ == "__main__":
  main()
