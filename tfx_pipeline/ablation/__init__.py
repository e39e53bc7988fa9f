"""The quality report: the published ablations rerun on the same logs, eval sets and budget."""
