"""Make the shared Hypothesis strategies (core_strategies.py) importable from the tests."""

import sys
from pathlib import Path

_here = str(Path(__file__).parent)
if _here not in sys.path:
    sys.path.insert(0, _here)
