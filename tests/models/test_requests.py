"""Tests of the requests to rank and their padded serving_default inputs."""

import numpy as np
import pytest

from models import requests as requests_lib


def test_rank_inputs_pad_to_the_request_contract():
  requests = [
      requests_lib.RankRequest("u1", "red shoes", ["a", "b", "c"],
                               user_history=["h1", "h2", "h3"], age_bucket=3),
      requests_lib.RankRequest("u2", "tea", ["d"], gender="f"),
  ]
  inputs = requests_lib.rank_inputs(requests)
  assert inputs["candidate_item_ids"].tolist() == [[b"a", b"b", b"c"],
                                                   [b"d", b"", b""]]
  assert inputs["user_history"].shape == (2, 3)
  assert inputs["age_bucket"].tolist() == [3, -1]
  assert inputs["age_bucket"].dtype == np.int64
  assert inputs["gender"].tolist() == [b"", b"f"]
  fixed = requests_lib.rank_inputs(requests, pad_candidates_to=5,
                                   history_length=2)
  assert fixed["candidate_item_ids"].shape == (2, 5)
  assert fixed["user_history"].tolist() == [[b"h1", b"h2"], [b"", b""]]
  with pytest.raises(ValueError, match="3 candidates"):
    requests_lib.rank_inputs(requests, pad_candidates_to=2)
