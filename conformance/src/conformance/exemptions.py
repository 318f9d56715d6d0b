"""MUSTs that cannot be observed over the wire, each with the reason (reviewed list).

A requirement listed here counts as covered in the matrix, marked "exempt". Keep it short:
everything a peer can see on the wire needs a case instead.
"""

from __future__ import annotations

EXEMPT: dict[str, str] = {}
