"""The scorers the hitrate validation compares: their names in the metrics, and the yardsticks that need no model.

Besides the candidate model and the last blessed model (SavedModels scored
through serving_default), every validation evaluates, on the same sets:

- the fine ranker's logged scores (NaN, ranked last, where it has none);
- three yardsticks, counts of the train split that any log holds, with no
  fitted parameter (YARDSTICKS). A model that cannot beat the best of them
  has learned nothing a count of the logs does not already give:
  - popularity: the item's exposures in the train split;
  - sales: the item's transactions in every scene over the train period;
  - counts: which categories and brands the query's words lead to, how
    much the item is shown and sold, and how it fits the user's history
    (`counts_score`).
"""

from typing import Callable, Dict, List, Sequence

import numpy as np

MODEL = "model"  # The candidate model of the run.
FINE_RANKER = "fine_ranker"  # The fine ranker's logged scores.
POPULARITY = "popularity"  # Train exposures of the item.
SALES = "sales"  # Train-period transactions of the item, every scene.
COUNTS = "counts"  # counts_score.
YARDSTICKS = (POPULARITY, SALES, COUNTS)
BASELINE = "last_blessed_model"  # The last blessed model, on the same sets.

# The counts score's weights, fixed in advance (the issue that asked for
# it gave them), never fitted to a world: each log share counts once, the
# two volume counts 0.3 each, the history's share once.
COUNTS_VOLUME_WEIGHT = 0.3

# Scores candidate lists: (contexts, candidate item ids) -> scores per list.
ScoreFn = Callable[[Sequence[dict], Sequence[Sequence[str]]],
                   List[np.ndarray]]


def counts_score(query_category_log_share: np.ndarray,
                 query_brand_log_share: np.ndarray,
                 history_category_share: np.ndarray, exposures: np.ndarray,
                 sales: np.ndarray) -> np.ndarray:
  """log P(category | query) + log P(brand | query)
  + 0.3 log(1 + exposures) + 0.3 log(1 + sales) + log(1 + history share).

  The log shares are means over the query's distinct tokens of the add-one
  smoothed click-or-purchase shares among train impressions (computed by
  the listwise stage, components/listwise/lists.py `query_log_share`); the
  history share is the share of the user's history items in the item's
  category. Every argument is `[num_candidates]`.
  """
  return (np.asarray(query_category_log_share, float)
          + np.asarray(query_brand_log_share, float)
          + COUNTS_VOLUME_WEIGHT * np.log1p(np.asarray(exposures, float))
          + COUNTS_VOLUME_WEIGHT * np.log1p(np.asarray(sales, float))
          + np.log1p(np.asarray(history_category_share, float)))


def yardstick_scores(eval_set) -> Dict[str, np.ndarray]:
  """Each yardstick's scores of an eval set's candidates (metrics.EvalSet)."""
  return {
      POPULARITY: np.asarray(eval_set.train_exposures, float),
      SALES: np.asarray(eval_set.train_sales, float),
      COUNTS: counts_score(eval_set.query_category_log_share,
                           eval_set.query_brand_log_share,
                           eval_set.history_category_share,
                           eval_set.train_exposures, eval_set.train_sales),
  }
