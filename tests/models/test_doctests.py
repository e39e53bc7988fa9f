"""The `>>>` examples of the loss and metric modules run and give what they show."""

import doctest

import pytest

from models.losses import keras_losses
from models.losses import listwise as listwise_losses
from models.metrics import keras_metrics
from models.metrics import listwise as listwise_metrics


@pytest.mark.parametrize("module", [listwise_losses, keras_losses,
                                    listwise_metrics, keras_metrics],
                         ids=lambda m: m.__name__)
def test_docstring_examples(module):
  result = doctest.testmod(module)
  assert result.attempted > 0
  assert result.failed == 0
