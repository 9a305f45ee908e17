"""``python -m omni_bench.cli``: the same as the ``omni-bench`` command."""

import sys

from omni_bench.cli import main

sys.exit(main())
