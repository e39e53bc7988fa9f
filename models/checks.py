"""Range checks of config fields: each raises ValueError naming the first bad field and its value."""

from typing import Any, Callable, Tuple


def _check(obj: Any, names: Tuple[str, ...], valid: Callable[[Any], bool],
           requirement: str) -> None:
  """Raises "`name` must be `requirement`, got `value`" at the first invalid."""
  for name in names:
    value = getattr(obj, name)
    if not valid(value):
      raise ValueError(f"{name} must be {requirement}, got {value}")


def at_least(obj: Any, minimum: float, *names: str) -> None:
  """Fields `names` of `obj` must not be below `minimum` (NaN passes)."""
  _check(obj, names, lambda value: not value < minimum, f">= {minimum}")


def positive(obj: Any, *names: str) -> None:
  """Fields `names` of `obj` must be > 0 (NaN fails)."""
  _check(obj, names, lambda value: value > 0, "> 0")


def in_range(obj: Any, low: float, high: float, *names: str,
             include_high: bool = True) -> None:
  """Fields `names` of `obj` must be in [low, high], or [low, high)."""
  if include_high:
    _check(obj, names, lambda value: low <= value <= high,
           f"in [{low}, {high}]")
  else:
    _check(obj, names, lambda value: low <= value < high,
           f"in [{low}, {high})")


def in_unit_interval(obj: Any, *names: str) -> None:
  """Fields `names` of `obj` must be in [0, 1]."""
  in_range(obj, 0, 1, *names)
