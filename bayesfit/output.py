"""Writing result files safely: never overwrite what a user saved unless asked, never half-write.

Every file is written to a temporary file in the same folder and renamed into place, so a crash
leaves either the old file or the complete new one.
"""

from __future__ import annotations

import json
import logging
import math
import os
import tempfile
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from bayesfit.errors import BayesfitError

__all__ = ["OutputExistsError", "ResultFolder", "atomic_write", "progress_reporter", "strict_json"]

logger = logging.getLogger(__name__)


def strict_json(value: Any) -> Any:
    """``value`` as strict JSON: numpy types become Python ones, NaN and infinities ``None``,
    objects with ``to_dict()`` their dict, tuples lists."""
    if isinstance(value, Mapping):
        return {str(k): strict_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [strict_json(v) for v in value]
    if isinstance(value, np.ndarray):
        return strict_json(value.tolist())
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return float(value) if math.isfinite(value) else None
    if hasattr(value, "to_dict"):
        return value.to_dict()
    if isinstance(value, Path):
        return str(value)
    return value


class OutputExistsError(BayesfitError, FileExistsError):
    """A result file exists already and overwriting was not allowed."""


def atomic_write(path: str | Path, write: Callable[[Path], None], *, overwrite: bool = False) -> Path:
    """Create ``path`` by calling ``write(temporary_path)`` and renaming the result into place.

    Parameters
    ----------
    path:
        Destination file.
    write:
        Writes the complete content to the path it is given (e.g. ``fig.savefig``).
    overwrite:
        Replace an existing file; otherwise an existing file raises :class:`OutputExistsError`.
    """
    path = Path(path)
    if path.exists() and not overwrite:
        raise OutputExistsError(f"{path} exists already; pass --force (overwrite=True) to replace it")
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=path.suffix, dir=path.parent)
    os.close(handle)
    try:
        write(Path(temporary))
        os.chmod(temporary, 0o666 & ~_umask())  # mkstemp creates 0600; give the usual permissions
        os.replace(temporary, path)
    finally:
        if os.path.exists(temporary):
            os.unlink(temporary)
    return path


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


class ResultFolder:
    """A folder of result files written atomically, refusing to overwrite without ``force``.

    The check for existing files happens up front (:meth:`claim`), so a run does not spend minutes
    sampling only to find that it may not write its results.
    """

    def __init__(self, path: str | Path, *, force: bool = False) -> None:
        self.path = Path(path)
        self.force = force

    def claim(self, names: Iterable[str]) -> None:
        """Fail early if any of ``names`` exists and ``force`` is off."""
        if self.force:
            return
        existing = sorted(name for name in names if (self.path / name).exists())
        if existing:
            raise OutputExistsError(
                f"{self.path} already holds {', '.join(existing)}; use --force to overwrite, "
                "or --out to choose another folder"
            )

    def write(self, name: str, write: Callable[[Path], None]) -> Path:
        """Write the file ``name`` with ``write(temporary_path)``."""
        return atomic_write(self.path / name, write, overwrite=self.force)

    def write_figure(self, name: str, figure: Any, *, dpi: int = 110) -> Path:
        """Save a matplotlib figure as PNG file ``name`` and close it."""
        import matplotlib.pyplot as plt

        path = self.write(name, lambda temporary: figure.savefig(temporary, dpi=dpi, format="png"))
        plt.close(figure)
        return path

    def write_json(self, name: str, content: Any) -> Path:
        """Write ``content`` as indented strict JSON (NaN and infinities as ``null``)."""
        text = json.dumps(strict_json(content), indent=2, sort_keys=False, allow_nan=False) + "\n"
        return self.write(name, lambda temporary: temporary.write_text(text, encoding="utf-8"))


def progress_reporter(enabled: bool) -> Callable[[str], None]:
    """A function reporting the steps of a run as INFO messages of the ``bayesfit.output`` logger
    (silent if not enabled); the ``bayesfit`` command shows them on stderr as ``[bayesfit] message``."""

    def say(message: str) -> None:
        if enabled:
            logger.info(message)

    return say
