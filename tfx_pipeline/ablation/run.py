"""Runs the ablation study: one pipeline run per scorer and seed, then the report."""

import json
import logging
import os
import time
from typing import Dict, Optional, Sequence

from components.validation import report as metrics_report
from components.validation import scorers
from tfx_pipeline import local_runner
from tfx_pipeline.ablation import report
from tfx_pipeline.ablation import summary
from tfx_pipeline.ablation import config as ablation_config
from tfx_pipeline.ablation import variants as variants_lib

RESULTS_FILE = "results.json"


def _facts(metrics: dict) -> Dict[str, object]:
  counts = metrics["counts"]
  return {
      "Eval requests": f"{metrics['requests']:,}, "
                       f"{counts['mean_candidates']:.0f} candidates each on "
                       "average",
      "Eval purchases": f"{metrics['purchases']:,} "
                        f"({counts['purchases_in_scene']:,} in scene, "
                        f"{counts['purchases_out_of_scene']:,} out of scene)",
      "Exposed eval lists (NDCG@10)": f"{counts['exposed_lists']:,}",
      "Tail items": f"candidates with fewer than "
                    f"{metrics['head_min_exposures']} train exposures",
  }


def run_ablation(logs_dir: str, output_dir: str, config: ablation_config.AblationConfig,
                 command: str, report_dir: Optional[str] = None,
                 beam_pipeline_args: Optional[Sequence[str]] = None) -> dict:
  """Trains and evaluates every variant per seed; writes results and report.

  Every (variant, seed) is one run of the pipeline into `output_dir`, so
  TFX's cache reuses what an earlier run of the same settings on the same
  log files produced: an interrupted study resumes, a rerun trains nothing.

  Returns:
    {"results": {scorer: {seed: {metric: value}}}, "report": path,
     "runs": {(variant, seed): RunResult}, "states": {(variant, seed):
     {component: state}}}.
  """
  start = time.monotonic()
  selected = variants_lib.select(config.variants)
  results: Dict[str, Dict[int, Dict[str, float]]] = {}
  runs = {}
  facts = None
  total = len(selected) * len(config.seeds)
  for done, (seed, variant) in enumerate(
      ((s, v) for s in config.seeds for v in selected), start=1):
    logging.info("[%d/%d] %s seed %d (%.0f s elapsed)", done, total,
                 variant.name, seed, time.monotonic() - start)
    result = local_runner.run(config.run_config(variant, seed), logs_dir,
                              output_dir, beam_pipeline_args)
    runs[(variant.name, seed)] = result
    metrics = metrics_report.load(result.metrics)
    results.setdefault(variant.name, {})[seed] = summary.flatten(
        metrics, scorers.MODEL)
    results.setdefault(variants_lib.FINE_RANKER, {})[seed] = summary.flatten(
        metrics, scorers.FINE_RANKER)
    facts = facts or _facts(metrics)
    logging.info("[%d/%d] %s seed %d: global@100 %.4f, ndcg@10 %.4f",
                 done, total, variant.name, seed,
                 results[variant.name][seed].get("global@100", float("nan")),
                 results[variant.name][seed]["ndcg@10"])
  report_dir = report_dir or output_dir
  os.makedirs(report_dir, exist_ok=True)
  context = report.Context(
      command=command, seeds=list(config.seeds), ks=list(config.ks),
      train_steps=config.pipeline.train_steps,
      batch_size=config.pipeline.hparams.batch_size, data=facts)
  path = os.path.join(report_dir, report.REPORT_FILE)
  with open(path, "w") as f:
    f.write(report.markdown(results, context))
  with open(os.path.join(report_dir, report.PLOT_FILE), "wb") as f:
    f.write(report.curves_png(results, config.ks))
  with open(os.path.join(output_dir, RESULTS_FILE), "w") as f:
    json.dump({"command": command, "seeds": list(config.seeds),
               "results": {name: {str(s): m for s, m in by_seed.items()}
                           for name, by_seed in results.items()}},
              f, indent=1, sort_keys=True)
  logging.info("ablation finished in %.0f s; report: %s",
               time.monotonic() - start, path)
  states = {key: {r.component: r.state for r in result.components}
            for key, result in runs.items()}
  return {"results": results, "report": path, "runs": runs,
          "states": states}
