"""Hitrate cutoffs: K as a number of candidates ("100") or as a share of each request's candidate set ("5%").

Candidate sets differ in size between requests and between users' logs, so a
share says the same thing on every log: "5%" keeps the best
round(0.05 * |C_r|) of each request's distinct candidates (at least one).
"""

import dataclasses
import math
from typing import Optional, Sequence, Tuple


@dataclasses.dataclass(frozen=True)
class Cutoff:
  """One cutoff, as written (`text`) and as a count or a share.

  Attributes:
    text: "100" or "5%", the name of the cutoff in metrics and reports.
    count: K for every request, or None.
    share: the share of each candidate set, in (0, 1], or None.
  """
  text: str
  count: Optional[int] = None
  share: Optional[float] = None

  def k(self, num_candidates: int) -> int:
    """K for a set of `num_candidates` distinct candidates."""
    if self.count is not None:
      return self.count
    return max(1, math.floor(self.share * num_candidates + 0.5))


def parse(text: str) -> Cutoff:
  """"100" -> 100 candidates, "5%" -> 5% of each set.

  Raises:
    ValueError: not a positive integer or a percentage in (0, 100].
  """
  text = str(text).strip()
  try:
    if text.endswith("%"):
      share = float(text[:-1]) / 100.0
      if not 0.0 < share <= 1.0:
        raise ValueError
      return Cutoff(f"{float(text[:-1]):g}%", share=share)
    count = int(text)
    if count < 1:
      raise ValueError
    return Cutoff(str(count), count=count)
  except ValueError:
    raise ValueError(f"a cutoff is a positive integer (e.g. 100) or a share "
                     f"of the candidate set in (0%, 100%] (e.g. 5%), got "
                     f"{text!r}") from None


def ordered(texts: Sequence[str]) -> Tuple[str, ...]:
  """The cutoffs, each once, counts ascending then shares ascending."""
  parsed = {c.text: c for c in map(parse, texts)}.values()
  return tuple(c.text for c in sorted(
      parsed, key=lambda c: (c.share is not None, c.share or c.count)))
