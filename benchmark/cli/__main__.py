"""``python -m benchmark.cli``: the same as the ``kdbench`` console script."""

import sys

from benchmark.cli import main

sys.exit(main())
