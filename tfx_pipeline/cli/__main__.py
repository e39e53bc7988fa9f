"""`python -m tfx_pipeline.cli`: the `coarse-rank` command."""

import sys

from tfx_pipeline import cli

sys.exit(cli.main())
