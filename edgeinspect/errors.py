"""The one exception type the CLI turns into a one-line error and a non-zero exit.

Raise :class:`EdgeInspectError` for every problem a user can fix (a bad file, key, device or
option). Its message names the file, key or device and, where there is one, what to do:
``"calib/line3.yaml: key 'mm_per_px' must be > 0, got -1"``.
"""

from typing import TypeVar


class EdgeInspectError(Exception):
    """A user-facing error: one line, names the file/key/device, says what to do."""


class ConfigError(EdgeInspectError):
    """A YAML file or a key in it is missing, unreadable or out of range."""


class DataError(EdgeInspectError):
    """An image, mask or dataset layout cannot be read or does not match."""


_Error = TypeVar("_Error", bound=EdgeInspectError)


def cannot_write(path: object, error: OSError, kind: type[_Error] = EdgeInspectError, detail: str = "") -> _Error:
    """The one-line error for a file the OS refused to write (a full disk, a read-only folder).

    ``"<path>: cannot write (No space left on device)<detail>"``; raise it ``from None``.
    """
    return kind(f"{path}: cannot write ({error.strerror or error}){detail}")
