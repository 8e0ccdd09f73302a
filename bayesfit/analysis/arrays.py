"""Arrays of an analysis file: inline lists, named arrays of ``.npz`` files, CSV columns, histograms.

An array entry of an analysis file (observed counts, a template, flux throws) is one of

.. code-block:: yaml

    [3, 5, 2]                                   # inline numbers (nested lists for 2-D arrays)
    {path: inputs.npz, key: observed}           # a named array of a numpy .npz archive
    {path: templates.csv, column: signal}       # a column of a CSV file (header line with names)
    {path: signal.json}                         # the bin values of a histogram saved as UHI JSON
    {path: inputs.root, key: dir/signal}        # a TH1/TH2/TH3 of a ROOT file (needs uproot)

Histograms are read in the UHI serialisation that ``hist`` and ``boost-histogram`` write,
``json.dump(hist.serialization.to_uhi(h), file, default=uhi.io.json.default)``, or from ROOT files
with uproot (``pip install 'bayesfit[root]'``). Where the entry's bins are those of the analysis'
binning (observed counts, templates in reco bins, the reco axis of a response matrix) the
histogram's axes must match it (:func:`~bayesfit.binning.as_counts`: edges, and for hist
histograms the axis names; ROOT axes are taken in order). Their values exclude the flow bins,
which must be empty unless the entry says ``flow: ignore`` -- except that a ROOT histogram's
under- or overflow bin is the outer bin of a binning axis with an infinite outer edge.
:func:`read_array` reports problems as :class:`~bayesfit.errors.AnalysisFileError` naming the
file, line and key of the entry.
"""

from __future__ import annotations

import json
import zipfile
from collections.abc import Callable, Hashable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from bayesfit.binning import Binning, as_counts
from bayesfit.errors import AnalysisFileError, BayesfitError

__all__ = ["ARRAY_FILE_SUFFIXES", "HISTOGRAM_SUFFIXES", "read_array"]

#: File types of array entries: the suffix and the key that names the array in the file.
ARRAY_FILE_SUFFIXES = {".npz": "key", ".csv": "column", ".json": None, ".root": "key"}
#: File types that hold histograms (with edges and flow bins).
HISTOGRAM_SUFFIXES = (".json", ".root")


def read_array(
    entry: Any, where: Callable[..., str], *path: Hashable, binning: Binning | None = None, flatten: bool = True
) -> np.ndarray:
    """The float array an analysis-file entry describes (see the module docstring).

    Parameters
    ----------
    entry:
        The entry, with its ``path`` resolved (:func:`bayesfit.analysis.spec.read_analysis`).
    where:
        ``where(*key_path)`` -> ``"file line N: key.path"`` (e.g. :meth:`AnalysisSpec.where`).
    path:
        The key path of the entry in the analysis file.
    binning:
        The bins of a histogram entry's axes (its leading axes with ``flatten=False``), checked
        against the histogram's; ``None``: not checked (e.g. truth bins).
    flatten:
        A histogram's values flattened in bayesfit's bin order (``True``), or with their axes
        (``False``: e.g. ``(n_reco, n_truth)`` of a 2-D response histogram; with a ``binning``,
        its axes flattened into one, ``(binning.size, n_rest)``).
    """
    if not isinstance(entry, Mapping):
        try:
            array = np.asarray(entry, dtype=float)
        except (TypeError, ValueError):
            raise AnalysisFileError(
                f"{where(*path)}: an inline array must be numbers, or equal-length lists of numbers"
            ) from None
        return _finite(array, where(*path), "the inline array")
    file = Path(entry["path"])
    suffix = file.suffix.lower()
    if suffix not in ARRAY_FILE_SUFFIXES:
        raise AnalysisFileError(
            f"{where(*path, 'path')}: unknown array file type {suffix!r} of {str(file)!r}; use "
            f"{', '.join(ARRAY_FILE_SUFFIXES)}"
        )
    name_key = ARRAY_FILE_SUFFIXES[suffix]
    given = [key for key in ("key", "column") if key in entry]
    if given != ([name_key] if name_key else []):
        wanted = f"give its {name_key!r}" if name_key else "it holds one histogram: no key or column"
        raise AnalysisFileError(f"{where(*path)}: a {suffix} file needs the array named: {wanted}")
    if "flow" in entry and suffix not in HISTOGRAM_SUFFIXES:
        raise AnalysisFileError(
            f"{where(*path, 'flow')}: only histograms ({', '.join(HISTOGRAM_SUFFIXES)} files) have flow bins"
        )
    if not file.exists():
        raise AnalysisFileError(f"{where(*path, 'path')}: file {str(file)!r} does not exist")
    if suffix == ".npz":
        array = _npz_array(file, entry["key"], where(*path, "key"))
    elif suffix == ".csv":
        array = _csv_column(file, entry["column"], where(*path, "column"))
    else:
        if suffix == ".json":
            histogram = _uhi_histogram(file, where(*path, "path"))
        else:
            histogram = _root_histogram(file, entry["key"], where(*path, "key"))
        try:
            array = as_counts(histogram, binning=binning, flow=entry.get("flow", "error"), flatten=flatten)
        except BayesfitError as error:
            raise AnalysisFileError(f"{where(*path)}: histogram {_histogram_name(entry)}: {error}") from None
        if not flatten and binning is not None:  # the binning's axes as one, in its flat bin order
            array = array.reshape(binning.size, -1)
    return _finite(array, where(*path), repr(str(file)))


def _histogram_name(entry: Mapping[str, Any]) -> str:
    name = repr(str(entry["path"]))
    return f"{entry['key']!r} of {name}" if "key" in entry else name


def _root_histogram(file: Path, key: str, where: str) -> Any:
    from bayesfit.root_io import read_histogram

    try:
        return read_histogram(file, key)
    except BayesfitError as error:
        raise AnalysisFileError(f"{where}: {error}") from None


def _npz_array(file: Path, key: str, where: str) -> np.ndarray:
    try:
        with np.load(file, allow_pickle=False) as archive:
            if key not in archive.files:
                raise AnalysisFileError(f"{where}: {str(file)!r} has no array {key!r}; arrays: {sorted(archive.files)}")
            return np.asarray(archive[key], dtype=float)
    except (OSError, ValueError, zipfile.BadZipFile) as error:
        raise AnalysisFileError(f"{where}: cannot read {str(file)!r} as a numpy .npz archive: {error}") from None


def _csv_column(file: Path, column: str, where: str) -> np.ndarray:
    import pandas as pd

    try:
        table = pd.read_csv(file)
    except (OSError, ValueError) as error:
        raise AnalysisFileError(f"{where}: cannot parse CSV file {str(file)!r}: {error}") from None
    if column not in table.columns:
        raise AnalysisFileError(f"{where}: {str(file)!r} has no column {column!r}; columns: {list(table.columns)}")
    try:
        return table[column].to_numpy(dtype=float)
    except ValueError as error:
        raise AnalysisFileError(f"{where}: column {column!r} of {str(file)!r} is not numeric: {error}") from None


def _uhi_histogram(file: Path, where: str) -> Any:
    """The :class:`hist.Hist` of a file in the UHI JSON serialisation."""
    import hist
    import hist.serialization
    import uhi.io.json

    try:
        serialised = json.loads(file.read_text(encoding="utf-8"), object_hook=uhi.io.json.object_hook)
        histogram = hist.Hist(hist.serialization.from_uhi(serialised))
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise AnalysisFileError(
            f"{where}: cannot read {str(file)!r} as a histogram in UHI JSON (hist.serialization.to_uhi): "
            f"{type(error).__name__}: {error}"
        ) from None
    return histogram


def _finite(array: np.ndarray, where: str, what: str) -> np.ndarray:
    if array.size == 0 or not np.all(np.isfinite(array)):
        raise AnalysisFileError(f"{where}: {what} must be a non-empty array of finite numbers")
    return array
