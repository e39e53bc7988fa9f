"""The blessing decision: an absolute hitrate threshold, better than the best yardstick, and no regression against the last blessed model."""

import dataclasses
import math
from typing import List, Mapping, Optional


@dataclasses.dataclass(frozen=True)
class Decision:
  blessed: bool
  reasons: List[str]


def _missing(value: Optional[float]) -> bool:
  return value is None or not math.isfinite(value)


def decide(candidate: Optional[float], threshold: float, tolerance: float,
           baseline: Optional[float] = None,
           has_baseline: bool = False,
           yardsticks: Optional[Mapping[str, float]] = None) -> Decision:
  """Blesses only if the candidate's global hitrate@K_main is a finite
  number >= threshold, > the best of the yardsticks' (when given) and >=
  baseline - tolerance.

  Args:
    candidate: the candidate model's global hitrate@K_main (None or NaN when
      it could not be computed).
    threshold: the absolute threshold.
    tolerance: how far below the last blessed model's value the candidate
      may fall.
    baseline: the last blessed model's global hitrate@K_main on the same
      sets, if there is one.
    has_baseline: a blessed model exists; its metric must then be finite.
    yardsticks: name -> global hitrate@K_main of each yardstick on the
      same sets (popularity, sales, counts); the candidate must beat the
      best finite one. None (or empty) skips the rule.

  Returns:
    The decision and, for a refusal, every reason.
  """
  reasons = []
  if _missing(candidate):
    reasons.append(f"candidate hitrate is missing or not finite: {candidate}")
  elif candidate < threshold:
    reasons.append(f"candidate hitrate {candidate:.4f} is below the "
                   f"threshold {threshold:.4f}")
  finite = {name: value for name, value in (yardsticks or {}).items()
            if not _missing(value)}
  if finite and not _missing(candidate):
    best = max(finite, key=finite.get)
    if not candidate > finite[best]:
      reasons.append(f"candidate hitrate {candidate:.4f} does not beat the "
                     f"best yardstick, {best}'s {finite[best]:.4f} ("
                     + ", ".join(f"{n} {v:.4f}" for n, v in finite.items())
                     + ")")
  if has_baseline:
    if _missing(baseline):
      reasons.append(f"baseline hitrate is missing or not finite: {baseline}")
    elif not _missing(candidate) and candidate < baseline - tolerance:
      reasons.append(f"candidate hitrate {candidate:.4f} regresses more than "
                     f"{tolerance:.4f} below the last blessed model's "
                     f"{baseline:.4f}")
  return Decision(blessed=not reasons, reasons=reasons)
