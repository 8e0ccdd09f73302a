"""Detector response matrices built from simulated events, or read from ReMU's ``.npz`` files.

Entry ``[k, i, j]`` of a response matrix is the probability, in detector universe ``k``, that an
event generated in truth bin ``j`` is reconstructed in reco bin ``i``:

    R[k, i, j] = sum of weights of events in truth bin j reconstructed in reco bin i
                 / sum of weights of all events generated in truth bin j

so a column sums to the reconstruction efficiency of its truth bin (events that are not
reconstructed count in the denominator only). *Noise bins* are truth bins whose events are always
reconstructed (e.g. detector noise defined in reco space): their columns are normalised to 1.

Sums of weights and of squared weights per (universe, reco bin, truth bin) are kept for
treatments of the finite simulation statistics.
"""

from __future__ import annotations

import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from os import PathLike
from typing import TYPE_CHECKING, Any

import numpy as np

from bayesfit.binning.histogram import as_counts
from bayesfit.errors import EventsError, PredictorError

if TYPE_CHECKING:
    from bayesfit.predictors.matrix import MatrixPredictor

__all__ = ["ResponseMatrix"]

#: Column sums may exceed 1 by this much (rounding in files written by other programs).
EFFICIENCY_TOLERANCE = 1e-9


@dataclass(frozen=True, eq=False)
class ResponseMatrix:
    """A response matrix with ``K`` detector universes.

    Attributes
    ----------
    matrices:
        ``(K, n_reco, n_truth)`` reconstruction probabilities (see the module docstring). The
        constructor also takes ``(n_reco, n_truth)`` for one universe, and 2-D histograms (reco
        axis first, truth axis second; hist, boost-histogram or ROOT TH2 read by uproot, empty
        flow bins), one or a list of ``K`` (:func:`~bayesfit.binning.as_counts`).
    weights:
        ``(K,)`` weights of the universes.
    truth_entries:
        ``(n_truth,)`` number of simulated events per truth bin (unweighted), or ``None``.
    sumw, sumw2:
        ``(K, n_reco, n_truth)`` sums of weights and of squared weights of the reconstructed
        events, or ``None`` (e.g. when read from a file that does not store them).
    truth_sumw:
        ``(K, n_truth)`` sum of weights of all generated events per truth bin, or ``None``.
    noise_bins:
        Truth bins that are always reconstructed (their columns sum to 1).
    """

    matrices: np.ndarray
    weights: np.ndarray
    truth_entries: np.ndarray | None = None
    sumw: np.ndarray | None = None
    sumw2: np.ndarray | None = None
    truth_sumw: np.ndarray | None = None
    noise_bins: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        matrices = as_counts(self.matrices, flatten=False)
        if matrices.ndim == 2:
            matrices = matrices[np.newaxis]
        if matrices.ndim != 3:
            raise PredictorError(
                f"ResponseMatrix: matrices must have shape (K, n_reco, n_truth), got {matrices.shape}"
            )
        _check_finite_non_negative(matrices, "matrices")
        efficiency = matrices.sum(axis=1)
        above = efficiency > 1.0 + EFFICIENCY_TOLERANCE
        if above.any():
            universe, truth_bin = (int(i[0]) for i in np.nonzero(above))
            raise PredictorError(
                f"ResponseMatrix: column of truth bin {truth_bin} in universe {universe} sums to "
                f"{float(efficiency[universe, truth_bin])!r}, an efficiency above 1 "
                f"({int(above.sum())} column(s) affected); a response holds probabilities: divide a "
                "histogram of event counts by the events generated in each truth bin"
            )
        object.__setattr__(self, "matrices", matrices)
        n_variations, _, n_truth = matrices.shape
        weights = np.asarray(self.weights, dtype=float)
        if weights.shape != (n_variations,):
            raise PredictorError(
                f"ResponseMatrix: weights have shape {weights.shape}, expected ({n_variations},) "
                "(one per universe)"
            )
        _check_finite_non_negative(weights, "weights")
        if not weights.sum() > 0:
            raise PredictorError("ResponseMatrix: the universe weights sum to zero")
        object.__setattr__(self, "weights", weights)
        for field, shape in (
            ("truth_entries", (n_truth,)),
            ("sumw", matrices.shape),
            ("sumw2", matrices.shape),
            ("truth_sumw", (n_variations, n_truth)),
        ):
            value = getattr(self, field)
            if value is None:
                continue
            value = np.asarray(value, dtype=float)
            if value.shape != shape:
                raise PredictorError(
                    f"ResponseMatrix: {field} has shape {value.shape}, expected {shape}"
                )
            _check_finite_non_negative(value, field)
            object.__setattr__(self, field, value)
        noise_bins = tuple(int(b) for b in np.flatnonzero(_noise_mask(self.noise_bins, n_truth)))
        object.__setattr__(self, "noise_bins", noise_bins)

    # ------------------------------------------------------------------ shape
    @property
    def n_variations(self) -> int:
        return int(self.matrices.shape[0])

    @property
    def n_reco(self) -> int:
        return int(self.matrices.shape[1])

    @property
    def n_truth(self) -> int:
        return int(self.matrices.shape[2])

    @property
    def efficiency(self) -> np.ndarray:
        """``(K, n_truth)`` reconstruction efficiency of each truth bin (column sums)."""
        return self.matrices.sum(axis=1)

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_events(
        cls,
        truth_index: Any,
        reco_index: Any,
        *,
        n_truth: int,
        n_reco: int,
        weights: Any = None,
        universe_weights: Any = None,
        universe_reco_index: Any = None,
        variation_weights: Any = None,
        noise_bins: Sequence[int] = (),
    ) -> ResponseMatrix:
        """Fill a response matrix from simulated events.

        Parameters
        ----------
        truth_index:
            ``(n_events,)`` truth bin of every generated event, in ``[0, n_truth)``.
        reco_index:
            ``(n_events,)`` reco bin, in ``[-1, n_reco)``; ``-1`` = not reconstructed (the
            event still counts in its truth bin's denominator).
        n_truth, n_reco:
            Numbers of truth and reco bins.
        weights:
            ``(n_events,)`` non-negative event weights; ones when ``None``.
        universe_weights:
            ``(n_events, K)`` event weights in each detector universe (replacing ``weights``).
        universe_reco_index:
            ``(n_events, K)`` reco bin of every event in each universe (replacing
            ``reco_index``).
        variation_weights:
            ``(K,)`` weights of the universes; equal when ``None``.
        noise_bins:
            Truth bins whose events are always reconstructed: each column is normalised to the
            sum of its reconstructed weights.
        """
        truth = _bin_indices(truth_index, n_truth, "truth_index", allow_outside=False)
        if truth.ndim != 1:
            raise EventsError(
                f"ResponseMatrix.from_events: truth_index must have shape (n_events,), got {truth.shape}"
            )
        n_events = truth.shape[0]
        if universe_weights is not None and weights is not None:
            raise EventsError(
                "ResponseMatrix.from_events: give either weights or universe_weights, not both "
                "(universe_weights are the full event weights in each universe)"
            )
        if universe_weights is None:
            event_weights = np.ones(n_events) if weights is None else np.asarray(weights, float)
            event_weights = _per_event(event_weights, n_events, "weights", per_universe=False)
        else:
            event_weights = _per_event(
                np.asarray(universe_weights, float), n_events, "universe_weights", per_universe=True
            )
        _check_finite_non_negative(event_weights, "event weights", EventsError)
        if universe_reco_index is None:
            reco = _bin_indices(reco_index, n_reco, "reco_index", allow_outside=True)
            reco = _per_event(reco, n_events, "reco_index", per_universe=False)
        else:
            reco = _bin_indices(
                universe_reco_index, n_reco, "universe_reco_index", allow_outside=True
            )
            reco = _per_event(reco, n_events, "universe_reco_index", per_universe=True)
        n_variations = max(event_weights.shape[1], reco.shape[1])
        for name, array in (("universe_weights", event_weights), ("universe_reco_index", reco)):
            if array.shape[1] not in (1, n_variations):
                raise EventsError(
                    f"ResponseMatrix.from_events: {name} has {array.shape[1]} universes, the other "
                    f"per-universe input has {n_variations}"
                )
        event_weights, reco = np.broadcast_arrays(event_weights, reco)  # (n_events, K)

        # one flat cell index (universe, reco, truth) per (event, universe): a single bincount
        universe = np.broadcast_to(np.arange(n_variations), reco.shape)
        truth_column = np.broadcast_to(truth[:, np.newaxis], reco.shape)
        shape = (n_variations, n_reco, n_truth)
        reconstructed = reco >= 0
        cell = np.ravel_multi_index(
            (universe[reconstructed], reco[reconstructed], truth_column[reconstructed]), shape
        )
        cell_weights = event_weights[reconstructed]
        size = int(np.prod(shape))
        sumw = np.bincount(cell, cell_weights, minlength=size).reshape(shape)
        sumw2 = np.bincount(cell, cell_weights**2, minlength=size).reshape(shape)
        truth_cell = (universe * n_truth + truth[:, None]).ravel()
        truth_sumw = np.bincount(
            truth_cell, event_weights.ravel(), minlength=n_variations * n_truth
        ).reshape(n_variations, n_truth)

        noise = _noise_mask(noise_bins, n_truth)
        denominator = np.where(noise, sumw.sum(axis=1), truth_sumw)  # (K, n_truth)
        with np.errstate(invalid="ignore", divide="ignore"):
            matrices = np.where(denominator[:, None, :] > 0, sumw / denominator[:, None, :], 0.0)
        return cls(
            matrices=matrices,
            weights=_variation_weights(variation_weights, n_variations),
            truth_entries=np.bincount(truth, minlength=n_truth).astype(float),
            sumw=sumw,
            sumw2=sumw2,
            truth_sumw=truth_sumw,
            noise_bins=tuple(np.flatnonzero(noise)),
        )

    @classmethod
    def from_remu_npz(cls, path: str | PathLike[str]) -> ResponseMatrix:
        """Read a response matrix exported by ReMU (``ResponseMatrix.export``-style ``.npz``).

        Keys: ``matrices`` ``(K, n_reco, n_stored)``, ``truth_entries`` ``(n_truth,)``,
        ``sparse_indices`` (the truth bin of each stored column; columns not stored are zero),
        ``is_sparse``, optional ``weights`` ``(K,)`` (equal when missing).
        """
        try:
            with np.load(path, allow_pickle=False) as archive:
                contents = {key: archive[key] for key in archive.files}
        except (OSError, ValueError, zipfile.BadZipFile) as error:
            raise PredictorError(f"cannot read response matrix file {str(path)!r}: {error}") from None
        for key in ("matrices", "truth_entries"):
            if key not in contents:
                raise PredictorError(
                    f"response matrix file {str(path)!r} has no key {key!r}; keys: {sorted(contents)}"
                )
        stored = np.asarray(contents["matrices"], dtype=float)
        if stored.ndim == 2:
            stored = stored[np.newaxis]
        if stored.ndim != 3:
            raise PredictorError(
                f"{str(path)!r}: 'matrices' must have shape (K, n_reco, n_truth), got {stored.shape}"
            )
        truth_entries = np.asarray(contents["truth_entries"])
        n_truth = truth_entries.shape[0]
        is_sparse = bool(contents.get("is_sparse", False))
        if is_sparse:
            if "sparse_indices" not in contents:
                raise PredictorError(f"{str(path)!r}: is_sparse is set but 'sparse_indices' is missing")
            columns = np.asarray(contents["sparse_indices"])
        else:
            columns = np.arange(stored.shape[2])
        if (
            columns.shape != (stored.shape[2],)
            or (columns.size and (columns.min() < 0 or columns.max() >= n_truth))
            or np.unique(columns).size != columns.size
        ):
            raise PredictorError(
                f"{str(path)!r}: 'sparse_indices' must list {stored.shape[2]} distinct truth bins in "
                f"[0, {n_truth}) (one per stored column), got shape {columns.shape}"
            )
        matrices = np.zeros(stored.shape[:2] + (n_truth,))
        matrices[:, :, columns] = stored
        weights = contents.get("weights")
        return cls(
            matrices=matrices,
            weights=_variation_weights(weights, stored.shape[0]),
            truth_entries=truth_entries,
        )

    # ------------------------------------------------------------------ use
    def predictor(
        self,
        *,
        constant: Any = None,
        parameter: str = "truth",
        lower: float = 0.0,
        name: str = "response",
        labels: Sequence[str] | None = None,
    ) -> MatrixPredictor:
        """A :class:`~bayesfit.predictors.matrix.MatrixPredictor` ``R[k] @ truth + constant``."""
        from bayesfit.predictors.matrix import MatrixPredictor

        return MatrixPredictor(
            self.matrices,
            constant=constant,
            variation_weights=self.weights,
            parameter=parameter,
            lower=lower,
            name=name,
            labels=labels,
        )


def _check_finite_non_negative(
    array: np.ndarray, name: str, error: type[Exception] = PredictorError
) -> None:
    bad = ~np.isfinite(array) | (array < 0)
    if bad.any():
        where = tuple(int(i[0]) for i in np.nonzero(bad))
        raise error(
            f"ResponseMatrix: {name} must be finite and non-negative; entry {where} is "
            f"{float(array[where])!r} ({int(bad.sum())} bad entr{'y' if bad.sum() == 1 else 'ies'})"
        )


def _bin_indices(index: Any, n_bins: int, name: str, *, allow_outside: bool) -> np.ndarray:
    index = np.asarray(index)
    if not np.issubdtype(index.dtype, np.integer):
        raise EventsError(f"ResponseMatrix.from_events: {name} must hold integers, got {index.dtype}")
    low = -1 if allow_outside else 0
    bad = (index < low) | (index >= n_bins)
    if bad.any():
        where = tuple(int(i[0]) for i in np.nonzero(bad))
        raise EventsError(
            f"ResponseMatrix.from_events: {name}{list(where)} = {index[where]} is outside "
            f"[{low}, {n_bins - 1}] ({int(bad.sum())} bad entries)"
        )
    return index.astype(np.int64)


def _per_event(array: np.ndarray, n_events: int, name: str, *, per_universe: bool) -> np.ndarray:
    """``array`` as ``(n_events, K)`` (``K = 1`` unless ``per_universe``), checking its shape."""
    if per_universe and array.ndim == 1:
        array = array[:, np.newaxis]
    expected_ndim = 2 if per_universe else 1
    if array.ndim != expected_ndim or array.shape[0] != n_events:
        expected = f"({n_events}, K)" if per_universe else f"({n_events},)"
        raise EventsError(
            f"ResponseMatrix.from_events: {name} has shape {array.shape}, expected {expected} "
            "(one row per event, like truth_index)"
        )
    return array.reshape(n_events, -1)


def _noise_mask(noise_bins: Sequence[int], n_truth: int) -> np.ndarray:
    """Boolean ``(n_truth,)`` mask of the noise bins, which must be valid truth bins."""
    bins = np.asarray(noise_bins, dtype=np.int64).reshape(-1)
    bad = bins[(bins < 0) | (bins >= n_truth)]
    if bad.size:
        raise PredictorError(
            f"ResponseMatrix: noise bins {bad.tolist()} are outside the {n_truth} truth bins"
        )
    mask = np.zeros(n_truth, dtype=bool)
    mask[bins] = True
    return mask


def _variation_weights(weights: Any, n_variations: int) -> np.ndarray:
    if weights is None:
        return np.ones(n_variations)
    weights = np.asarray(weights, dtype=float)
    if weights.shape != (n_variations,):
        raise PredictorError(
            f"ResponseMatrix: variation weights have shape {weights.shape}, expected "
            f"({n_variations},) (one per universe)"
        )
    return weights
