"""YAML text → Python values, reading ``1e-4`` as the number an engineer means.

PyYAML implements YAML 1.1, whose floats need a dot and a signed exponent: ``1e-4``, ``5E3`` and
``1.0e5`` come back as *strings* there, and a calibration's ``mm_per_px: 1e-1`` would be refused as
"must be a number". YAML 1.2 (and every YAML user's expectation) reads them as floats;
:class:`NumberFriendlyLoader` adds exactly that one rule to PyYAML's safe loader (nothing else of
YAML 1.2: ``yes``/``no`` stay booleans as before).

Example:
    >>> load_yaml("mm_per_px: 1e-1\\nlines: 2e4\\nname: 1e")
    {'mm_per_px': 0.1, 'lines': 20000.0, 'name': '1e'}
"""

from __future__ import annotations

import re
from typing import Any

import yaml

# A decimal with an exponent and no dot, or a dot and an unsigned exponent: YAML 1.2 floats that
# YAML 1.1's float pattern (dot required, exponent sign required) leaves as strings.
_EXPONENT_FLOAT = re.compile(r"^[-+]?(?:[0-9][0-9_]*(?:\.[0-9_]*)?|\.[0-9_]+)[eE][-+]?[0-9]+$")


class NumberFriendlyLoader(yaml.SafeLoader):
    """PyYAML's safe loader, plus YAML 1.2's exponent floats (``1e-4``, ``5E3``, ``1.0e5``)."""


NumberFriendlyLoader.add_implicit_resolver("tag:yaml.org,2002:float", _EXPONENT_FLOAT,
                                           list("-+0123456789."))


def load_yaml(text: str) -> Any:
    """Parse one YAML document safely (no object construction); raises ``yaml.YAMLError``."""
    return yaml.load(text, Loader=NumberFriendlyLoader)  # noqa: S506 - a SafeLoader subclass
