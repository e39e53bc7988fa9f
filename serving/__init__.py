"""Serving: TF Serving layout, gRPC client and a local TF-Serving-compatible server."""

# The served model's name, unless a config names another.
DEFAULT_MODEL_NAME = "coarse_ranker"
