"""Keeps the weights of the checkpoint with the best validation metric, so the export is never the diverged end of a long run."""

import math
from typing import Callable, Iterable, List, Mapping, Optional, Tuple

import numpy as np
import tensorflow as tf

from models import features as f
from models.metrics import candidate_sets

# The logs keys CandidateHitrate writes: the hitrate (the monitor of
# "candidate_hitrate") and the weight of the towers' score it was found at.
CANDIDATE_HITRATE_LOG = "val_candidate_hitrate"
TOWER_WEIGHT_LOG = "val_tower_weight"
# The towers' weights tried for a model with a head (ScoreHead.combine).
TOWER_WEIGHTS = (1.0, 0.5, 0.25, 0.0)


class BestCheckpoint(tf.keras.callbacks.Callback):
  """At each epoch end, remembers the weights if `monitor` is the best yet.

  Training runs as `checkpoints` epochs of `steps_per_epoch` steps; call
  `restore()` after `fit` to put the best weights back. A loss is best when
  lowest, any other metric (a ranking metric) when highest.

  Attributes:
    history: (step, monitored value) at every epoch end.
    best_step: training steps of the best checkpoint, None before any.
    best_value: its monitored value.
    best_logs: the epoch's logs at the best checkpoint.
  """

  def __init__(self, steps_per_epoch: int, monitor: str = "val_loss"):
    super().__init__()
    self._steps_per_epoch = steps_per_epoch
    self._monitor = monitor
    self._sign = 1.0 if monitor.endswith("loss") else -1.0
    self._weights: Optional[List] = None
    self.history: List[Tuple[int, float]] = []
    self.best_step: Optional[int] = None
    self.best_value = math.nan
    self.best_logs: Mapping[str, float] = {}

  def on_epoch_end(self, epoch, logs=None):
    value = float((logs or {}).get(self._monitor, math.nan))
    step = (epoch + 1) * self._steps_per_epoch
    self.history.append((step, value))
    # NaN never wins: a diverged checkpoint is not kept.
    if not math.isnan(value) and (math.isnan(self.best_value) or
                                  self._sign * value
                                  < self._sign * self.best_value):
      self.best_value, self.best_step = value, step
      self.best_logs = dict(logs or {})
      self._weights = self.model.get_weights()

  def restore(self) -> None:
    """Sets the model's weights to the best checkpoint's.

    Raises:
      RuntimeError: no checkpoint had a monitored value.
    """
    if self._weights is None:
      raise RuntimeError(f"no checkpoint had a {self._monitor}: "
                         f"{self.history}")
    self.model.set_weights(self._weights)


class CandidateHitrate(tf.keras.callbacks.Callback):
  """At each epoch end, logs the model's hitrate over candidate sets.

  The sets are the validation requests' candidate sets, in list-sized
  chunks (the transformed `valid_candidates` split): the model scores every
  chunk, the chunks of a request form its set, and the hitrate@cutoff of
  the purchases (`label_purchase`) goes to the epoch's logs as
  CANDIDATE_HITRATE_LOG, before BestCheckpoint (listed after it) reads them.
  A model with a head is scored at each of TOWER_WEIGHTS (its towers' score
  times the weight, plus the head's: `score_parts`); the best weight is
  logged as TOWER_WEIGHT_LOG with its hitrate.

  Args:
    batches: a callable returning an iterable of transformed batches, each
      with the raw `request_id` `[batch]`, `label_purchase` and `mask`
      `[batch, list_size]` and what the model reads.
    cutoff: "5%", "100", ... (models/cutoffs.py).
  """

  def __init__(self, batches: Callable[[], Iterable[Mapping[str, tf.Tensor]]],
               cutoff: str):
    super().__init__()
    self._batches = batches
    self._cutoff = cutoff
    self._predict = None

  def _parts(self, batch):
    if hasattr(self.model, "score_parts"):
      two_tower, head = self.model.score_parts(batch)
      return two_tower, head, getattr(self.model, "head", None) is not None
    return self.model(batch, training=False), None, False

  def hitrates(self) -> Mapping[float, float]:
    """The current weights' hitrate@cutoff at each towers' weight tried
    (only 1 for a model without a head); NaN without a purchase."""
    if self._predict is None:
      self._predict = tf.function(self._parts, reduce_retracing=True)
    keys, towers, heads, bought = [], [], [], []
    has_head = False
    for batch in self._batches():
      valid = np.asarray(batch[f.transformed_name(f.MASK)]) == 1
      request = np.asarray(batch[f.transformed_name(f.REQUEST_ID)])
      two_tower, head, has_head = self._predict(batch)
      keys.append(np.broadcast_to(request[:, None], valid.shape)[valid])
      towers.append(np.asarray(two_tower)[valid])
      heads.append(np.asarray(head)[valid] if has_head
                   else np.zeros(int(valid.sum())))
      bought.append(np.asarray(
          batch[f.transformed_name(f.LABEL_PURCHASE)])[valid] == 1)
    if not keys:
      return {1.0: math.nan}
    keys, towers, heads, bought = map(np.concatenate,
                                      (keys, towers, heads, bought))
    weights = TOWER_WEIGHTS if bool(has_head) else (1.0,)
    return {w: candidate_sets.hitrate(keys, w * towers + heads, bought,
                                      self._cutoff) for w in weights}

  def hitrate(self) -> float:
    """The current weights' hitrate@cutoff as the model scores now."""
    weight = 1.0
    head = getattr(self.model, "head", None)
    if head is not None:
      weight = float(head.tower_weight.numpy())
    rates = self.hitrates()
    return rates.get(weight, rates[max(rates)])

  def on_epoch_end(self, epoch, logs=None):
    if logs is None:
      return
    rates = self.hitrates()
    # The best weight; ties go to the larger (the model as trained).
    weight = max(rates, key=lambda w: (-math.inf if math.isnan(rates[w])
                                       else rates[w], w))
    logs[CANDIDATE_HITRATE_LOG] = rates[weight]
    logs[TOWER_WEIGHT_LOG] = weight
