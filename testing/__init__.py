"""Helpers for tests and benchmarks: reference implementations used as oracles and baselines, request samplers.

Nothing in models/, components/, tfx_pipeline/ or serving/ imports this package.
"""
