"""Reads eval candidate sets and the exposed part of eval lists from Examples artifacts."""

import os
from typing import List, Tuple

import numpy as np
import tensorflow as tf

from components.listwise import encode
from components.validation import metrics
from models import features as f

# Context of a request as the serving signature takes it.
Context = dict


def _examples(split_uri: str) -> List[dict]:
  files = sorted(tf.io.gfile.glob(os.path.join(split_uri, "*.gz")))
  return [encode.decode(r.numpy()) for r in
          tf.data.TFRecordDataset(files, compression_type="GZIP")]


def context_of(example: dict) -> Context:
  """The serving inputs of an example's request, without candidates."""
  history = [h for h in example[f.USER_HISTORY] if h != f.PAD_STRING]
  return {f.USER_ID: example[f.USER_ID][0], f.QUERY: example[f.QUERY][0],
          f.USER_HISTORY: history, f.AGE_BUCKET: example[f.AGE_BUCKET][0],
          f.PURCHASE_POWER: example[f.PURCHASE_POWER][0],
          f.GENDER: example[f.GENDER][0]}


def read_eval_sets(split_uri: str
                   ) -> Tuple[List[metrics.EvalSet], List[Context]]:
  """Eval candidate sets and their request contexts."""
  sets, contexts = [], []
  for e in _examples(split_uri):
    fine = np.array(e[f.CAND_FINE_SCORE], dtype=float)
    fine[np.array(e[f.CAND_FINE_SCORE_MASK]) == 0] = np.nan
    sets.append(metrics.EvalSet(
        request_id=e[f.REQUEST_ID][0],
        item_ids=np.array(e[f.CAND_ITEM_ID]),
        in_scene=np.array(e[f.CAND_PURCHASE_IN_SCENE], dtype=bool),
        out_of_scene=np.array(e[f.CAND_PURCHASE_OUT_OF_SCENE], dtype=bool),
        train_exposures=np.array(e[f.CAND_TRAIN_EXPOSURES]),
        fine_score=fine))
    contexts.append(context_of(e))
  return sets, contexts


def read_exposed_lists(split_uri: str):
  """(contexts, item ids, gains, fine scores) of the exposed items of lists.

  Gains: 2 purchased, 1 clicked, 0 otherwise. Lists with no exposed item
  are skipped.
  """
  contexts, items, gains, fine = [], [], [], []
  for e in _examples(split_uri):
    exposed = np.array(e[f.SAMPLE_TYPE]) == f.SAMPLE_EXPOSED
    if not exposed.any():
      continue
    contexts.append(context_of(e))
    items.append(np.array(e[f.ITEM_ID])[exposed])
    gains.append((np.array(e[f.LABEL_PURCHASE]) + np.array(
        e[f.LABEL_CLICK]))[exposed])
    fine.append(np.array(e[f.FINE_SCORE], dtype=float)[exposed])
  return contexts, items, gains, fine
