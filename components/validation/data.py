"""Reads eval candidate sets and the exposed part of eval lists from Examples artifacts.

The per-example functions (eval_set_of, exposed_list_of) are what both the
in-memory readers here and the Beam evaluation (beam_evaluate.py) apply.
"""

import os
from typing import Iterator, List, NamedTuple, Optional, Tuple

import numpy as np
import tensorflow as tf

from components.listwise import encode
from components.validation import metrics
from models import features as f

# Context of a request as the serving signature takes it.
Context = dict
# Gzipped TFRecord files of a split.
FILE_PATTERN = "*.gz"


class ExposedList(NamedTuple):
  """The exposed items of one eval list; arrays are `[num_exposed]`."""
  context: Context
  item_ids: np.ndarray  # str
  gains: np.ndarray  # 2 purchased, 1 clicked, 0 otherwise.
  fine_score: np.ndarray  # float
  exposures: np.ndarray  # float: train exposures (popularity's scores).
  sales: np.ndarray  # float: train-period sales (sales' scores).


def split_files(split_uri: str) -> str:
  """The file pattern of a split's examples."""
  return os.path.join(split_uri, FILE_PATTERN)


def _examples(split_uri: str) -> Iterator[dict]:
  files = sorted(tf.io.gfile.glob(split_files(split_uri)))
  for record in tf.data.TFRecordDataset(files, compression_type="GZIP"):
    yield encode.decode(record.numpy())


def context_of(example: dict) -> Context:
  """The serving inputs of an example's request, without candidates."""
  history = [h for h in example[f.USER_HISTORY] if h != f.PAD_STRING]
  return {f.USER_ID: example[f.USER_ID][0], f.QUERY: example[f.QUERY][0],
          f.USER_HISTORY: history, f.AGE_BUCKET: example[f.AGE_BUCKET][0],
          f.PURCHASE_POWER: example[f.PURCHASE_POWER][0],
          f.GENDER: example[f.GENDER][0]}


def eval_set_of(example: dict) -> Tuple[metrics.EvalSet, Context]:
  """An eval candidate set and its request context, from a decoded example."""
  fine = np.array(example[f.CAND_FINE_SCORE], dtype=float)
  fine[np.array(example[f.CAND_FINE_SCORE_MASK]) == 0] = np.nan
  return metrics.EvalSet(
      request_id=example[f.REQUEST_ID][0],
      item_ids=np.array(example[f.CAND_ITEM_ID]),
      in_scene=np.array(example[f.CAND_PURCHASE_IN_SCENE], dtype=bool),
      out_of_scene=np.array(example[f.CAND_PURCHASE_OUT_OF_SCENE],
                            dtype=bool),
      train_exposures=np.array(example[f.CAND_TRAIN_EXPOSURES]),
      fine_score=fine,
      train_sales=np.array(example[f.CAND_TRAIN_SALES]),
      query_category_log_share=np.array(
          example[f.CAND_QUERY_CATEGORY_LOG_SHARE], float),
      query_brand_log_share=np.array(example[f.CAND_QUERY_BRAND_LOG_SHARE],
                                     float),
      history_category_share=np.array(
          example[f.CAND_HISTORY_CATEGORY_SHARE], float)), context_of(
              example)


def exposed_list_of(example: dict) -> Optional[ExposedList]:
  """The exposed items of a decoded list example; None if it has none."""
  exposed = np.array(example[f.SAMPLE_TYPE]) == f.SAMPLE_EXPOSED
  if not exposed.any():
    return None
  return ExposedList(
      context_of(example), np.array(example[f.ITEM_ID])[exposed],
      (np.array(example[f.LABEL_PURCHASE])
       + np.array(example[f.LABEL_CLICK]))[exposed],
      np.array(example[f.FINE_SCORE], dtype=float)[exposed],
      np.array(example[f.ITEM_EXPOSURES], dtype=float)[exposed],
      np.array(example[f.ITEM_SALES], dtype=float)[exposed])


def read_eval_sets(split_uri: str
                   ) -> Tuple[List[metrics.EvalSet], List[Context]]:
  """Eval candidate sets and their request contexts, all in memory."""
  pairs = [eval_set_of(e) for e in _examples(split_uri)]
  return [s for s, _ in pairs], [c for _, c in pairs]


def read_exposed_lists(split_uri: str) -> List[ExposedList]:
  """The exposed items of the split's lists (lists without any skipped), all in memory."""
  return [x for x in map(exposed_list_of, _examples(split_uri)) if x]
