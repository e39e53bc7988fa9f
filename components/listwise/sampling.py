"""Per-request seeded randomness and the count^alpha random-negative sampler."""

import hashlib
from typing import Collection, List, Sequence

import numpy as np


def request_rng(seed: int, request_id: str, stream: str = "list"
                ) -> np.random.Generator:
  """A generator that depends only on (seed, request id, stream).

  Every runner, worker and the reference implementation draw the same values
  for a request, whatever the order requests are processed in.
  """
  digest = hashlib.blake2b(f"{stream}\x00{request_id}".encode("utf-8"),
                           digest_size=8).digest()
  return np.random.default_rng([seed, int.from_bytes(digest, "little")])


def negative_probabilities(counts: np.ndarray, alpha: float,
                           smoothing: float) -> np.ndarray:
  """p(i) ∝ (count(i) + smoothing)^alpha, `[num_items]`; alpha 0 is uniform."""
  weights = np.power(np.asarray(counts, dtype=np.float64) + smoothing, alpha)
  total = weights.sum()
  if not total > 0:
    raise ValueError("negative sampling weights sum to zero: with "
                     "count_smoothing 0, at least one item needs exposures")
  return weights / total


class NegativeSampler:
  """Draws distinct catalog items with p(i) ∝ (count(i) + smoothing)^alpha.

  Args:
    item_ids: catalog item ids, `[num_items]`; sorted here so the sampler is
      the same whatever order the ids arrive in.
    counts: exposure count of each item, `[num_items]`.
    alpha: exponent; 0 gives uniform sampling.
    smoothing: added to every count.
  """

  _MAX_ROUNDS = 20

  def __init__(self, item_ids: Sequence[str], counts: Sequence[float],
               alpha: float, smoothing: float):
    ids = np.asarray(item_ids, dtype=object)
    # Sorted as Python strings: a fixed-width copy would take the longest
    # id's size for every id.
    order = np.argsort(ids, kind="stable")
    self.item_ids = ids[order]
    self.probabilities = negative_probabilities(
        np.asarray(counts, dtype=np.float64)[order], alpha, smoothing)
    self._cumulative = np.cumsum(self.probabilities)
    self._cumulative[-1] = 1.0
    self._index = {item: k for k, item in enumerate(self.item_ids)}

  def __len__(self) -> int:
    return self.item_ids.shape[0]

  def log_probability(self, item_id: str) -> float:
    """log p(item) of one draw; -inf for an item outside the catalog."""
    k = self._index.get(item_id)
    return float(np.log(self.probabilities[k])) if k is not None else -np.inf

  def sample(self, rng: np.random.Generator, n: int,
             exclude: Collection[str]) -> List[str]:
    """Up to n distinct items not in `exclude`, in draw order.

    Draws with replacement and rejects repeats and excluded items, so each
    returned item follows p restricted to the allowed items. Fewer than n are
    returned only when the allowed catalog is (nearly) exhausted.
    """
    chosen: List[str] = []
    seen = set(exclude)
    for _ in range(self._MAX_ROUNDS):
      if len(chosen) >= n:
        break
      draws = np.searchsorted(self._cumulative,
                              rng.random(2 * (n - len(chosen)) + 4),
                              side="right")
      for index in draws:
        item = self.item_ids[min(index, len(self.item_ids) - 1)]
        if item not in seen:
          seen.add(item)
          chosen.append(item)
          if len(chosen) == n:
            break
    return chosen
