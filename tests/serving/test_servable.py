"""Loading a version folder: the signature definitions, the LoadError of a folder that cannot be served, and no file read per request."""

import shutil

import pytest
import tensorflow as tf
from tensorflow.core.protobuf import saved_model_pb2

from models import serving as model_serving
from serving import client as client_lib
from serving import servable as servable_lib
from testing import serving as serving_testing


class _Doubler(tf.Module):

  @tf.function(input_signature=[tf.TensorSpec([None], tf.float32, name="x")])
  def double(self, x):
    return {"y": 2 * x}


def test_a_saved_model_loads_with_its_signature_defs(tmp_path):
  module = _Doubler()
  tf.saved_model.save(module, str(tmp_path),
                      signatures={"serving_default": module.double})
  servable = servable_lib.Servable(3, str(tmp_path))
  assert "serving_default" in servable.signature_defs.signature_def
  assert set(servable.signatures) == {"serving_default"}
  outputs = servable.signature("").run({"x": tf.constant([1.0, 2.0])})
  assert outputs["y"].tolist() == [2.0, 4.0]


def _no_file(path):
  del path


def _not_a_proto(path):
  (path / "saved_model.pb").write_bytes(b"not a SavedModel")


def _no_serve_tag(path):
  proto = saved_model_pb2.SavedModel()
  proto.meta_graphs.add().meta_info_def.tags.append("train")
  (path / "saved_model.pb").write_bytes(proto.SerializeToString())


@pytest.mark.parametrize("breaker, message", [
    (_no_file, "has no saved_model.pb"),
    (_not_a_proto, "saved_model.pb is not a SavedModel"),
    (_no_serve_tag, "has no meta graph tagged 'serve'"),
])
def test_a_folder_that_cannot_be_served_is_a_load_error(tmp_path, breaker,
                                                         message):
  breaker(tmp_path)
  with pytest.raises(servable_lib.LoadError, match=message):
    servable_lib.Servable(1, str(tmp_path))


@pytest.mark.slow
def test_the_pushed_signatures_fill_no_lookup_table_per_call(exported):
  servable = servable_lib.Servable(1, exported.export_dir)
  for name, signature in servable.signatures.items():
    assert model_serving.table_initializers(signature.function) == [], name


@pytest.mark.slow
def test_a_loaded_version_reads_no_file_per_request(exported, tmp_path):
  """Its folder deleted after the load, the version still answers."""
  path = str(tmp_path / "1")
  shutil.copytree(exported.export_dir, path)
  servable = servable_lib.Servable(1, path)
  shutil.rmtree(path)
  (request,) = serving_testing.sample_requests(exported.logs_dir, 1, 50)
  response = servable.predict(client_lib.predict_request(
      "m", client_lib.rank_inputs([request])))
  assert response.outputs[model_serving.SCORES].tensor_shape.dim[1].size == 50
