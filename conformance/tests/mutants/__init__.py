"""The mutation harness of the conformance suite (see run.py).

launch.py runs as a script with this directory on sys.path, so the modules import each other
by their plain names; the same holds when the tests import this package.
"""

import sys
from pathlib import Path

if str(Path(__file__).parent) not in sys.path:
    sys.path.insert(0, str(Path(__file__).parent))
