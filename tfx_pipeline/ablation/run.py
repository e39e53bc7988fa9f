"""Runs the ablation study: examples per sampling variant, then train, export and evaluate every scorer per seed."""

import dataclasses
import hashlib
import json
import logging
import os
import time
from typing import Dict, Optional, Sequence

import numpy as np
import tensorflow as tf
from tfx.components.trainer import fn_args_utils
from tfx.utils import import_utils

from components.listwise import params as params_lib
from components.validation import data
from components.validation import evaluate
from components.validation import scoring
from models import hparams as hparams_lib
from models import trainer
from tfx_pipeline import transformed
from tfx_pipeline.ablation import report
from tfx_pipeline.ablation import summary
from tfx_pipeline.ablation import variants as variants_lib

EXAMPLES_DIR = "examples"
RUNS_DIR = "runs"
RESULTS_FILE = "results.json"
METRICS_FILE = "metrics.json"
WORLD_FILE = "world.json"


@dataclasses.dataclass(frozen=True)
class AblationConfig:
  """What to compare and with which budget.

  Attributes:
    seeds: training seeds; every trained scorer runs once per seed.
    variants: names of the trained scorers (variants.VARIANTS); the fine
      ranker is always evaluated.
    train_steps: training steps of every trained scorer.
    eval_steps: Trainer validation steps.
    ks: hitrate cutoffs, ascending.
    head_share: share of most-exposed candidate items that are 'head'.
    hparams: hyperparameters of the full model (variants change fields;
      its seed is replaced by each of `seeds`).
    listwise: list-building parameters of the full model.
  """
  seeds: Sequence[int] = (0, 1, 2)
  variants: Sequence[str] = tuple(v.name for v in variants_lib.VARIANTS)
  train_steps: int = 2_000
  eval_steps: int = 20
  ks: Sequence[int] = variants_lib.DEFAULT_KS
  head_share: float = 0.2
  hparams: hparams_lib.HParams = hparams_lib.HParams()
  listwise: params_lib.ListwiseParams = params_lib.ListwiseParams()

  def __post_init__(self):
    if not self.seeds:
      raise ValueError("need at least one seed")
    if len(set(self.seeds)) != len(self.seeds):
      raise ValueError(f"seeds repeat: {list(self.seeds)}")
    if self.train_steps < 1 or self.eval_steps < 1:
      raise ValueError("train_steps and eval_steps must be >= 1")
    if not self.ks or list(self.ks) != sorted(set(self.ks)) or min(
        self.ks) < 1:
      raise ValueError(f"ks must be ascending, distinct and >= 1, got "
                       f"{list(self.ks)}")
    if report.HEADLINE_K not in self.ks:
      raise ValueError(f"ks must include {report.HEADLINE_K}: the findings "
                       f"are stated at K={report.HEADLINE_K}")
    variants_lib.select(self.variants)


def logs_fingerprint(logs_dir: str) -> str:
  """A digest of every file's relative path, size and mtime under logs_dir."""
  entries = []
  for root, _, files in os.walk(logs_dir):
    for name in files:
      path = os.path.join(root, name)
      st = os.stat(path)
      entries.append(f"{os.path.relpath(path, logs_dir)}\t{st.st_size}\t"
                     f"{st.st_mtime_ns}")
  if not entries:
    raise FileNotFoundError(f"no log files under {logs_dir}")
  return hashlib.sha256("\n".join(sorted(entries)).encode()).hexdigest()


def _read_json(path: str) -> Optional[dict]:
  if not os.path.exists(path):
    return None
  with open(path) as f:
    return json.load(f)


def _write_json(path: str, value) -> None:
  tmp = path + ".tmp"
  with open(tmp, "w") as f:
    json.dump(value, f, indent=1, sort_keys=True)
  os.replace(tmp, path)


def examples_for(output_dir: str, logs_dir: str, fingerprint: str,
                 params: params_lib.ListwiseParams
                 ) -> transformed.TransformedWorld:
  """Listwise examples and Transform for `params`, reused when unchanged."""
  root = os.path.join(output_dir, EXAMPLES_DIR, f"alpha-{params.alpha:g}")
  key = {"logs": os.path.abspath(logs_dir), "fingerprint": fingerprint,
         "params": dataclasses.asdict(params)}
  done = _read_json(os.path.join(root, WORLD_FILE))
  if done and done["key"] == key:
    logging.info("reusing the examples of alpha=%g in %s", params.alpha, root)
    return transformed.TransformedWorld(**done["world"])
  logging.info("building examples and Transform for alpha=%g in %s",
               params.alpha, root)
  os.makedirs(root, exist_ok=True)
  world = transformed.transform_logs(root, logs_dir, params)
  _write_json(os.path.join(root, WORLD_FILE),
              {"key": key, "world": dataclasses.asdict(world)})
  return world


def train(variant: variants_lib.Variant, world: transformed.TransformedWorld,
          hparams: hparams_lib.HParams, train_steps: int, eval_steps: int,
          run_dir: str) -> str:
  """Trains `variant` through its Trainer run_fn; returns the SavedModel dir."""
  module, fn = variant.run_fn.rsplit(".", 1)
  run_fn = import_utils.import_func_from_module(module, fn)
  serving_dir = os.path.join(run_dir, "serving")
  tf.keras.backend.clear_session()
  run_fn(fn_args_utils.FnArgs(
      train_files=[world.train], eval_files=[world.eval],
      train_steps=train_steps, eval_steps=eval_steps,
      transform_output=world.graph, transform_graph_path=world.graph,
      data_accessor=trainer.local_data_accessor(),
      serving_model_dir=serving_dir,
      model_run_dir=os.path.join(run_dir, "tensorboard"),
      custom_config=hparams.to_custom_config()))
  return serving_dir


class EvalData:
  """The eval candidate sets and exposed eval lists, read once."""

  def __init__(self, world: transformed.TransformedWorld):
    self.sets, self.contexts = data.read_eval_sets(world.eval_sets_dir)
    self.exposed = data.read_exposed_lists(world.examples_eval)
    if not self.sets:
      raise ValueError(f"no eval candidate sets in {world.eval_sets_dir}")

  def evaluate(self, scorers, ks: Sequence[int], head_share: float) -> dict:
    return evaluate.evaluate(self.sets, self.contexts, self.exposed, scorers,
                             ks, head_share)

  def facts(self, evaluation: dict) -> Dict[str, object]:
    in_scene = sum(int(s.in_scene.sum()) for s in self.sets)
    out_scene = sum(int(s.out_of_scene.sum()) for s in self.sets)
    return {
        "Eval requests": f"{len(self.sets):,}, "
                         f"{np.mean([len(s.item_ids) for s in self.sets]):.0f}"
                         " candidates each on average",
        "Eval purchases": f"{evaluation['purchases']:,} ({in_scene:,} in "
                          f"scene, {out_scene:,} out of scene)",
        "Exposed eval lists (NDCG@10)": f"{len(self.exposed[0]):,}",
        "Tail items": f"candidates with fewer than "
                      f"{evaluation['head_min_exposures']} train exposures",
    }


def _run_key(variant: variants_lib.Variant, hparams: hparams_lib.HParams,
             world: transformed.TransformedWorld, config: AblationConfig
             ) -> dict:
  return {"variant": variant.name, "run_fn": variant.run_fn,
          "hparams": dataclasses.asdict(hparams),
          "train_steps": config.train_steps, "eval_steps": config.eval_steps,
          "graph": world.graph, "ks": list(config.ks),
          "head_share": config.head_share}


def run_ablation(logs_dir: str, output_dir: str, config: AblationConfig,
                 command: str, report_dir: Optional[str] = None) -> dict:
  """Trains and evaluates every variant per seed; writes results and report.

  Finished runs (OUTPUT/runs/<variant>/seed-<s>/metrics.json with the same
  settings) are reused, so an interrupted study resumes where it stopped.

  Returns:
    {"results": {scorer: {seed: {metric: value}}}, "report": path}.
  """
  start = time.monotonic()
  fingerprint = logs_fingerprint(logs_dir)
  selected = variants_lib.select(config.variants)
  params_of = {v.name: v.listwise_params_for(config.listwise)
               for v in selected}
  worlds = {params: examples_for(output_dir, logs_dir, fingerprint, params)
            for params in dict.fromkeys([config.listwise,
                                         *params_of.values()])}
  # Every scorer is evaluated on the eval sets and lists of the full model's
  # examples (eval candidate sets do not depend on alpha).
  eval_data = EvalData(worlds[config.listwise])
  fine_only = eval_data.evaluate({}, config.ks, config.head_share)
  results: Dict[str, Dict[int, Dict[str, float]]] = {
      variants_lib.FINE_RANKER: {
          seed: summary.flatten(fine_only, evaluate.FINE_RANKER)
          for seed in config.seeds}}
  total = len(selected) * len(config.seeds)
  done = 0
  for seed in config.seeds:
    for variant in selected:
      done += 1
      hparams = variant.hparams_for(config.hparams, seed)
      world = worlds[params_of[variant.name]]
      run_dir = os.path.join(output_dir, RUNS_DIR, variant.name,
                             f"seed-{seed}")
      key = _run_key(variant, hparams, world, config)
      previous = _read_json(os.path.join(run_dir, METRICS_FILE))
      if previous and previous["key"] == key:
        logging.info("[%d/%d] %s seed %d: reusing %s", done, total,
                     variant.name, seed, run_dir)
        metrics = previous["metrics"]
      else:
        logging.info("[%d/%d] %s seed %d: training %d steps (%.0f s "
                     "elapsed)", done, total, variant.name, seed,
                     config.train_steps, time.monotonic() - start)
        os.makedirs(run_dir, exist_ok=True)
        serving_dir = train(variant, world, hparams, config.train_steps,
                            config.eval_steps, run_dir)
        scorer = scoring.SavedModelScorer(serving_dir)
        metrics = summary.flatten(
            eval_data.evaluate({variant.name: scorer.score}, config.ks,
                               config.head_share), variant.name)
        _write_json(os.path.join(run_dir, METRICS_FILE),
                    {"key": key, "metrics": metrics})
      results.setdefault(variant.name, {})[seed] = metrics
      logging.info("[%d/%d] %s seed %d: global@100 %.4f, ndcg@10 %.4f",
                   done, total, variant.name, seed,
                   metrics.get("global@100", float("nan")),
                   metrics["ndcg@10"])
  report_dir = report_dir or output_dir
  os.makedirs(report_dir, exist_ok=True)
  context = report.Context(
      command=command, seeds=list(config.seeds), ks=list(config.ks),
      train_steps=config.train_steps,
      batch_size=config.hparams.batch_size,
      data=eval_data.facts(fine_only))
  path = os.path.join(report_dir, report.REPORT_FILE)
  with open(path, "w") as f:
    f.write(report.markdown(results, context))
  with open(os.path.join(report_dir, report.PLOT_FILE), "wb") as f:
    f.write(report.curves_png(results, config.ks))
  _write_json(os.path.join(output_dir, RESULTS_FILE),
              {"command": command, "seeds": list(config.seeds),
               "results": {name: {str(s): m for s, m in by_seed.items()}
                           for name, by_seed in results.items()}})
  logging.info("ablation finished in %.0f s; report: %s",
               time.monotonic() - start, path)
  return {"results": results, "report": path}
