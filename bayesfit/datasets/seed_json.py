"""Column tables in the JSON layout of the HESE diffuse-fit notebook.

The layout is ``{"mapping": {column_name: column_index}, "events": [[v0, v1, ...], ...]}``: one row
per event, the mapping naming the position of each column in a row.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from bayesfit.errors import EventsError
from bayesfit.events import read_seed_columns

__all__ = ["round_significant", "write_seed_json", "read_seed_json"]


def round_significant(values: np.ndarray, digits: int = 4) -> np.ndarray:
    """Round every value to ``digits`` significant decimal digits.

    Zeros and non-finite values are returned unchanged. The result is the float nearest to the
    rounded decimal, so ``repr`` prints it with at most ``digits`` digits (``1.455e-05``).
    """
    if digits < 1:
        raise ValueError(f"round_significant: digits must be >= 1, got {digits}")
    values = np.asarray(values, dtype=float)
    magnitude = np.abs(values)
    regular = np.isfinite(values) & (magnitude > 0)
    exponent = np.floor(np.log10(np.where(regular, magnitude, 1.0))).astype(int)
    shift = digits - 1 - exponent
    # Scale by an exact power of ten (10^0 ... 10^22 are exact floats) so that the integer
    # mantissa divided or multiplied back gives the float nearest to the rounded decimal.
    exact = regular & (np.abs(shift) <= 22)
    power = 10.0 ** np.abs(np.where(exact, shift, 0))
    up = np.round(values * power) / power
    down = np.round(values / power) * power
    rounded = np.where(exact, np.where(shift >= 0, up, down), values)
    # Far outside 1e-19 ... 1e25 no power of ten is exact: go through the decimal string.
    extreme = regular & ~exact
    if np.any(extreme):
        rounded[extreme] = np.char.mod(f"%.{digits - 1}e", values[extreme]).astype(float)
    return rounded


def write_seed_json(
    columns: Mapping[str, np.ndarray], path: str | os.PathLike[str], *, overwrite: bool = False
) -> Path:
    """Write equally long 1-D columns as ``{"mapping": ..., "events": ...}`` JSON.

    Columns keep the order of ``columns``. The file is written to a temporary file in the target
    folder and renamed into place, so a reader never sees a half-written file.

    Raises
    ------
    EventsError
        If the columns are empty, not 1-D, of different lengths or not numeric.
    FileExistsError
        If ``path`` exists and ``overwrite`` is false.
    """
    path = Path(path)
    if not columns:
        raise EventsError(f"write_seed_json({path}): no columns given")
    arrays = {name: np.asarray(values) for name, values in columns.items()}
    lengths = {name: values.shape for name, values in arrays.items()}
    first_name, first_shape = next(iter(lengths.items()))
    for name, shape in lengths.items():
        if len(shape) != 1 or shape != first_shape:
            raise EventsError(
                f"write_seed_json({path}): column {name!r} has shape {shape}, expected a 1-D column "
                f"of the same length as {first_name!r} {first_shape}"
            )
        if not np.issubdtype(arrays[name].dtype, np.number) and arrays[name].dtype != bool:
            raise EventsError(
                f"write_seed_json({path}): column {name!r} has dtype {arrays[name].dtype}, "
                "expected numbers"
            )
    if path.exists() and not overwrite:
        raise FileExistsError(f"write_seed_json: {path} exists (pass overwrite=True to replace it)")
    table = np.column_stack([values.astype(float) for values in arrays.values()])
    document = {"mapping": {name: index for index, name in enumerate(arrays)}, "events": table.tolist()}
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(handle, "w") as stream:
            json.dump(document, stream)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return path


def read_seed_json(path: str | os.PathLike[str]) -> dict[str, np.ndarray]:
    """Read a ``{"mapping": ..., "events": ...}`` JSON file into ``{column_name: (n_events,)}``
    (:func:`bayesfit.events.read_seed_columns`: an empty ``events`` list is 0 events).

    Raises
    ------
    EventsError
        If the file is not UTF-8 JSON, repeats a key, lacks ``mapping`` or ``events``, its rows
        are ragged, or a mapped column index lies outside the rows.
    """
    return read_seed_columns(Path(path))
