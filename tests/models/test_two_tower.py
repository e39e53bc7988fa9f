"""Tests of the two-tower base shared by the coarse ranker and the baseline."""

import numpy as np
import pytest

from models import baseline
from models import hparams as hparams_lib
from models import model as model_lib
from models import two_tower
from models.layers import towers
from testing import batches

VOCAB = towers.VocabSizes(**batches.VOCAB)
HPARAMS = hparams_lib.HParams(feature_dim=8, hidden_dim=16, embedding_dim=6,
                              temperature=0.25)


def test_scores_are_dot_products_over_the_temperature():
  rng = np.random.default_rng(0)
  queries = rng.normal(size=(3, 4))
  items = rng.normal(size=(3, 5, 4))
  expected = np.einsum("bd,bnd->bn", queries, items) / 0.25
  np.testing.assert_allclose(two_tower.scores(queries, items, 0.25), expected)


@pytest.mark.parametrize("model_cls", [model_lib.CoarseRankingModel,
                                       baseline.RetrievalBaseline])
def test_both_models_score_with_their_towers_and_temperature(model_cls):
  model = model_cls(VOCAB, HPARAMS)
  assert isinstance(model, two_tower.TwoTowerModel)
  assert model.temperature == HPARAMS.temperature
  queries = np.eye(2, 6, dtype=np.float32)
  items = np.ones((2, 3, 6), np.float32)
  np.testing.assert_allclose(model.score(queries, items),
                             np.full((2, 3), 4.0))
