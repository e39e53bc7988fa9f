"""Beam options of a pipeline run: the DirectRunner's by default, any other runner's as given, the plugin every worker loads."""

from typing import List, Sequence

from tfx_pipeline import config as config_lib

# The Beam plugin each worker process imports (named, not imported: its
# import installs a hook, which only the workers need).
TF_EXIT_PLUGIN = "components.tf_exit"
PLUGIN_ARG = f"--beam_plugins={TF_EXIT_PLUGIN}"


def _names_runner(args: Sequence[str]) -> bool:
  """Whether Beam arguments `args` choose a runner (`--runner`)."""
  return any(arg == "--runner" or arg.startswith("--runner=")
             for arg in args)


def with_plugin(args: Sequence[str]) -> List[str]:
  """`args` with the worker plugin first, unless they load it already.

  For runners whose workers have this package installed: another runner
  named in `args`, and every step of the Kubeflow pipeline (its image
  installs the package, see the Dockerfile).
  """
  if PLUGIN_ARG in args:
    return list(args)
  return [PLUGIN_ARG] + list(args)


def beam_args(mode: str = config_lib.BEAM_MODES[0],
              workers: int = config_lib.DEFAULT_BEAM_WORKERS,
              extra: Sequence[str] = ()) -> List[str]:
  """Beam options: the DirectRunner's, then `extra`.

  The DirectRunner runs multi_processing with `workers` or in_memory. Worker
  processes import components.tf_exit (a Beam plugin), which keeps a
  TensorFlow bug from printing tracebacks as they exit. When `extra` names
  a runner (e.g. `--runner=PortableRunner`, `--runner=DataflowRunner`), the
  DirectRunner options (`mode`, `workers`) are left out: the result is the
  plugin and `extra`.
  """
  if _names_runner(extra):
    return with_plugin(extra)
  args = ["--runner=DirectRunner", f"--direct_running_mode={mode}"]
  if mode != "in_memory":
    args += [f"--direct_num_workers={workers}", PLUGIN_ARG]
  return args + list(extra)
