"""Names of the scorers the hitrate validation compares, as they appear in its metrics."""

MODEL = "model"  # The candidate model of the run.
FINE_RANKER = "fine_ranker"  # The fine ranker's logged scores.
BASELINE = "last_blessed_model"  # The last blessed model, on the same sets.
