"""Transform preprocessing_fn: vocabulary ids, query tokens, price buckets."""

import contextlib
from typing import Any, Callable, Dict, Mapping, Optional, Sequence, Tuple

import tensorflow as tf
import tensorflow_transform as tft
from tensorflow.python.framework import ops  # pylint: disable=g-direct-tensorflow-import

from models import features as f
from models import preprocessing_config

# Copied unchanged, `[batch, list_size]`.
_PASS_THROUGH = f.LABELS + (f.MASK, f.FINE_SCORE, f.FINE_SCORE_MASK,
                            f.SAMPLING_LOG_Q, f.SAMPLE_TYPE)
# Copied unchanged, `[batch]`: the request id (validation candidate sets are
# grouped by it) and whether the list's request is in the train counts.
_CONTEXT_PASS_THROUGH = (f.REQUEST_ID, f.IN_TRAIN_COUNTS)
# (raw list feature, vocabulary) of the item attributes.
_ITEM_ATTRIBUTES = ((f.CATEGORY, f.CATEGORY_VOCAB), (f.BRAND, f.BRAND_VOCAB))
# (raw context feature, vocabulary) of the scalar strings.
_CONTEXT_STRINGS = ((f.USER_ID, f.USER_VOCAB), (f.GENDER, f.GENDER_VOCAB))
# Profile integers, -1 unknown.
_PROFILE_INTS = (f.AGE_BUCKET, f.PURCHASE_POWER)


def vocabulary_table(vocab_path) -> tf.lookup.StaticHashTable:
  """value -> line number (0-based) of a vocabulary file, -1 if absent."""
  return tf.lookup.StaticHashTable(
      tf.lookup.TextFileInitializer(
          vocab_path, tf.string, tf.lookup.TextFileIndex.WHOLE_LINE,
          tf.int64, tf.lookup.TextFileIndex.LINE_NUMBER),
      default_value=-1)


def lookup_ids(table: tf.lookup.StaticHashTable, x: tf.Tensor,
               num_oov_buckets: int) -> tf.Tensor:
  """Ids of strings `x` (any shape): 0 pad, 1.. OOV, then known values.

  The id of a value at line n (0-based) of the vocabulary file is
  `1 + num_oov_buckets + n`; "" gets PAD_ID (0); any other value not in the
  file gets `1 + tf.strings.to_hash_bucket_fast(value, num_oov_buckets)`.
  Serving uses this same function with the Transform output's vocabulary.
  """
  index = table.lookup(x)
  oov = 1 + tf.strings.to_hash_bucket_fast(x, num_oov_buckets)
  ids = tf.where(index >= 0, index + 1 + num_oov_buckets, oov)
  return tf.where(tf.equal(x, f.PAD_STRING),
                  tf.constant(f.PAD_ID, tf.int64), ids)


def _id_lookup(num_oov_buckets: int) -> Callable[[tf.Tensor, tf.Tensor],
                                                 Tuple[tf.Tensor, tf.Tensor]]:
  """A `tft.apply_vocabulary` lookup_fn using `lookup_ids`.

  The returned size, `1 + num_oov_buckets + vocabulary size`, becomes the
  output's int domain.
  """

  def lookup(x: tf.Tensor, vocab_path: tf.Tensor
             ) -> Tuple[tf.Tensor, tf.Tensor]:
    with contextlib.ExitStack() as stack:
      # Transform traces this twice: while analysing, `vocab_path` is a
      # placeholder of the traced graph; for the exported transform_fn it is
      # the vocabulary file, known (eager). Then the table is lifted out of
      # the function, as tft.apply_vocabulary does for its own tables: a
      # resource of the SavedModel, initialised once when it loads, instead
      # of an op re-reading the file on every call (TFT issue #249).
      if tf.inside_function() and isinstance(vocab_path,
                                             (str, ops.EagerTensor)):
        stack.enter_context(tf.init_scope())
      table = vocabulary_table(vocab_path)
    return (lookup_ids(table, x, num_oov_buckets),
            table.size() + 1 + num_oov_buckets)

  return lookup


def _vocabulary_ids(tensors: Sequence[tf.Tensor], vocab_filename: str,
                    config: preprocessing_config.PreprocessingConfig
                    ) -> Tuple[tf.Tensor, ...]:
  """Fits one vocabulary over all `tensors` (padding excluded); their ids.

  Args:
    tensors: string tensors of any shape, e.g. `[batch, list_size]`.
    vocab_filename: name of the vocabulary asset.
    config: the hyperparameters.

  Returns:
    int64 ids, each of the shape of its input tensor.
  """
  values = tf.concat([tf.reshape(t, [-1]) for t in tensors], axis=0)
  values = tf.boolean_mask(values, tf.not_equal(values, f.PAD_STRING))
  vocab = tft.vocabulary(values, vocab_filename=vocab_filename,
                         frequency_threshold=(config.min_frequency
                                              if config.min_frequency > 1
                                              else None))
  lookup = _id_lookup(config.num_oov_buckets)
  # With a lookup_fn, num_oov_buckets > 0 only makes TFT record the int
  # domain [0, size - 1] of the ids instead of one including -1.
  return tuple(tft.apply_vocabulary(t, vocab, lookup_fn=lookup,
                                    num_oov_buckets=config.num_oov_buckets)
               for t in tensors)


def _scalar(x: tf.Tensor) -> tf.Tensor:
  """`[batch, 1]` -> `[batch]`."""
  return tf.squeeze(x, axis=1)


def query_tokens(query: tf.Tensor, max_tokens: int) -> tf.Tensor:
  """Whitespace tokens of the queries.

  Args:
    query: string `[batch]`.
    max_tokens: number of tokens kept.

  Returns:
    string `[batch, max_tokens]`, truncated, padded with "".
  """
  tokens = tf.strings.split(query)
  return tokens.to_tensor(default_value=f.PAD_STRING,
                          shape=[None, max_tokens])


def _quantile_buckets(values: tf.Tensor, mask: tf.Tensor,
                      num_buckets: int) -> tf.Tensor:
  """Quantile buckets 1..num_buckets of valid entries, 0 for padding.

  Args:
    values: float `[batch, list_size]`.
    mask: int `[batch, list_size]`, 1 for a valid entry.
    num_buckets: number of quantile buckets.

  Returns:
    int64 `[batch, list_size]`.
  """
  valid = tf.equal(mask, 1)
  boundaries = tft.quantiles(tf.boolean_mask(values, valid), num_buckets,
                             epsilon=min(1.0 / num_buckets, 0.01))
  # An extra lowest boundary below every real value, with padding set to
  # -inf: padding falls into bucket 0, valid values into 1..num_buckets.
  lowest = tf.constant([[tf.float32.min]], boundaries.dtype)
  boundaries = tf.concat([lowest, boundaries], axis=1)
  return tft.apply_buckets(
      tf.where(valid, values, tf.fill(tf.shape(values), -float("inf"))),
      boundaries)


def _train_total(x: tf.Tensor, valid: tf.Tensor) -> tf.Tensor:
  """Σ x over the valid entries the analyzers see (the train split)."""
  return tft.sum(tf.boolean_mask(tf.cast(x, tf.float32), valid))


def smoothed_rate(numerator: tf.Tensor, denominator: tf.Tensor,
                  mask: tf.Tensor, prior_strength: float
                  ) -> Tuple[tf.Tensor, tf.Tensor]:
  """(numerator + m r) / (denominator + m), r = Σ numerator / Σ denominator.

  The sums run over the valid entries the analyzers see (the train split).

  Args:
    numerator, denominator: float `[batch, list_size]` counts.
    mask: int `[batch, list_size]`, 1 for a valid entry.
    prior_strength: m, in pseudo-counts of the denominator.

  Returns:
    The smoothed rates, float32 `[batch, list_size]`, and r (a scalar).
  """
  valid = tf.equal(mask, 1)
  prior = (_train_total(numerator, valid)
           / tf.maximum(_train_total(denominator, valid), 1.0))
  rate = ((tf.cast(numerator, tf.float32) + prior_strength * prior)
          / (tf.cast(denominator, tf.float32) + prior_strength))
  return rate, prior


def item_statistics(inputs: Mapping[str, tf.Tensor],
                    config: preprocessing_config.PreprocessingConfig
                    ) -> Dict[str, tf.Tensor]:
  """The item statistics as bucket ids and as numbers.

  Args:
    inputs: raw `item_exposures`, `item_clicks`, `item_purchases` and
      `mask`, `[batch, list_size]`.
    config: the bucket count and the rates' prior strength.

  Returns:
    EXPOSURE_BUCKET, CTR_BUCKET, CVR_BUCKET: quantile buckets of log
    exposures, smoothed CTR and smoothed CVR, int64 `[batch, list_size]`, 0
    for padding. EXPOSURE_SCORE, SALES_SCORE: log(1 + count) / log(1 + the
    train maximum); CTR_SCORE, CVR_SCORE: log(smoothed rate / overall
    rate); float32 `[batch, list_size]`, 0 for padding and for an item
    without statistics.
  """
  mask = inputs[f.MASK]
  valid = tf.equal(mask, 1)
  exposures, clicks, purchases, sales = (inputs[k] for k in f.ITEM_STATS)
  log_exposures = tf.math.log1p(tf.maximum(exposures, 0.0))
  log_sales = tf.math.log1p(tf.maximum(sales, 0.0))
  ctr, ctr_prior = smoothed_rate(clicks, exposures, mask,
                                 config.rate_prior_strength)
  cvr, cvr_prior = smoothed_rate(purchases, clicks, mask,
                                 config.rate_prior_strength)
  most = tft.max(tf.boolean_mask(log_exposures, valid))
  most_sales = tft.max(tf.boolean_mask(log_sales, valid))
  scores = {
      f.EXPOSURE_SCORE: log_exposures / tf.maximum(most, 1.0),
      f.SALES_SCORE: log_sales / tf.maximum(most_sales, 1.0),
      f.CTR_SCORE: tf.math.log(ctr / tf.maximum(ctr_prior, 1e-9)),
      f.CVR_SCORE: tf.math.log(cvr / tf.maximum(cvr_prior, 1e-9)),
  }
  out = {key: tf.where(valid, value, tf.zeros_like(value))
         for key, value in scores.items()}
  for key, value in ((f.EXPOSURE_BUCKET, log_exposures),
                     (f.CTR_BUCKET, ctr), (f.CVR_BUCKET, cvr)):
    out[key] = _quantile_buckets(value, mask, config.num_stat_buckets)
  return out


def preprocessing_fn(inputs: Dict[str, tf.Tensor],
                     custom_config: Optional[Mapping[str, Any]] = None
                     ) -> Dict[str, tf.Tensor]:
  """Transforms parsed listwise training examples (models/schema.py).

  Every string becomes an int64 id: PAD_ID (0) for "", then
  `num_oov_buckets` out-of-vocabulary ids, then the known values.

  Args:
    inputs: raw features; context features `[batch, 1]`, `user_history`
      `[batch, history_length]`, list features `[batch, list_size]`.
    custom_config: Transform's custom_config: PreprocessingConfig fields to
      override under its CUSTOM_CONFIG_KEY.

  Returns:
    Features named `features.transformed_name(key)`: `user_id`, `gender`,
    `age_bucket`, `purchase_power` `[batch]`; `query_tokens`
    `[batch, max_query_tokens]`; `user_history` `[batch, history_length]`;
    `item_id`, `category`, `brand`, `price_bucket`, `log_price`, the item
    statistics (`item_statistics`), the raw `item_key` (strings) and the
    passed-through labels, mask, fine score, fine-score mask, sampling log
    q and sample type `[batch, list_size]`; the raw `request_id` and
    `in_train_counts` `[batch]`.
  """
  config = preprocessing_config.PreprocessingConfig.from_custom_config(
      custom_config)
  out = {}
  items, history = _vocabulary_ids(
      [inputs[f.ITEM_ID], inputs[f.USER_HISTORY]], f.ITEM_VOCAB, config)
  out[f.transformed_name(f.ITEM_ID)] = items
  out[f.transformed_name(f.USER_HISTORY)] = history
  for key, vocab in _ITEM_ATTRIBUTES:
    out[f.transformed_name(key)] = _vocabulary_ids([inputs[key]], vocab,
                                                   config)[0]
  for key, vocab in _CONTEXT_STRINGS:
    out[f.transformed_name(key)] = _vocabulary_ids(
        [_scalar(inputs[key])], vocab, config)[0]
  tokens = query_tokens(_scalar(inputs[f.QUERY]), config.max_query_tokens)
  out[f.transformed_name(f.QUERY_TOKENS)] = _vocabulary_ids(
      [tokens], f.QUERY_TOKEN_VOCAB, config)[0]
  # Unknown (-1, or any negative value) becomes 0, known values shift by 1.
  for key in _PROFILE_INTS:
    out[f.transformed_name(key)] = tf.maximum(_scalar(inputs[key]) + 1, 0)
  out[f.transformed_name(f.PRICE_BUCKET)] = _quantile_buckets(
      inputs[f.PRICE], inputs[f.MASK], config.num_price_buckets)
  out[f.transformed_name(f.LOG_PRICE)] = tf.where(
      tf.equal(inputs[f.MASK], 1),
      tf.math.log1p(tf.maximum(inputs[f.PRICE], 0.0)),
      tf.zeros_like(inputs[f.PRICE]))
  for key, value in item_statistics(inputs, config).items():
    out[f.transformed_name(key)] = value
  out[f.transformed_name(f.ITEM_KEY)] = inputs[f.ITEM_ID]
  for key in _PASS_THROUGH:
    out[f.transformed_name(key)] = inputs[key]
  for key in _CONTEXT_PASS_THROUGH:
    out[f.transformed_name(key)] = _scalar(inputs[key])
  return out
