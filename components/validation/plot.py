"""The hitrate@K curves of several scorers (e.g. model, fine ranker, previous blessed model) as a PNG."""

import io
from typing import Mapping, Optional, Sequence, Tuple

from matplotlib import figure


def plot_hitrate_curves(tables: Mapping[str, Mapping[str, Mapping[int, float]]],
                        ks: Sequence[int],
                        slices: Sequence[str] = ("global", "in_scene",
                                                 "out_of_scene"),
                        bands: Optional[Mapping[str, Mapping[str, Mapping[
                            int, Tuple[float, float]]]]] = None) -> bytes:
  """One panel per slice; one line per scorer; log-scaled K axis.

  Args:
    tables: scorer name -> slice -> K -> hitrate.
    ks: the cutoffs, ascending.
    slices: the slices to draw.
    bands: optional scorer name -> slice -> K -> (low, high), drawn as a
      shaded band around the scorer's line (e.g. the spread over seeds).

  Returns:
    The PNG image.
  """
  fig = figure.Figure(figsize=(5 * len(slices), 4))
  axes = fig.subplots(1, len(slices), squeeze=False)
  for ax, name in zip(axes[0], slices):
    for scorer, table in tables.items():
      line, = ax.plot(list(ks), [table[name][k] for k in ks], marker="o",
                      label=scorer)
      if bands and scorer in bands:
        ax.fill_between(list(ks), [bands[scorer][name][k][0] for k in ks],
                        [bands[scorer][name][k][1] for k in ks],
                        color=line.get_color(), alpha=0.2, linewidth=0)
    ax.set_xscale("log")
    ax.set_xlabel("K")
    ax.set_ylabel(f"{name} hitrate@K")
    ax.set_ylim(0.0, 1.0)
    ax.grid(True, alpha=0.3)
    ax.set_title(name.replace("_", " "))
  axes[0][0].legend(loc="lower right")
  fig.tight_layout()
  out = io.BytesIO()
  fig.savefig(out, format="png", dpi=100)
  return out.getvalue()
