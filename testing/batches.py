"""Random transformed batches for the model tests: every tower feature, with ids inside small vocabularies."""

from typing import Dict, Mapping

import numpy as np

from models import features as f
from models.layers import match
from models.layers import towers

# Id-space sizes (towers.VocabSizes fields) of the batches.
VOCAB = dict(users=7, genders=4, query_tokens=9, items=13, categories=5,
             brands=6, price_buckets=4, exposure_buckets=5, ctr_buckets=3,
             cvr_buckets=4)
# Transformed id feature -> its VOCAB field.
_ID_SIZES = {
    f.USER_ID: "users", f.GENDER: "genders", f.QUERY_TOKENS: "query_tokens",
    f.USER_HISTORY: "items", f.ITEM_ID: "items", f.CATEGORY: "categories",
    f.BRAND: "brands", f.PRICE_BUCKET: "price_buckets",
    f.EXPOSURE_BUCKET: "exposure_buckets", f.CTR_BUCKET: "ctr_buckets",
    f.CVR_BUCKET: "cvr_buckets",
}
# Profile integers fold into towers.PROFILE_BUCKETS rows; any small value.
_PROFILE_RANGE = 8


def tower_features(rng: np.random.Generator, mask: np.ndarray,
                   num_tokens: int = 4, history_length: int = 6,
                   vocab: Mapping[str, int] = VOCAB
                   ) -> Dict[str, np.ndarray]:
  """The transformed features both towers read, for lists shaped as `mask`.

  Args:
    rng: the random generator.
    mask: int `[batch, list_size]`, 1 for a valid entry; list features are
      0 (padding) where it is 0, ids in [1, size) where it is 1.
    num_tokens, history_length: widths of the query and the history.
    vocab: id-space sizes, as VOCAB.

  Returns:
    transformed name -> array: context ids `[batch]` or `[batch, width]`,
    item ids `[batch, list_size]`, numeric item features float32.
  """
  batch, list_size = mask.shape
  shapes = {f.USER_ID: (batch,), f.GENDER: (batch,),
            f.QUERY_TOKENS: (batch, num_tokens),
            f.USER_HISTORY: (batch, history_length)}
  out = {}
  for key, size in _ID_SIZES.items():
    if key in shapes:
      out[key] = rng.integers(0, vocab[size], shapes[key])
    else:
      out[key] = rng.integers(1, vocab[size], (batch, list_size)) * mask
  for key in (f.AGE_BUCKET, f.PURCHASE_POWER):
    out[key] = rng.integers(0, _PROFILE_RANGE, batch)
  for key in towers.ITEM_DENSE_FEATURES:
    out[key] = (rng.normal(size=(batch, list_size)) * mask).astype(np.float32)
  out[f.LOG_PRICE] = (rng.uniform(0.5, 5.0, (batch, list_size)) * mask
                      ).astype(np.float32)
  out[f.IN_TRAIN_COUNTS] = rng.integers(0, 2, batch)
  return {f.transformed_name(k): v for k, v in out.items()}


def _count_rows(rng: np.random.Generator, num_tokens: int,
                num_values: int) -> match.CountRows:
  keys = np.unique(rng.integers(0, num_tokens * num_values, 20))
  return match.CountRows.from_dense_pairs(
      keys // num_values, keys % num_values,
      rng.integers(1, 6, keys.size).astype(np.float32), num_tokens)


def match_tables(rng: np.random.Generator,
                 vocab: Mapping[str, int] = VOCAB) -> match.MatchTables:
  """Random counts and item attributes over `vocab`'s id spaces (ids 0 and
  1 padding and out of vocabulary, the others known)."""
  tokens = vocab["query_tokens"]
  category = _count_rows(rng, tokens, vocab["categories"])
  return match.MatchTables(
      category=category, brand=_count_rows(rng, tokens, vocab["brands"]),
      token_positives=category.dense(vocab["categories"]).sum(axis=1),
      num_categories=vocab["categories"] - 2,
      num_brands=vocab["brands"] - 2, num_category_ids=vocab["categories"],
      num_brand_ids=vocab["brands"],
      item_category=rng.integers(0, vocab["categories"], vocab["items"]),
      item_brand=rng.integers(0, vocab["brands"], vocab["items"]),
      item_log_price=rng.uniform(0, 5, vocab["items"]).astype(np.float32))
