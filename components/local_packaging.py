"""Local runs skip TFX's packaging of itself for remote Beam workers (the tfx_ephemeral sdist).

Every TFX Beam executor given Beam options (`BaseBeamExecutor.__init__`)
calls `dependency_utils.make_beam_dependency_flags`: unless the options name
a package or an image (`--extra_packages`, `--setup_file`,
`--requirements_file`, `--sdk_container_image`, ...), it copies the
installed TFX into a new `tempfile.mkdtemp()` folder, builds an sdist of it
and adds `--extra_package=` that sdist, so that remote workers (Dataflow)
can import TFX's code. It takes about 2.4 s and leaves 52 MB in the
temporary folder, never removed, for every Beam step that runs: three per
pipeline run here (ListwiseExampleGen, Transform, HitrateValidator).

Workers of a local run (the DirectRunner's, or the portable runner's
job server and worker processes started from this installation,
testing/beam_workers.py) import the installed TFX and never read the
package. The local runner calls `skip_tfx_packaging` before a run; a
Kubeflow step, run in its own container, keeps TFX's behaviour, which a
Dataflow run needs unless its options name the image.
"""

from typing import List

from tfx.utils import dependency_utils


def _unchanged(beam_pipeline_args: List[str]) -> List[str]:
  """The Beam options as given: no package added."""
  return list(beam_pipeline_args)


def skip_tfx_packaging() -> None:
  """Keeps TFX's Beam executors in this process from packaging TFX (see above)."""
  dependency_utils.make_beam_dependency_flags = _unchanged
