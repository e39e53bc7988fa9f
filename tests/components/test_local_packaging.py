"""Local runs keep TFX's Beam executors from packaging TFX into the temporary folder."""

import glob
import os
import tempfile

from tfx.dsl.components.base import base_beam_executor
from tfx.utils import dependency_utils

from components import local_packaging
from components.transform import component as transform_component

_ARGS = ["--runner=DirectRunner", "--direct_running_mode=in_memory"]
# TFX's own, before any local run in this process replaced it.
_PACKAGE_TFX = dependency_utils.make_beam_dependency_flags


def _executor_args(tmp_path, monkeypatch):
  """The Beam options a TFX Beam executor ends with; the folders it made."""
  scratch = tmp_path / "tmp"
  scratch.mkdir()
  monkeypatch.setattr(tempfile, "tempdir", str(scratch))
  executor = transform_component.Executor(
      base_beam_executor.BaseBeamExecutor.Context(
          beam_pipeline_args=list(_ARGS)))
  return executor._beam_pipeline_args, os.listdir(scratch)  # pylint: disable=protected-access


def test_tfx_packages_itself_for_each_beam_executor(tmp_path, monkeypatch):
  # What local runs skip: without it, an sdist of TFX in a new folder.
  monkeypatch.setattr(dependency_utils, "make_beam_dependency_flags",
                      _PACKAGE_TFX)
  args, made = _executor_args(tmp_path, monkeypatch)
  (package,) = [a for a in args if a.startswith("--extra_package=")]
  assert package.endswith(".tar.gz") and "tfx_ephemeral" in package
  assert len(made) == 1
  assert glob.glob(str(tmp_path / "tmp" / made[0] / "build" / "tfx" / "dist"
                       / "*.tar.gz"))


def test_skipped_the_options_stay_as_given(tmp_path, monkeypatch):
  monkeypatch.setattr(dependency_utils, "make_beam_dependency_flags",
                      _PACKAGE_TFX)
  local_packaging.skip_tfx_packaging()
  args, made = _executor_args(tmp_path, monkeypatch)
  assert args[:len(_ARGS)] == _ARGS
  assert not [a for a in args if a.startswith("--extra_package")]
  assert made == []
