"""The one command: ours and the peers, interleaved in one run, one table with ratios.

    python bench/run.py            # the full run recorded in bench/README.md (about 10 minutes)
    python bench/run.py --quick    # a short one

Same flags as bench/overhead.py (`--repeats`, `--calls`, `--writer-runs`, ...).
"""

from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import overhead  # noqa: E402

if __name__ == "__main__":
    raise SystemExit(overhead.main(["--peers", *sys.argv[1:]]))
