"""``python -m benchmarks``: run every benchmark and write BENCHMARKS.md + results.json."""

import sys

from .run import main

sys.exit(main())
