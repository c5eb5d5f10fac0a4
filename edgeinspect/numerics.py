"""Float hygiene shared by the exporter and the engines: subnormal float32 values.

A float32 smaller in magnitude than ``np.finfo(np.float32).tiny`` (1.2e-38) but not 0 is subnormal:
x86 cores compute with it up to 100x slower per operation (weight decay leaves such weights: the
bundled model had 10,053 and ran 10x slower in ONNX Runtime until they were flushed). Setting them to
0 changes no probability. Float32 only: a float16 value below 6.1e-5 is an ordinary value there.

Example:
    >>> flush_subnormal(weights)      # in place; returns how many were set to 0
    3
"""

from __future__ import annotations

import numpy as np


def flush_subnormal(array: np.ndarray) -> int:
    """Set the subnormal values of a float32 array to 0, in place.

    Args:
        array: any array (writable when float32); other dtypes are left as they are.

    Returns:
        How many values were set to 0.
    """
    if array.dtype != np.float32:
        return 0
    subnormal = (array != 0) & (np.abs(array) < np.finfo(np.float32).tiny)
    count = int(np.count_nonzero(subnormal))
    if count:
        array[subnormal] = 0
    return count
