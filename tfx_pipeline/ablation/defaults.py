"""Choosing defaults leave one world out: a setting is kept only where, chosen on the other development worlds, it also helps the one left out.

Each candidate setting is one change to the defaults. On every development
world (never a held-out one), the change's effect is its paired difference
to the defaults' run on the same logs, averaged over the cutoffs that
matter (global hitrate at 5% and 10% of each candidate set). For each world
left out, the change is chosen on the others (mean effect there above 0)
or not, and that choice is checked on the world left out: it helps when
the effect there has the chosen sign. A change is adopted only when every
fold chooses it and it helps every world left out; the defaults' value is
confirmed only when every fold rejects the change and the world left out
agrees; anything else is undecided, and the default stays.

    verdicts(effects)  # {setting: {world: effect}}
"""

import dataclasses
import math
from typing import Dict, List, Mapping, Sequence

# The metrics whose mean is a change's effect.
METRICS = ("global@5%", "global@10%")
ADOPT = "adopted"
CONFIRMED = "default confirmed"
UNDECIDED = "undecided: default kept"

# {setting: {world: {metric: value}}}
Runs = Mapping[str, Mapping[str, Mapping[str, float]]]


def effects(runs: Runs, defaults: str,
            metrics: Sequence[str] = METRICS) -> Dict[str, Dict[str, float]]:
  """Each setting's mean difference to `defaults` per world."""
  base = runs[defaults]
  out = {}
  for setting, by_world in runs.items():
    if setting == defaults:
      continue
    out[setting] = {
        world: float(sum(values[m] - base[world][m] for m in metrics)
                     / len(metrics))
        for world, values in by_world.items() if world in base}
  return out


@dataclasses.dataclass(frozen=True)
class Fold:
  """One world left out: the choice made on the others and its effect."""
  left_out: str
  chosen: bool  # The change is chosen on the other worlds.
  helps: bool  # The choice has the same sign on the world left out.


@dataclasses.dataclass(frozen=True)
class Verdict:
  setting: str
  effects: Dict[str, float]
  folds: List[Fold]
  outcome: str


def verdict(setting: str, by_world: Mapping[str, float]) -> Verdict:
  """The leave-one-world-out verdict of one change (module docstring)."""
  folds = []
  for left_out in by_world:
    others = [v for w, v in by_world.items() if w != left_out]
    chosen = bool(others) and sum(others) / len(others) > 0
    effect = by_world[left_out]
    folds.append(Fold(left_out, chosen, effect > 0 if chosen else effect < 0))
  if folds and all(f.chosen and f.helps for f in folds):
    outcome = ADOPT
  elif folds and all(not f.chosen and f.helps for f in folds):
    outcome = CONFIRMED
  else:
    outcome = UNDECIDED
  return Verdict(setting, dict(by_world), folds, outcome)


def verdicts(effects_by_setting: Mapping[str, Mapping[str, float]]
             ) -> List[Verdict]:
  return [verdict(s, e) for s, e in effects_by_setting.items()]


def markdown_table(results: Sequence[Verdict], worlds: Sequence[str]
                   ) -> List[str]:
  """One row per change: its effect per world, each fold's choice and
  whether it helped the world left out, and the outcome."""
  header = (["change"] + [f"effect on {w}" for w in worlds]
            + [f"left out {w}: chosen / helps" for w in worlds]
            + ["outcome"])
  lines = ["| " + " | ".join(header) + " |",
           "|" + "|".join("---" for _ in header) + "|"]
  for v in results:
    fold = {f.left_out: f for f in v.folds}
    cells = [v.setting]
    cells += [("n/a" if math.isnan(v.effects.get(w, math.nan))
               else f"{v.effects[w]:+.3f}") for w in worlds]
    cells += [(f"{'yes' if fold[w].chosen else 'no'} / "
               f"{'yes' if fold[w].helps else 'no'}") if w in fold else "n/a"
              for w in worlds]
    cells.append(f"**{v.outcome}**" if v.outcome == ADOPT else v.outcome)
    lines.append("| " + " | ".join(cells) + " |")
  return lines


# The changes to the defaults whose choice the study checks: name, then
# PipelineConfig.replace arguments. Each is one setting the last round's
# notes or the issue named as a candidate.
CHANGES = (
    ("match_head=False", {"hparams__match_head": False}),
    ("num_candidate_negatives=0", {"listwise__num_candidate_negatives": 0}),
    ("checkpoint_metric=loss", {"hparams__checkpoint_metric": "loss"}),
    ("teacher_transform=none", {"hparams__teacher_transform": "none"}),
    ("w_in_batch=0", {"hparams__w_in_batch": 0.0}),
    ("w_distillation=0", {"hparams__w_distillation": 0.0}),
    ("id_dropout=0.3", {"hparams__id_dropout": 0.3}),
)
DEFAULTS = "defaults"
