"""PyTorch networks (needs the ``train`` extra): registry, checkpoints, layers, seed networks.

Importing this package registers every model file (``lpcnet``; later ``psicnet``, ``lsanet``,
``anomalyseg``). Backbones are written out in ``backbones.py`` (no timm, no torchvision).

Example:
    >>> from edgeinspect.models import create_model, list_models, save_checkpoint, load_checkpoint
    >>> list_models()
    ['lpcnet', 'lpcnet-lite']
"""

from edgeinspect.models import lpcnet  # noqa: F401  (registers lpcnet, lpcnet-lite)
from edgeinspect.models import psicnet  # noqa: F401  (registers psicnet)
from edgeinspect.models import lsanet  # noqa: F401  (registers lsanet)
from edgeinspect.models import anomalyseg  # noqa: F401  (registers anomalyseg)
from edgeinspect.models.base import SegOutput
from edgeinspect.models.checkpoint import load_checkpoint, save_checkpoint
from edgeinspect.models.registry import create_model, is_model, list_models, register_model

DEFAULT_MODEL = "lpcnet-lite"  # the bundled default network

__all__ = [
    "DEFAULT_MODEL",
    "SegOutput",
    "create_model",
    "is_model",
    "list_models",
    "load_checkpoint",
    "register_model",
    "save_checkpoint",
]
