"""The Pusher executor: a blessed model is pushed once; pushed again only when its files change."""

import os

import pytest
from tfx.proto import pusher_pb2
from tfx.types import standard_artifacts
from tfx.types import standard_component_specs as specs
from tfx.utils import proto_utils

from components.push import pusher
from serving import layout


def _model(root, variables=b"weights"):
  """A Model artifact whose serving export holds a few files."""
  model = standard_artifacts.Model()
  model.uri = str(root)
  export = root / "Format-Serving"
  (export / "variables").mkdir(parents=True, exist_ok=True)
  (export / "saved_model.pb").write_bytes(b"graph")
  (export / "variables" / "variables.data").write_bytes(variables)
  return model


def _push(tmp_path, model, blessed=True, name="push"):
  """Runs the executor once; returns its PushedModel artifact."""
  blessing = standard_artifacts.ModelBlessing()
  blessing.uri = str(tmp_path / "blessing")
  blessing.set_int_custom_property("blessed", int(blessed))
  pushed = standard_artifacts.PushedModel()
  pushed.uri = str(tmp_path / name)
  destination = pusher_pb2.PushDestination(
      filesystem=pusher_pb2.PushDestination.Filesystem(
          base_directory=str(tmp_path / "serving" / "m")))
  pusher.Executor().Do(
      {specs.MODEL_KEY: [model], specs.MODEL_BLESSING_KEY: [blessing]},
      {specs.PUSHED_MODEL_KEY: [pushed]},
      {specs.PUSH_DESTINATION_KEY: proto_utils.proto_to_json(destination)})
  return pushed


def _versions(tmp_path):
  return layout.list_versions(str(tmp_path / "serving" / "m"))


@pytest.fixture
def clock(monkeypatch):
  """TFX names versions by the second: each push a second later."""
  now = [1_800_000_000]

  def tick():
    now[0] += 1
    return now[0]

  monkeypatch.setattr(pusher.pusher_executor.time, "time", tick)


def test_the_same_model_is_pushed_once(tmp_path, clock):
  model = _model(tmp_path / "model")
  first = _push(tmp_path, model, name="first")
  (version, folder), = _versions(tmp_path).items()
  assert first.get_int_custom_property("pushed") == 1
  assert not first.get_int_custom_property(pusher.ALREADY_PUSHED)

  again = _push(tmp_path, model, name="again")
  assert _versions(tmp_path) == {version: folder}
  assert again.get_int_custom_property("pushed") == 1
  assert again.get_int_custom_property(pusher.ALREADY_PUSHED) == 1
  assert again.get_string_custom_property("pushed_destination") == folder
  assert again.get_string_custom_property("pushed_version") == str(version)


def test_a_model_with_other_files_is_pushed_as_a_new_version(tmp_path, clock):
  _push(tmp_path, _model(tmp_path / "a"), name="first")
  changed = _push(tmp_path, _model(tmp_path / "b", variables=b"other"),
                  name="changed")
  assert len(_versions(tmp_path)) == 2
  assert not changed.get_int_custom_property(pusher.ALREADY_PUSHED)
  newest = max(_versions(tmp_path).items())[1]
  assert changed.get_string_custom_property("pushed_destination") == newest
  with open(os.path.join(newest, "variables", "variables.data"), "rb") as f:
    assert f.read() == b"other"


def test_a_model_not_blessed_is_not_pushed(tmp_path, clock):
  model = _model(tmp_path / "model")
  _push(tmp_path, model, name="first")
  refused = _push(tmp_path, model, blessed=False, name="refused")
  assert refused.get_int_custom_property("pushed") == 0
  assert not refused.get_int_custom_property(pusher.ALREADY_PUSHED)
  assert len(_versions(tmp_path)) == 1


def test_the_content_digest_sees_names_and_bytes(tmp_path):
  a, b = tmp_path / "a", tmp_path / "b"
  for folder in (a, b):
    (folder / "x").mkdir(parents=True)
    (folder / "x" / "f").write_bytes(b"1")
  assert layout.content_digest(str(a)) == layout.content_digest(str(b))
  (b / "x" / "f").write_bytes(b"2")
  assert layout.content_digest(str(a)) != layout.content_digest(str(b))
  (b / "x" / "f").write_bytes(b"1")
  os.rename(b / "x" / "f", b / "x" / "g")
  assert layout.content_digest(str(a)) != layout.content_digest(str(b))
