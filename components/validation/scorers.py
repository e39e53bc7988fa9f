"""The scorers the hitrate validation compares: their names in the metrics, and the two that need no model.

Besides the candidate model and the last blessed model (SavedModels scored
through serving_default), every validation evaluates, on the same sets:

- the fine ranker's logged scores (NaN, ranked last, where it has none);
- popularity: an item's exposures in the train split, the count any log
  holds. A model that cannot beat it has learned nothing a count of the logs
  does not already give.
"""

from typing import Callable, List, Mapping, Sequence

import numpy as np

MODEL = "model"  # The candidate model of the run.
FINE_RANKER = "fine_ranker"  # The fine ranker's logged scores.
POPULARITY = "popularity"  # Train exposures of the item.
BASELINE = "last_blessed_model"  # The last blessed model, on the same sets.

# Scores candidate lists: (contexts, candidate item ids) -> scores per list.
ScoreFn = Callable[[Sequence[dict], Sequence[Sequence[str]]],
                   List[np.ndarray]]


def popularity(exposures: Mapping[str, int]) -> ScoreFn:
  """Scores each candidate by its train exposures (0 for an unknown item)."""

  def score(contexts: Sequence[dict],
            candidates: Sequence[Sequence[str]]) -> List[np.ndarray]:
    del contexts  # The same list for every request.
    return [np.array([exposures.get(item, 0) for item in items], float)
            for items in candidates]

  return score
