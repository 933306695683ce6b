"""The reliability suite imports the shared helpers of tests/ (workloads.py) and its own (fuzz.py)."""

from __future__ import annotations

import sys
from pathlib import Path

for folder in (Path(__file__).parent, Path(__file__).parent.parent):
    if str(folder) not in sys.path:
        sys.path.insert(0, str(folder))
