"""Event tables: named columns of per-event values, loaded from the usual sources.

An :class:`Events` table maps variable names to 1-D ``float64`` arrays of equal length
``n_events``. :func:`load_events` builds one from a dict of arrays, a numpy structured array, a
pandas DataFrame, a CSV file (header line with the column names), the JSON layout of the HESE
seed (``{"mapping": {name: column}, "events": [[...], ...]}``) or a TTree of a ROOT file
(:func:`bayesfit.root_io.read_tree`, with uproot), optionally keeping some columns, deriving
new ones and cutting with expressions (:mod:`bayesfit.expressions`) and renaming variables.
Binnings accept anything :func:`load_events` accepts.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from bayesfit.errors import EventsError, describe_undecodable
from bayesfit.json_loader import load_json

__all__ = ["Events", "as_weights", "load_events", "read_seed_columns"]


class Events(Mapping[str, np.ndarray]):
    """A read-only table of events: variable name -> ``(n_events,)`` float64 array.

    Parameters
    ----------
    columns
        Variable name -> 1-D array-like of numbers, all of the same length. Scalars count as one
        event.
    """

    def __init__(self, columns: Mapping[str, Any]) -> None:
        converted: dict[str, np.ndarray] = {}
        for name, values in columns.items():
            converted[str(name)] = _as_column(name, values)
        lengths = {name: len(values) for name, values in converted.items()}
        if len(set(lengths.values())) > 1:
            raise EventsError(f"event columns have different lengths: {lengths}")
        self._columns = converted
        self._n_events = next(iter(lengths.values()), 0)
        self._source_rows: np.ndarray | None = None

    @property
    def n_events(self) -> int:
        """Number of events (rows)."""
        return self._n_events

    @property
    def variables(self) -> tuple[str, ...]:
        """Names of the columns, in order."""
        return tuple(self._columns)

    def column(self, name: str, *, needed_by: str = "the binning") -> np.ndarray:
        """Return the values of ``name``; an :class:`EventsError` lists the columns present if absent."""
        try:
            return self._columns[name]
        except KeyError:
            raise EventsError(
                f"{needed_by} needs variable {name!r}, but the events have only "
                f"{sorted(self._columns)}"
            ) from None

    def take(self, rows: np.ndarray) -> Events:
        """The events at integer positions (or boolean mask) ``rows``, as a new table."""
        subset = Events.__new__(Events)
        rows = np.asarray(rows)
        subset._columns = {name: values[rows] for name, values in self._columns.items()}
        subset._n_events = int(np.count_nonzero(rows)) if rows.dtype == bool else len(rows)
        subset._source_rows = self.source_rows[rows]
        return subset

    @property
    def source_rows(self) -> np.ndarray:
        """``(n_events,)``: each event's row number in the table this one was taken from."""
        if self._source_rows is None:
            return np.arange(self._n_events)
        return self._source_rows

    def __getitem__(self, name: str) -> np.ndarray:
        return self._columns[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._columns)

    def __len__(self) -> int:
        return len(self._columns)

    def __repr__(self) -> str:
        return f"Events(n_events={self.n_events}, variables={list(self.variables)})"


def load_events(
    source: Any,
    *,
    rename: Mapping[str, str] | None = None,
    tree: str | None = None,
    branches: Sequence[str] | None = None,
    define: Mapping[str, str] | None = None,
    cut: str | None = None,
) -> Events:
    """Load events from a dict of arrays, structured array, DataFrame, CSV, seed-JSON, .npz or ROOT file.

    Parameters
    ----------
    source
        A mapping of name -> array, a numpy structured array, a pandas DataFrame, an
        :class:`Events` table, or a path (``str``/``Path``) to a ``.csv``/``.txt`` file with a header
        line, to a ``.json`` file in the seed layout ``{"mapping": {name: column}, "events":
        [[...], ...]}``, to a numpy ``.npz`` archive of named ``(n_events,)`` columns or to a
        ``.root`` file (needs uproot: ``pip install 'bayesfit[root]'``).
    rename
        Optional old name -> new name map applied last (e.g. ``{"zenith_rad": "zenith"}``);
        it may swap names, but two columns may not end up with the same name.
    tree
        The TTree of a ROOT file (may be left out when the file holds one tree); only for ROOT files.
    branches
        The columns (branches) to keep, default all; of a ROOT file only these and the columns the
        expressions use are read.
    define
        New column -> expression of the columns (:class:`~bayesfit.expressions.Expression`), e.g.
        ``{"weight": "w_gen * xsec"}``.
    cut
        Expression true for the events to keep, e.g. ``"(E > 100) & (abs(cos_zenith) < 0.9)"``.

    Returns
    -------
    Events
        The table; every column is a ``(n_events,)`` float64 array. A file with a header (or a
        mapping) but no rows is a valid table of 0 events.

    Raises
    ------
    EventsError
        If the source cannot be read (missing, binary or malformed file, ragged rows), a column is
        not numeric or repeats a name (a CSV header, a JSON mapping), or ``rename`` names an
        unknown column or a name twice; for a ROOT file without the tree or a branch (naming the
        file, tree and branch, and the trees or branches it has), and for a bad expression.
    """
    is_root = isinstance(source, (str, Path)) and Path(source).suffix.lower() == ".root"
    if is_root:
        from bayesfit.root_io import read_tree

        events = read_tree(source, tree, branches=branches, define=define, cut=cut)
    else:
        if tree is not None:
            raise EventsError(f"tree={tree!r} names a TTree of a ROOT file, but the events come from {_describe(source)}")
        events = _load(source)
        if branches is not None or define or cut is not None:
            from bayesfit.expressions import select_columns

            selected = select_columns(events, keep=branches, define=define, cut=cut, source=_describe(source))
            events = Events(selected)
    if not rename:
        return events
    unknown = sorted(set(rename) - set(events.variables))
    if unknown:
        raise EventsError(f"cannot rename {unknown}: the events have only {sorted(events.variables)}")
    renamed: dict[str, str] = {}
    for name in events.variables:
        new = rename.get(name, name)
        if new in renamed:
            raise EventsError(
                f"rename {rename!r} gives two columns the name {new!r} ({renamed[new]!r} and {name!r}); "
                "rename or drop one of them"
            )
        renamed[new] = name
    return Events({new: events[old] for new, old in renamed.items()})


def as_weights(weights: Any, n_events: int, *, allow_negative: bool) -> np.ndarray:
    """Validate per-event weights: a scalar or an ``(n_events,)`` array, finite, signs as allowed."""
    array = np.asarray(weights, dtype=np.float64)
    if array.ndim == 0:
        array = np.full(n_events, float(array))
    if array.shape != (n_events,):
        raise EventsError(f"weights have shape {array.shape}, but there are {n_events} events")
    not_finite = ~np.isfinite(array)
    if not_finite.any():
        raise EventsError(
            f"{int(not_finite.sum())} of {n_events} weights are NaN or infinite "
            f"(first at event {int(np.argmax(not_finite))})"
        )
    if not allow_negative:
        negative = array < 0
        if negative.any():
            raise EventsError(
                f"{int(negative.sum())} of {n_events} weights are negative (first at event "
                f"{int(np.argmax(negative))}: {array[np.argmax(negative)]!r}); pass "
                "allow_negative_weights=True if they are meant to be"
            )
    return array


def _describe(source: Any) -> str:
    return repr(str(source)) if isinstance(source, (str, Path)) else f"a {type(source).__name__}"


def _load(source: Any) -> Events:
    if isinstance(source, Events):
        return source
    if isinstance(source, (str, Path)):
        return _load_file(Path(source))
    if isinstance(source, np.ndarray) and source.dtype.names is not None:
        return Events({name: source[name] for name in source.dtype.names})
    if hasattr(source, "columns") and hasattr(source, "to_numpy"):  # pandas DataFrame
        return Events({str(name): source[name].to_numpy() for name in source.columns})
    if isinstance(source, Mapping):
        return Events(source)
    raise EventsError(
        f"cannot read events from {type(source).__name__}: give a dict of arrays, a structured "
        "array, a DataFrame, or a path to a CSV, JSON or ROOT file"
    )


def _load_file(path: Path) -> Events:
    if not path.is_file():
        raise EventsError(f"event file {str(path)!r} does not exist")
    suffix = path.suffix.lower()
    if suffix == ".json":
        return _load_seed_json(path)
    if suffix in {".csv", ".txt"}:
        import pandas as pd

        try:
            table = pd.read_csv(path, encoding="utf-8")
        except UnicodeDecodeError as error:
            raise EventsError(f"{str(path)!r} is not a UTF-8 text file ({describe_undecodable(error)})") from None
        except (ValueError, pd.errors.ParserError) as error:
            raise EventsError(f"cannot parse CSV file {str(path)!r}: {error}") from error
        with path.open(encoding="utf-8", newline="") as stream:
            header = next(csv.reader(stream), [])
        repeated = sorted({name for name in header if header.count(name) > 1})
        if repeated:
            raise EventsError(f"CSV file {str(path)!r} repeats column name(s) {repeated} in its header")
        return Events({str(name): table[name].to_numpy() for name in table.columns})
    if suffix == ".npz":
        return _load_npz(path)
    raise EventsError(f"unknown event file type {suffix!r} of {str(path)!r}: use .csv, .txt, .json, .npz or .root")


def _load_npz(path: Path) -> Events:
    """A numpy ``.npz`` archive: each named array of shape ``(n_events,)`` is a column."""
    import zipfile

    try:
        with np.load(path, allow_pickle=False) as archive:
            columns = {name: archive[name] for name in archive.files}
    except (OSError, ValueError, zipfile.BadZipFile) as error:
        raise EventsError(f"cannot read {str(path)!r} as a numpy .npz archive of columns: {error}") from None
    shapes = {name: column.shape for name, column in columns.items() if column.ndim != 1}
    if shapes:
        raise EventsError(f"{str(path)!r}: every array of an .npz event file is a column (n_events,); got {shapes}")
    return Events(columns)


def read_seed_columns(path: str | Path) -> dict[str, np.ndarray]:
    """The columns of a seed-layout JSON file ``{"mapping": {name: position}, "events": [[...], ...]}``.

    ``"events": []`` is a valid table of no events (as :func:`~bayesfit.datasets.write_seed_json`
    writes for empty columns).

    Raises
    ------
    EventsError
        If the file is not UTF-8 JSON, repeats a key, lacks ``mapping`` or ``events``, its rows are
        ragged or not numbers, or a mapped position lies outside the rows.
    """
    path = Path(path)
    content = load_json(path, EventsError, "event file")
    if not isinstance(content, dict) or {"mapping", "events"} - set(content):
        raise EventsError(
            f"{str(path)!r} must hold a JSON object with keys 'mapping' and 'events' (the seed layout)"
        )
    mapping = content["mapping"]
    if not isinstance(mapping, dict):
        raise EventsError(f"'mapping' in {str(path)!r} must map column names to positions, got {mapping!r}")
    try:
        table = np.asarray(content["events"], dtype=np.float64)
    except (TypeError, ValueError) as error:
        raise EventsError(
            f"'events' in {str(path)!r} must be a list of equally long rows of numbers: {error}"
        ) from None
    if table.size == 0 and table.ndim == 1:  # no events: a valid, empty table
        positions = [c for c in mapping.values() if isinstance(c, int) and not isinstance(c, bool)]
        table = table.reshape(0, max(positions, default=-1) + 1)
    if table.ndim != 2:
        raise EventsError(f"'events' in {str(path)!r} must be a list of rows, got shape {table.shape}")
    columns: dict[str, np.ndarray] = {}
    for name, column in mapping.items():
        if isinstance(column, bool) or not isinstance(column, int) or not 0 <= column < table.shape[1]:
            raise EventsError(
                f"mapping[{name!r}] = {column!r} in {str(path)!r} points to column {column!r}, but rows have "
                f"{table.shape[1]} columns"
            )
        columns[name] = table[:, column].copy()
    return columns


def _load_seed_json(path: Path) -> Events:
    return Events(read_seed_columns(path))


def _as_column(name: Any, values: Any) -> np.ndarray:
    try:
        array = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as error:
        raise EventsError(f"event variable {name!r} is not numeric: {error}") from error
    if array.ndim == 0:
        return array.reshape(1)
    if array.ndim != 1:
        raise EventsError(f"event variable {name!r} must be 1-D, got shape {array.shape}")
    return np.ascontiguousarray(array)
