"""The hitrate@K curves of several scorers (e.g. model, fine ranker, previous blessed model) as a PNG."""

import io
from typing import List, Mapping, Optional, Sequence, Tuple

from matplotlib import figure

from models import cutoffs


def _rows(ks: Sequence[str]) -> List[Tuple[str, List[cutoffs.Cutoff]]]:
  """(x-axis label, cutoffs) per row: counts, then shares of the set."""
  parsed = [cutoffs.parse(k) for k in ks]
  rows = [("K", [c for c in parsed if c.count is not None]),
          ("K, % of the candidate set", [c for c in parsed
                                         if c.share is not None])]
  return [(label, row) for label, row in rows if row]


def plot_hitrate_curves(tables: Mapping[str, Mapping[str, Mapping[str, float]]],
                        ks: Sequence[str],
                        slices: Sequence[str] = ("global", "in_scene",
                                                 "out_of_scene"),
                        bands: Optional[Mapping[str, Mapping[str, Mapping[
                            str, Tuple[float, float]]]]] = None) -> bytes:
  """One panel per slice and kind of cutoff; one line per scorer; log x axis.

  Args:
    tables: scorer name -> slice -> cutoff ("100", "5%") -> hitrate.
    ks: the cutoffs to draw; counts and shares go to separate rows.
    slices: the slices to draw.
    bands: optional scorer name -> slice -> cutoff -> (low, high), drawn as a
      shaded band around the scorer's line (e.g. the spread over seeds).

  Returns:
    The PNG image.
  """
  rows = _rows(ks)
  fig = figure.Figure(figsize=(5 * len(slices), 4 * len(rows)))
  axes = fig.subplots(len(rows), len(slices), squeeze=False)
  for (label, row), row_axes in zip(rows, axes):
    x = [c.count if c.count is not None else 100 * c.share for c in row]
    for ax, name in zip(row_axes, slices):
      for scorer, table in tables.items():
        line, = ax.plot(x, [table[name][c.text] for c in row], marker="o",
                        label=scorer)
        if bands and scorer in bands:
          ax.fill_between(x, [bands[scorer][name][c.text][0] for c in row],
                          [bands[scorer][name][c.text][1] for c in row],
                          color=line.get_color(), alpha=0.2, linewidth=0)
      ax.set_xscale("log")
      ax.set_xlabel(label)
      ax.set_ylabel(f"{name} hitrate@K")
      ax.set_ylim(0.0, 1.0)
      ax.grid(True, alpha=0.3)
      ax.set_title(name.replace("_", " "))
    row_axes[0].legend(loc="lower right")
  fig.tight_layout()
  out = io.BytesIO()
  fig.savefig(out, format="png", dpi=100)
  return out.getvalue()
