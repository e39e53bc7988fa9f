"""Keeps the weights of the checkpoint with the best validation metric, so the export is never the diverged end of a long run."""

import math
from typing import List, Optional, Tuple

import tensorflow as tf


class BestCheckpoint(tf.keras.callbacks.Callback):
  """At each epoch end, remembers the weights if `monitor` is the best yet.

  Training runs as `checkpoints` epochs of `steps_per_epoch` steps; call
  `restore()` after `fit` to put the best weights back. A loss is best when
  lowest, any other metric (a ranking metric) when highest.

  Attributes:
    history: (step, monitored value) at every epoch end.
    best_step: training steps of the best checkpoint, None before any.
    best_value: its monitored value.
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

  def on_epoch_end(self, epoch, logs=None):
    value = float((logs or {}).get(self._monitor, math.nan))
    step = (epoch + 1) * self._steps_per_epoch
    self.history.append((step, value))
    # NaN never wins: a diverged checkpoint is not kept.
    if not math.isnan(value) and (math.isnan(self.best_value) or
                                  self._sign * value
                                  < self._sign * self.best_value):
      self.best_value, self.best_step = value, step
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
