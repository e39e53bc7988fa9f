"""The ablation report: a Markdown document (findings, tables, command) and the hitrate@K curves as PNG."""

import dataclasses
import math
from typing import Dict, List, Mapping, Sequence

from components.validation import metrics
from components.validation import plot
from models import cutoffs
from tfx_pipeline.ablation import summary
from tfx_pipeline.ablation import variants as variants_lib

REPORT_FILE = "report.md"
PLOT_FILE = "hitrate_curves.png"
CURVE_SLICES = (metrics.GLOBAL, metrics.IN_SCENE, metrics.OUT_OF_SCENE,
                metrics.TAIL)
HEADLINE_K = variants_lib.HEADLINE_K


@dataclasses.dataclass(frozen=True)
class Context:
  """What the report states about how it was made.

  Attributes:
    command: the command line that reproduces it.
    seeds: training seeds.
    ks: hitrate cutoffs ("100", "5%"), counts ascending then shares.
    train_steps: training steps of every trained scorer.
    batch_size: lists per training step.
    data: facts about the data, e.g. {"eval requests": 2000}, in order.
  """
  command: str
  seeds: Sequence[int]
  ks: Sequence[str]
  train_steps: int
  batch_size: int
  data: Mapping[str, object]


def _cell(s: summary.Stats, spread: bool = True) -> str:
  """"mean ± std"; the mean alone for one value or without spread."""
  if s.n == 0:
    return "n/a"
  if s.n == 1 or not spread:
    return f"{s.mean:.3f}"
  return f"{s.mean:.3f} ± {s.std:.3f}"


def _rows(stats, scorers: Sequence[str],
          metric_names: Sequence[str]) -> List[List[str]]:
  """One row per scorer; the fine ranker's logged scores have no spread."""
  return [[name] + [_cell(stats[name].get(m, summary.stats([])),
                          spread=name != variants_lib.FINE_RANKER)
                    for m in metric_names] for name in scorers]


def _signed(x: float) -> str:
  return "n/a" if math.isnan(x) else f"{x:+.3f}"


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> List[str]:
  return (["| " + " | ".join(header) + " |",
           "|" + "|".join("---" for _ in header) + "|"]
          + ["| " + " | ".join(row) + " |" for row in rows])


def _scorers(results: summary.Results) -> List[str]:
  """Scorers in report order: the fine ranker first, then VARIANTS order."""
  order = [variants_lib.FINE_RANKER] + [v.name for v in variants_lib.VARIANTS]
  return [s for s in order if s in results]


def findings_lines(results: summary.Results, large_k: str) -> List[str]:
  """The findings table: per-seed paired differences and the verdict."""
  rows = []
  for finding in variants_lib.FINDINGS:
    metric = finding.metric_at(large_k)
    v = summary.verdict(results, finding.variant, finding.against, metric)
    rows.append([finding.claim, f"{finding.variant} − {finding.against}",
                 metric, " ".join(_signed(d) for d in v.differences) or "n/a",
                 _signed(v.mean_difference), f"**{v.outcome}**"])
  return _table(["finding", "difference", "metric", "per seed", "mean",
                 "verdict"], rows)


def markdown(results: summary.Results, context: Context) -> str:
  """The whole report; the plot is referenced as PLOT_FILE beside it."""
  stats = summary.aggregate(results)
  scorers = _scorers(results)
  large_k = max((c for c in map(cutoffs.parse, context.ks)
                 if c.count is not None), key=lambda c: c.count).text
  lines = [
      "# Quality report: the published ablations on the synthetic world",
      "",
      "Reproduce with:",
      "",
      "```sh",
      context.command,
      "```",
      "",
      f"- Seeds: {', '.join(str(s) for s in context.seeds)} (training "
      "seed: weight initialisation and shuffling). Every scorer sees the "
      "same logs, training lists (apart from the uniform-negatives "
      "variant's random negatives) and eval sets.",
      f"- Budget: {context.train_steps:,} training steps of "
      f"{context.batch_size} lists for every trained scorer.",
  ]
  lines += [f"- {name}: {value}" for name, value in context.data.items()]
  lines += [
      "- Values are mean ± sample standard deviation over the seeds. The "
      "fine ranker's scores are logged, so it has no spread.",
      "",
      "## Findings",
      "",
      "A finding holds only when the difference has the expected sign on "
      "every seed.",
      "",
  ]
  lines += findings_lines(results, large_k)
  lines += ["", f"## Headline metrics (K = {HEADLINE_K})", ""]
  headline = [f"{s}@{HEADLINE_K}" for s in metrics.SLICES] + ["ndcg@10"]
  lines += _table(["scorer"] + headline, _rows(stats, scorers, headline))
  for slice_name in CURVE_SLICES:
    lines += ["", f"## {slice_name.replace('_', '-')} hitrate@K", ""]
    lines += _table(["scorer"] + [f"K={k}" for k in context.ks],
                    _rows(stats, scorers,
                          [f"{slice_name}@{k}" for k in context.ks]))
  lines += ["", f"![hitrate@K curves, mean over seeds, band min to max]"
                f"({PLOT_FILE})", "", "## Scorers", "",
            f"- `{variants_lib.FINE_RANKER}`: the fine ranker's logged "
            "scores on the eval candidate sets"]
  lines += [f"- `{v.name}`: {v.description}" for v in variants_lib.VARIANTS
            if v.name in results]
  return "\n".join(lines) + "\n"


def curves_png(results: summary.Results, ks: Sequence[str]) -> bytes:
  """Mean hitrate@K per scorer and slice, with the min-max band over seeds."""
  stats = summary.aggregate(results)
  tables: Dict[str, dict] = {}
  bands: Dict[str, dict] = {}
  for name in _scorers(results):
    tables[name] = {sl: {k: stats[name][f"{sl}@{k}"].mean for k in ks}
                    for sl in CURVE_SLICES}
    bands[name] = {sl: {k: (stats[name][f"{sl}@{k}"].low,
                            stats[name][f"{sl}@{k}"].high) for k in ks}
                   for sl in CURVE_SLICES}
  return plot.plot_hitrate_curves(tables, ks, CURVE_SLICES, bands=bands)
