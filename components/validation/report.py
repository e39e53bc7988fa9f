"""Reads a HitrateMetrics artifact and formats it as a table."""

import json
import math
import os

from components.validation import metrics

# Files of the HitrateMetrics artifact.
METRICS_FILE = "metrics.json"
PLOT_FILE = "hitrate_at_k.png"


def format_report(report: dict, metrics_uri: str) -> str:
  """Hitrate@K per scorer and slice, NDCG@10, the decision and the plot."""
  ks = [str(k) for k in report["ks"]]
  width = 8
  lines = [f"{'scorer':<20}{'slice':<14}" + "".join(
      f"{'@' + k:>{width}}" for k in ks)]
  for scorer, table in report["hitrate"].items():
    for name in metrics.SLICES:
      cells = [table[name][k] for k in ks]
      lines.append(f"{scorer:<20}{name:<14}" + "".join(
          f"{'n/a' if v is None else f'{v:.3f}':>{width}}" for v in cells))
  ndcg_key = next(k for k in report if k.startswith("ndcg@"))
  lines.append("")
  # A scorer with no score on the exposed lists (the counts yardstick) has
  # no NDCG there (NaN, as the executor writes it, or None): it is left out.
  lines.append(f"{ndcg_key} on exposed lists: " + ", ".join(
      f"{scorer} {v:.3f}" for scorer, v in report[ndcg_key].items()
      if v is not None and math.isfinite(v)))
  lines.append(f"eval requests {report['requests']:,}, purchases "
               f"{report['purchases']:,}, head items: >= "
               f"{report['head_min_exposures']} train exposures")
  verdict = "BLESSED" if report["blessed"] else "NOT BLESSED"
  lines.append(f"decision on global hitrate@{report['k_main']}: {verdict}"
               + "".join(f"\n  - {r}" for r in report["reasons"]))
  lines.append(f"plot: {os.path.join(metrics_uri, PLOT_FILE)}")
  return "\n".join(lines)


def load(metrics_uri: str) -> dict:
  """The metrics.json of a HitrateMetrics artifact."""
  with open(os.path.join(metrics_uri, METRICS_FILE), encoding="utf-8") as f:
    return json.load(f)
