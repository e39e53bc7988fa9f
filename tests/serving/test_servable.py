"""Loading a version folder: the signature definitions, and the LoadError of a folder that cannot be served."""

import pytest
import tensorflow as tf
from tensorflow.core.protobuf import saved_model_pb2

from serving import servable as servable_lib


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
