"""A Beam worker plugin that keeps one TensorFlow 2.16 bug at interpreter exit from printing tracebacks.

TensorFlow 2.16's `AtomicFunction.__del__` decrements the module-level
`RUNTIME_FUNCTION_REFS` outside the `try` meant to absorb errors while
modules are torn down. In a process that exits with TensorFlow functions
still alive (Beam's worker processes after running Transform's graphs),
module teardown has set that global to None first, and each function's
finalizer prints "Exception ignored in: <function AtomicFunction.__del__
...> TypeError: 'NoneType' object is not subscriptable". Nothing is lost:
the process is exiting and its results are already written. TensorFlow
2.17 fixes it; 2.16 is pinned (constraints.txt).

Importing this module installs a `sys.unraisablehook` that drops exactly
those: a TypeError raised by that finalizer while the interpreter is
finalizing. Everything else goes to the previous hook. Beam imports it in
every worker process when the pipeline names it in `--beam_plugins`
(beam_options.beam_args does); that import is its only use.
"""

import sys

_FINALIZER = ("tensorflow.python.eager.polymorphic_function.atomic_function",
              "AtomicFunction.__del__")


# The hook runs while modules are torn down, when this module's globals may
# already be None: what it needs is bound as default arguments and closures.


def is_exit_bug(unraisable, finalizing=sys.is_finalizing,
                finalizer_name=_FINALIZER) -> bool:
  """Whether an unraisable exception is the bug above."""
  finalizer = unraisable.object
  return (finalizing() and unraisable.exc_type is TypeError
          and (getattr(finalizer, "__module__", None),
               getattr(finalizer, "__qualname__", None)) == finalizer_name)


def install() -> None:
  """Filters the bug out of `sys.unraisablehook`; once per process."""
  previous = sys.unraisablehook
  if getattr(previous, "drops_tf_exit_bug", False):
    return
  check = is_exit_bug

  def hook(unraisable):
    if not check(unraisable):
      previous(unraisable)

  hook.drops_tf_exit_bug = True
  sys.unraisablehook = hook


install()
