"""The warmup file: what models.serving writes, serving.warmup reads back."""

import tensorflow as tf

from models import serving as model_serving
from serving import warmup


def test_written_requests_are_read_back_in_order(tmp_path):
  requests = [model_serving.warmup_request(["a", "b"]),
              model_serving.warmup_request(["c"])]
  path = model_serving.write_warmup_requests(str(tmp_path), requests)
  assert path == str(tmp_path / model_serving.WARMUP_FILE)
  read = warmup.read(path)
  assert read == requests
  assert read[0].model_spec.signature_name == model_serving.SERVING_DEFAULT
  assert tf.make_ndarray(read[1].inputs["candidate_item_ids"]).tolist() == [
      [b"c"]]


def test_no_requests_write_an_empty_file(tmp_path):
  path = model_serving.write_warmup_requests(str(tmp_path), [])
  assert warmup.read(path) == []
