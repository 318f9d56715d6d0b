import sys
from pathlib import Path

# The DevTools client sits beside the tests (pytest runs with --import-mode=importlib).
# Appended, not prepended: other test folders import helpers from their own `conftest`
# module by name, and a folder put first on sys.path would shadow theirs.
sys.path.append(str(Path(__file__).parent))
