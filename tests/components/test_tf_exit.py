"""The Beam worker plugin that drops TensorFlow 2.16's finalizer tracebacks at exit, and nothing else."""

import sys
import types

from tensorflow.python.eager.polymorphic_function import atomic_function  # pylint: disable=g-direct-tensorflow-import

from components import tf_exit
from tfx_pipeline import beam_options


def _unraisable(obj, exc_type=TypeError):
  return types.SimpleNamespace(object=obj, exc_type=exc_type)


def test_only_tensorflows_finalizer_bug_at_exit_is_dropped():
  bug = _unraisable(atomic_function.AtomicFunction.__del__)
  assert tf_exit.is_exit_bug(bug, finalizing=lambda: True)
  assert not tf_exit.is_exit_bug(bug, finalizing=lambda: False)
  assert not tf_exit.is_exit_bug(
      _unraisable(atomic_function.AtomicFunction.__del__, KeyError),
      finalizing=lambda: True)
  assert not tf_exit.is_exit_bug(_unraisable(beam_options.beam_args),
                                 finalizing=lambda: True)


def test_the_hook_forwards_everything_else_and_installs_once(monkeypatch):
  seen = []
  monkeypatch.setattr(sys, "unraisablehook", seen.append)
  tf_exit.install()
  hook = sys.unraisablehook
  tf_exit.install()
  assert sys.unraisablehook is hook
  other = _unraisable(beam_options.beam_args)
  hook(other)
  hook(_unraisable(atomic_function.AtomicFunction.__del__))  # Not exiting.
  assert len(seen) == 2 and seen[0] is other


def test_beam_worker_processes_import_the_plugin():
  assert (f"--beam_plugins={tf_exit.__name__}"
          in beam_options.beam_args("multi_processing"))
  assert beam_options.TF_EXIT_PLUGIN == tf_exit.__name__


def test_another_runner_and_kubeflow_load_the_plugin_once():
  plugin = f"--beam_plugins={tf_exit.__name__}"
  dataflow = ["--runner=DataflowRunner", "--project=p"]
  assert beam_options.beam_args(extra=dataflow) == [plugin, *dataflow]
  assert beam_options.with_plugin(dataflow) == [plugin, *dataflow]
  assert beam_options.with_plugin([plugin, *dataflow]) == [plugin, *dataflow]
  assert beam_options.with_plugin([]) == [plugin]
