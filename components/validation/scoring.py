"""Scores candidate lists with an exported SavedModel through its serving_default signature."""

from typing import List, Sequence

import numpy as np
import tensorflow as tf

from models import requests as requests_lib
from models import serving as model_serving


class SavedModelScorer:
  """Calls serving_default as a client would, on padded batches."""

  def __init__(self, saved_model_dir: str, batch_size: int = 64):
    self._signature = tf.saved_model.load(saved_model_dir).signatures[
        model_serving.SERVING_DEFAULT]
    self._batch_size = batch_size

  def score(self, contexts: Sequence[dict],
            candidates: Sequence[Sequence[str]]) -> List[np.ndarray]:
    """Scores `[num_candidates]` per request."""
    out: List[np.ndarray] = []
    for start in range(0, len(contexts), self._batch_size):
      cands = candidates[start:start + self._batch_size]
      inputs = requests_lib.rank_inputs([
          requests_lib.RankRequest(**context, candidate_item_ids=list(items))
          for context, items in zip(contexts[start:start + self._batch_size],
                                    cands)])
      result = self._signature(**{name: tf.constant(value)
                                  for name, value in inputs.items()})
      scores = result[model_serving.SCORES].numpy()
      out.extend(scores[i, :len(c)] for i, c in enumerate(cands))
    return out
