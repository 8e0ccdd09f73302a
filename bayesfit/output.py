"""Writing result files safely: never overwrite what a user saved unless asked, never half-write.

Every file is written to a temporary file in the same folder and renamed into place, so a crash
leaves either the old file or the complete new one; a result folder is staged beside its target
and replaces it in one rename (:class:`ResultFolder`), so that a run leaves a complete folder or
none.
"""

from __future__ import annotations

import json
import logging
import math
import os
import re
import shutil
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from bayesfit.errors import BayesfitError

__all__ = [
    "MARKER", "OutputError", "OutputExistsError", "ResultFolder", "atomic_write", "progress_reporter", "safe_file_name",
    "strict_json",
]

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


class OutputError(BayesfitError, OSError):
    """Results cannot be written where they were asked for."""


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


#: Names of the files bayesfit writes into result folders; a folder holding only such files (or
#: marked by :data:`MARKER`) is a result folder that ``force`` may replace as a whole.
RESULT_FILE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.+\-]*\.(png|pdf|json|nc|csv)")
#: The file that marks a folder as written by bayesfit.
MARKER = ".bayesfit-results"


def safe_file_name(name: str) -> str:
    """``name`` as a plain file name inside a folder: every character other than letters, digits,
    ``_.+-`` becomes ``_`` (path separators included) and leading dots are dropped, so that names
    derived from user input (channels, parameters, analyses) never leave the folder or hide."""
    cleaned = re.sub(r"[^A-Za-z0-9_.+\-]", "_", str(name)).lstrip(".")
    return cleaned or "_"


class ResultFolder:
    """A folder of results that is complete or absent.

    Files are written into a hidden staging folder beside the target; :meth:`commit` (or leaving a
    ``with`` block without an exception) replaces the target by it in one rename, an exception
    (an interrupt included) removes it and leaves the target as it was. The target is checked when
    the folder is made, before any work: it must not be a file, its parent must be writable, and an
    existing non-empty folder is replaced only with ``force`` and only if bayesfit wrote it (it
    holds the marker or only result files), so that nothing a user saved is lost.

    >>> with ResultFolder("results/hese", force=False) as folder:  # doctest: +SKIP
    ...     folder.write_json("summary.json", summary)
    """

    def __init__(self, path: str | Path, *, force: bool = False) -> None:
        self.path = Path(path)
        self.force = force
        self._staging: Path | None = None
        self._check_target()

    def _check_target(self) -> None:
        if self.path.exists() and not self.path.is_dir():
            raise OutputExistsError(f"{self.path} is a file, not a folder: choose another --out")
        if self.path.is_dir():
            existing = sorted(entry.name for entry in self.path.iterdir())
            if existing and not self.force:
                shown = ", ".join(existing[:4]) + (", ..." if len(existing) > 4 else "")
                raise OutputExistsError(
                    f"{self.path} already holds {shown}; use --force to replace the folder's content, "
                    "or --out to choose another folder"
                )
            foreign = [name for name in existing if name != MARKER and not RESULT_FILE.fullmatch(name)]
            if foreign and MARKER not in existing:
                raise OutputExistsError(
                    f"{self.path} holds {', '.join(foreign[:4])}, which bayesfit did not write; --force only "
                    "replaces result folders: choose another --out"
                )
        ancestor = self.path.absolute().parent
        while not ancestor.exists():
            ancestor = ancestor.parent
        if not ancestor.is_dir() or not os.access(ancestor, os.W_OK | os.X_OK):
            raise OutputError(f"cannot write results into {self.path}: {ancestor} is not a writable folder")

    @property
    def staging(self) -> Path:
        """The hidden folder the files go to until :meth:`commit` (made on first use)."""
        if self._staging is None:
            parent = self.path.absolute().parent
            parent.mkdir(parents=True, exist_ok=True)
            self._staging = Path(tempfile.mkdtemp(prefix=f".{self.path.name}.", suffix=".partial", dir=parent))
        return self._staging

    def write(self, name: str, write: Callable[[Path], None]) -> Path:
        """Write the file ``name`` (made a safe file name) with ``write(temporary_path)``; returns
        its final path in the target folder."""
        name = safe_file_name(name)
        if (self.staging / name).exists():
            raise OutputExistsError(f"{name} is written twice into {self.path}")
        atomic_write(self.staging / name, write)
        return self.path / name

    def write_figure(self, name: str, figure: Any, *, dpi: int = 110) -> Path:
        """Save a matplotlib figure as PNG file ``name`` and close it."""
        import matplotlib.pyplot as plt

        try:
            return self.write(name, lambda temporary: figure.savefig(temporary, dpi=dpi, format="png"))
        finally:
            plt.close(figure)

    def write_json(self, name: str, content: Any) -> Path:
        """Write ``content`` as indented strict JSON (NaN and infinities as ``null``)."""
        text = json.dumps(strict_json(content), indent=2, sort_keys=False, allow_nan=False) + "\n"
        return self.write(name, lambda temporary: temporary.write_text(text, encoding="utf-8"))

    def commit(self) -> Path:
        """Replace the target folder by the staged files (the previous content goes as a whole)."""
        staging = self.staging
        (staging / MARKER).write_text("written by bayesfit; `--force` may replace this folder as a whole\n")
        os.chmod(staging, 0o777 & ~_umask())  # mkdtemp creates 0700; give the usual permissions
        if self.path.exists():
            self._check_target()  # nothing appeared in the meantime that is not ours to replace
            previous = Path(tempfile.mkdtemp(prefix=f".{self.path.name}.", suffix=".replaced", dir=staging.parent))
            os.replace(self.path, previous / self.path.name)
            os.replace(staging, self.path)
            shutil.rmtree(previous, ignore_errors=True)
        else:
            os.replace(staging, self.path)
        self._staging = None
        return self.path

    def discard(self) -> None:
        """Remove the staged files; the target stays as it was."""
        if self._staging is not None:
            shutil.rmtree(self._staging, ignore_errors=True)
            self._staging = None

    def __enter__(self) -> ResultFolder:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, traceback: Any) -> None:
        if kind is None:
            self.commit()
        else:
            self.discard()


def progress_reporter(enabled: bool) -> Callable[[str], None]:
    """A function reporting the steps of a run as INFO messages of the ``bayesfit.output`` logger
    (silent if not enabled); the ``bayesfit`` command shows them on stderr as ``[bayesfit] message``."""

    def say(message: str) -> None:
        if enabled:
            logger.info(message)

    return say
