"""HistFactory modifiers as a few vectorised PyTensor operations.

All samples are stacked into one array of nominal rates of shape ``(n_samples, n_bins)``, where
``n_bins`` runs over all channels (sorted by name, as pyhf) and ``n_samples`` over the distinct
sample names (a sample missing from a channel has zero rate there). The expected rate per bin is

.. math::  \\nu_b = \\sum_s \\left(\\nu^0_{sb} + \\sum_{h} \\Delta_{hsb}(\\alpha_h)\\right)
           \\prod_{n} f_{ns}(\\alpha_n) \\prod_{k} \\theta_{k(s,b)}

with histosys shifts ``Delta`` (code 0 or 4p), normsys factors ``f`` (code 1 or 4) and direct
factors ``theta`` (normfactor, shapefactor, lumi, staterror, shapesys). The layout keeps, per
family, index arrays built once from the workspace (which parameter acts on which sample and bin;
direct factors, which may be zero, in a few layers of non-overlapping modifiers).

The graph has no scatter (indexed increment) and no gather with repeated indices: their gradients
are scatter-adds, which PyTensor runs in C for vectors only, so a graph vectorised over toys
(:mod:`bayesfit.inference.batched`) spent most of its time in numpy's ``add.at``. Every sum onto
bins is a product with a constant matrix instead (:class:`DenseSums`, built once per layout):

* histosys: the additive codes are linear in the templates, ``shift = phi_up(alpha) delta_up +
  phi_down(alpha) delta_down`` with ``phi`` the code at unit templates, so each parameter's
  ``delta`` templates are summed per (sample, bin) once and the shifts are two products
  ``phi (n_alpha,) @ delta (n_alpha, n_samples * n_bins)``;
* normsys: one factor per (parameter, group of bins), a group the bins one modifier of one sample
  covers; log-factors of an ``(n_layers, n_alpha, n_groups)`` array (ratio 1, factor 1, where no
  modifier is) summed over parameters and layers, then spread onto bins by a 0/1 matrix;
* direct factors: each layer's gather from the flat parameter vector is a product with a 0/1
  matrix plus 1 where the layer has no factor.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from functools import cached_property, reduce
from operator import mul
from typing import Any

import numpy as np
import pytensor.tensor as pt

from bayesfit import interpolation
from bayesfit.errors import WorkspaceError

__all__ = ["DenseSums", "ModifierLayout", "ParameterSet", "build_layout"]

FACTOR_TYPES = ("normfactor", "shapefactor", "lumi", "staterror", "shapesys")


@dataclass
class ParameterSet:
    """One named parameter of the workspace (a scalar or one entry per bin).

    Attributes
    ----------
    name, kind:
        Parameter name and modifier type that declares it.
    size:
        Number of entries (1 for scalar modifiers; bins for staterror/shapesys/shapefactor).
    inits, bounds, fixed:
        Starting values ``(size,)``, bounds ``(size, 2)`` and fixed flags ``(size,)``.
    constraint:
        ``"normal"``, ``"poisson"`` or ``None`` (free parameter).
    auxdata, sigmas, factors:
        Auxiliary measurements ``(size,)``; Gaussian widths (normal); Poisson scale ``tau``
        (poisson, the constraint is ``Poisson(aux | tau * theta)``).
    """

    name: str
    kind: str
    size: int
    inits: np.ndarray
    bounds: np.ndarray
    fixed: np.ndarray
    constraint: str | None
    auxdata: np.ndarray | None = None
    sigmas: np.ndarray | None = None
    factors: np.ndarray | None = None
    is_scalar: bool = True
    offset: int = 0

    @property
    def slice(self) -> slice:
        """Position in the flat parameter vector."""
        return slice(self.offset, self.offset + self.size)


def _family(kind: str) -> str:
    """Modifier types that may share one parameter: normsys and histosys (both a Gaussian alpha)."""
    return "alpha" if kind in ("normsys", "histosys") else kind


def _default_set(name: str, kind: str, size: int) -> ParameterSet:
    ones, zeros = np.ones(size), np.zeros(size)
    fixed = np.zeros(size, dtype=bool)
    if kind in ("normfactor", "shapefactor"):
        return ParameterSet(name, kind, size, ones, np.tile([0.0, 10.0], (size, 1)), fixed, None,
                            is_scalar=kind == "normfactor")
    if kind in ("normsys", "histosys"):
        return ParameterSet(name, kind, 1, zeros, np.array([[-5.0, 5.0]]), fixed, "normal",
                            auxdata=zeros, sigmas=ones)
    if kind == "lumi":  # inits, bounds, auxdata and sigmas come from the measurement
        nan = np.full(1, np.nan)
        return ParameterSet(name, kind, 1, nan, np.full((1, 2), np.nan), fixed, "normal",
                            auxdata=nan, sigmas=nan)
    constraint = "normal" if kind == "staterror" else "poisson"
    return ParameterSet(name, kind, size, ones, np.tile([1e-10, 10.0], (size, 1)), fixed, constraint,
                        auxdata=ones.copy(), sigmas=ones.copy() if constraint == "normal" else None,
                        factors=None if constraint == "normal" else ones.copy(), is_scalar=False)


@dataclass
class ModifierLayout:
    """Nominal rates, parameter sets and the index arrays of every modifier family.

    Built once by :func:`build_layout`; :meth:`expected_by_sample` turns it into a graph.
    """

    channel_names: list[str]
    channel_slices: dict[str, slice]
    sample_names: list[str]
    nominal: np.ndarray  # (n_samples, n_bins)
    parameter_sets: list[ParameterSet]
    factor_index: np.ndarray  # (n_layers, n_samples, n_bins) into [theta, 1]
    normsys_parameter: np.ndarray  # (n_normsys,) index into theta
    normsys_down: np.ndarray  # (n_normsys,) lo ratio
    normsys_up: np.ndarray  # (n_normsys,) hi ratio
    normsys_target: np.ndarray  # (n_entries,) flat index sample * n_bins + bin
    normsys_source: np.ndarray  # (n_entries,) index into the normsys factors
    histosys_parameter: np.ndarray  # (n_entries,) index into theta
    histosys_target: np.ndarray  # (n_entries,) flat index sample * n_bins + bin
    histosys_nominal: np.ndarray
    histosys_down: np.ndarray
    histosys_up: np.ndarray
    normsys_code: str = "4"
    histosys_code: str = "4p"
    sources: dict[str, str] = field(default_factory=dict)  # parameter name -> JSON path of first use

    @property
    def n_bins(self) -> int:
        return int(self.nominal.shape[1])

    @property
    def n_parameters(self) -> int:
        return sum(p.size for p in self.parameter_sets)

    # ------------------------------------------------------------------ graphs
    @cached_property
    def dense(self) -> DenseSums:
        """The constant matrices of :meth:`expected_by_sample` (built on first use)."""
        return DenseSums.from_layout(self)

    def expected_by_sample(self, theta: pt.TensorVariable) -> pt.TensorVariable:
        """Expected rates per sample and bin, shape ``(n_samples, n_bins)``, from the flat ``theta``."""
        dense = self.dense
        flat = pt.as_tensor_variable(self.nominal.ravel())
        if dense.histosys_select.shape[1]:
            alpha = pt.dot(theta, dense.histosys_select)
            up = interpolation.additive_shift(alpha, 0.0, 0.0, 1.0, self.histosys_code)  # phi_up
            down = interpolation.additive_shift(alpha, 0.0, -1.0, 0.0, self.histosys_code)  # phi_down
            flat = flat + pt.dot(up, dense.histosys_up) + pt.dot(down, dense.histosys_down)
        if dense.normsys_select.shape[1]:
            alpha = pt.dot(theta, dense.normsys_select).dimshuffle("x", 0, "x")
            factors = interpolation.multiplicative_factor(alpha, np.ones_like(dense.normsys_up), dense.normsys_down,
                                                          dense.normsys_up, self.normsys_code)
            # factors are > 0: multiply them as a sum of logs per group, spread onto its bins
            flat = flat * pt.exp(pt.dot(pt.log(factors).sum(axis=(0, 1)), dense.normsys_groups))
        if dense.factor_select.shape[1]:
            values = pt.dot(theta, dense.factor_select)
            flat = flat * reduce(mul, (pt.dot(values, layer) + missing
                                       for layer, missing in zip(dense.factor_layers, dense.factor_missing)))
        return flat.reshape(self.nominal.shape)


@dataclass(frozen=True)
class DenseSums:
    """Constant matrices that put every modifier family onto the flat (sample, bin) axis of
    ``n_targets = n_samples * n_bins`` by products (see the module docstring); ``n_parameters``
    rows select from the flat parameter vector.

    Attributes
    ----------
    histosys_select:
        ``(n_parameters, n_alpha)`` 0/1: the histosys parameters.
    histosys_up, histosys_down:
        ``(n_alpha, n_targets)``: summed ``up - nominal`` and ``nominal - down`` templates.
    normsys_select:
        ``(n_parameters, n_alpha)`` 0/1: the normsys parameters.
    normsys_up, normsys_down:
        ``(n_layers, n_alpha, n_groups)``: ratios of each modifier (1 where none); a layer holds
        at most one modifier per parameter and group.
    normsys_groups:
        ``(n_groups, n_targets)`` 0/1: the bins of each group.
    factor_select:
        ``(n_parameters, n_factors)`` 0/1: the parameters of direct factors.
    factor_layers, factor_missing:
        ``(n_layers, n_factors, n_targets)`` 0/1 and ``(n_layers, n_targets)``: the factor of each
        target in each layer, 1 in ``factor_missing`` where the layer has none.
    """

    histosys_select: np.ndarray
    histosys_up: np.ndarray
    histosys_down: np.ndarray
    normsys_select: np.ndarray
    normsys_up: np.ndarray
    normsys_down: np.ndarray
    normsys_groups: np.ndarray
    factor_select: np.ndarray
    factor_layers: np.ndarray
    factor_missing: np.ndarray

    @classmethod
    def from_layout(cls, layout: ModifierLayout) -> DenseSums:
        """The matrices of ``layout``'s index arrays."""
        n_parameters, n_targets = layout.n_parameters, layout.nominal.size

        # histosys: templates of one parameter summed per target (the codes are linear in them)
        alphas, rows = np.unique(layout.histosys_parameter, return_inverse=True)
        histosys_up = np.zeros((alphas.size, n_targets))
        histosys_down = np.zeros((alphas.size, n_targets))
        np.add.at(histosys_up, (rows, layout.histosys_target), layout.histosys_up - layout.histosys_nominal)
        np.add.at(histosys_down, (rows, layout.histosys_target), layout.histosys_nominal - layout.histosys_down)

        # normsys: one cell per (parameter, group of bins), modifiers on one cell in separate layers
        n_normsys = layout.normsys_parameter.size
        order = np.argsort(layout.normsys_source, kind="stable")
        bins_of = np.split(layout.normsys_target[order], np.cumsum(np.bincount(layout.normsys_source,
                                                                                minlength=n_normsys))[:-1])
        group_ids: dict[tuple[int, ...], int] = {}
        groups = np.array([group_ids.setdefault(tuple(np.sort(bins).tolist()), len(group_ids)) for bins in bins_of],
                          dtype=np.int64)
        normsys_alphas, normsys_rows = np.unique(layout.normsys_parameter, return_inverse=True)
        cells = normsys_rows * max(len(group_ids), 1) + groups
        layers = _occurrence(cells)
        n_layers = int(layers.max()) + 1 if n_normsys else 0
        normsys_up = np.ones((n_layers, normsys_alphas.size, len(group_ids)))
        normsys_down = np.ones_like(normsys_up)
        normsys_up[layers, normsys_rows, groups] = layout.normsys_up
        normsys_down[layers, normsys_rows, groups] = layout.normsys_down
        normsys_groups = np.zeros((len(group_ids), n_targets))
        for bins, group in group_ids.items():
            normsys_groups[group, list(bins)] = 1.0

        # direct factors: index n_parameters means "no factor" (1)
        index = layout.factor_index.reshape(layout.factor_index.shape[0], n_targets)
        factors, factor_rows = np.unique(index[index < n_parameters], return_inverse=True)
        factor_layers = np.zeros((index.shape[0], factors.size, n_targets))
        layer_of, target_of = np.nonzero(index < n_parameters)
        factor_layers[layer_of, factor_rows, target_of] = 1.0
        return cls(
            histosys_select=_selection(alphas, n_parameters),
            histosys_up=histosys_up,
            histosys_down=histosys_down,
            normsys_select=_selection(normsys_alphas, n_parameters),
            normsys_up=normsys_up,
            normsys_down=normsys_down,
            normsys_groups=normsys_groups,
            factor_select=_selection(factors, n_parameters),
            factor_layers=factor_layers,
            factor_missing=(index >= n_parameters).astype(float),
        )


def _selection(indices: np.ndarray, size: int) -> np.ndarray:
    """``(size, len(indices))`` 0/1: column ``j`` picks entry ``indices[j]`` of a vector of ``size``."""
    selection = np.zeros((size, len(indices)))
    selection[indices, np.arange(len(indices))] = 1.0
    return selection


def _occurrence(keys: np.ndarray) -> np.ndarray:
    """How many earlier entries of ``keys`` have the same key (0 for the first of each)."""
    order = np.argsort(keys, kind="stable")
    ordered = keys[order]
    first = np.r_[True, ordered[1:] != ordered[:-1]] if ordered.size else np.zeros(0, dtype=bool)
    start = np.maximum.accumulate(np.where(first, np.arange(ordered.size), 0))
    occurrence = np.empty(keys.size, dtype=np.int64)
    occurrence[order] = np.arange(ordered.size) - start
    return occurrence


def _layer_index(targets: np.ndarray, sources: np.ndarray, shape: tuple[int, int], fill: int) -> np.ndarray:
    """Stack ``sources`` at flat ``targets`` into layers so that no layer repeats a target."""
    layer = _occurrence(targets)
    n_layers = int(layer.max()) + 1 if len(layer) else 0
    index = np.full((n_layers, shape[0] * shape[1]), fill, dtype=np.int64)
    index[layer, targets] = sources
    return index.reshape(n_layers, *shape)


def _staterror_sigmas(uses: list[tuple[int, np.ndarray, np.ndarray]], nominal: np.ndarray,
                      coverage: np.ndarray) -> np.ndarray:
    """Relative staterror per covered bin: sqrt(sum_s uncertainty_s^2) / sum_s nominal_s."""
    nominal_sum = np.zeros(nominal.shape[1])
    squared = np.zeros(nominal.shape[1])
    for sample, bins, uncertainty in uses:
        nominal_sum[bins] += nominal[sample, bins]
        squared[bins] += uncertainty**2
    with np.errstate(divide="ignore", invalid="ignore"):
        relative = np.where(nominal_sum > 0, np.sqrt(squared) / np.where(nominal_sum > 0, nominal_sum, 1), 0.0)
    return relative[coverage]


def build_layout(spec: dict[str, Any], normsys_code: str = "4", histosys_code: str = "4p") -> ModifierLayout:
    """Index arrays and parameter sets of a validated workspace ``spec`` (see module docstring)."""
    for code, allowed, kind in ((normsys_code, interpolation.MULTIPLICATIVE_CODES, "normsys"),
                                (histosys_code, interpolation.ADDITIVE_CODES, "histosys")):
        if str(code).removeprefix("code") not in allowed:
            raise WorkspaceError(f"{kind} interpolation code {code!r} is not supported; choose one of {sorted(allowed)}")
    normsys_code = str(normsys_code).removeprefix("code")
    histosys_code = str(histosys_code).removeprefix("code")

    positions = {channel["name"]: c for c, channel in enumerate(spec["channels"])}
    channel_names = sorted(positions)
    sample_names = sorted({s["name"] for channel in spec["channels"] for s in channel["samples"]})
    sample_index = {name: i for i, name in enumerate(sample_names)}
    channel_slices, start = {}, 0
    for name in channel_names:
        n = len(spec["channels"][positions[name]]["samples"][0]["data"])
        channel_slices[name] = slice(start, start + n)
        start += n
    nominal = np.zeros((len(sample_names), start))

    kinds: dict[str, str] = {}
    sources: dict[str, str] = {}
    sizes: dict[str, int] = {}
    factor_uses: list[tuple[int, np.ndarray, str, np.ndarray]] = []  # sample, bins, name, local index
    staterror_uses: dict[str, list[tuple[int, np.ndarray, np.ndarray]]] = defaultdict(list)
    shapesys_uses: dict[str, tuple[int, np.ndarray, np.ndarray]] = {}
    normsys_uses: list[tuple[int, np.ndarray, str, float, float, str]] = []
    histosys_uses: list[tuple[int, np.ndarray, str, np.ndarray, np.ndarray]] = []

    for channel_name in channel_names:
        c = positions[channel_name]
        bins = np.arange(channel_slices[channel_name].start, channel_slices[channel_name].stop)
        for s, sample in enumerate(spec["channels"][c]["samples"]):
            sample_id = sample_index[sample["name"]]
            nominal[sample_id, bins] = sample["data"]
            for m, modifier in enumerate(sample["modifiers"]):
                path = f"channels[{c}].samples[{s}].modifiers[{m}]"
                name, kind, data = modifier["name"], modifier["type"], modifier["data"]
                if _family(kinds.setdefault(name, kind)) != _family(kind):
                    raise WorkspaceError(
                        f"{path}.type: parameter {name!r} is a {kinds[name]} at {sources[name]} "
                        f"but a {kind} here; use distinct modifier names"
                    )
                sources.setdefault(name, path)
                if kind in ("normfactor", "lumi"):
                    factor_uses.append((sample_id, bins, name, np.zeros(len(bins), dtype=np.int64)))
                elif kind == "shapefactor":
                    if sizes.setdefault(name, len(bins)) != len(bins):
                        raise WorkspaceError(
                            f"{path}: shapefactor {name!r} has {sizes[name]} bins at {sources[name]} "
                            f"but this channel has {len(bins)}"
                        )
                    factor_uses.append((sample_id, bins, name, np.arange(len(bins))))
                elif kind == "staterror":
                    staterror_uses[name].append((sample_id, bins, np.asarray(data, dtype=float)))
                elif kind == "shapesys":
                    if name in shapesys_uses:
                        raise WorkspaceError(
                            f"{path}.name: shapesys {name!r} is already used at {sources[name]}; "
                            "a shapesys modifier belongs to one sample"
                        )
                    shapesys_uses[name] = (sample_id, bins, np.asarray(data, dtype=float))
                    factor_uses.append((sample_id, bins, name, np.arange(len(bins))))
                elif kind == "normsys":
                    if not (data["hi"] > 0 and data["lo"] > 0):
                        raise WorkspaceError(
                            f"{path}.data: normsys factors must be > 0 for code {normsys_code}, "
                            f"got hi={data['hi']}, lo={data['lo']}"
                        )
                    normsys_uses.append((sample_id, bins, name, float(data["hi"]), float(data["lo"]), path))
                else:  # histosys
                    histosys_uses.append((sample_id, bins, name, np.asarray(data["hi_data"], float),
                                          np.asarray(data["lo_data"], float)))

    # ---- parameter sets, sorted by name
    parameter_sets: dict[str, ParameterSet] = {}
    staterror_coverage: dict[str, np.ndarray] = {}
    for name in sorted(kinds):
        kind = kinds[name]
        if kind == "staterror":
            coverage = np.unique(np.concatenate([bins for _, bins, _ in staterror_uses[name]]))
            staterror_coverage[name] = coverage
            parameter = _default_set(name, kind, len(coverage))
            sigmas = _staterror_sigmas(staterror_uses[name], nominal, coverage)
            parameter.fixed = sigmas == 0
            parameter.sigmas = np.where(sigmas == 0, 1.0, sigmas)
        elif kind == "shapesys":
            sample_id, bins, uncertainty = shapesys_uses[name]
            rates = nominal[sample_id, bins]
            valid = (rates > 0) & (uncertainty > 0)
            tau = np.where(valid, rates**2 / np.where(valid, uncertainty, 1.0) ** 2, 1.0)
            parameter = _default_set(name, kind, len(bins))
            parameter.fixed, parameter.auxdata, parameter.factors = ~valid, tau.copy(), tau
        else:
            parameter = _default_set(name, kind, sizes.get(name, 1))
        parameter_sets[name] = parameter
    offset = 0
    for parameter in parameter_sets.values():
        parameter.offset = offset
        offset += parameter.size
    n_parameters = offset
    shape = nominal.shape

    # ---- direct factors
    targets, thetas = [], []
    for sample_id, bins, name, local in factor_uses:
        targets.append(sample_id * shape[1] + bins)
        thetas.append(parameter_sets[name].offset + local)
    for name, uses in staterror_uses.items():
        position = {int(b): i for i, b in enumerate(staterror_coverage[name])}
        for sample_id, bins, _ in uses:
            targets.append(sample_id * shape[1] + bins)
            thetas.append(parameter_sets[name].offset + np.array([position[int(b)] for b in bins]))
    factor_index = _layer_index(_concat(targets), _concat(thetas), shape, fill=n_parameters)

    # ---- normsys: one factor per (modifier, sample), spread over the channel's bins

    return ModifierLayout(
        channel_names=channel_names,
        channel_slices=channel_slices,
        sample_names=sample_names,
        nominal=nominal,
        parameter_sets=list(parameter_sets.values()),
        factor_index=factor_index,
        normsys_parameter=np.array([parameter_sets[u[2]].offset for u in normsys_uses], dtype=np.int64),
        normsys_up=np.array([u[3] for u in normsys_uses]),
        normsys_down=np.array([u[4] for u in normsys_uses]),
        normsys_target=_concat([sample_id * shape[1] + bins for sample_id, bins, *_ in normsys_uses]),
        normsys_source=_concat([np.full(len(u[1]), i) for i, u in enumerate(normsys_uses)]),
        histosys_parameter=_concat([np.full(len(u[1]), parameter_sets[u[2]].offset) for u in histosys_uses]),
        histosys_target=_concat([u[0] * shape[1] + u[1] for u in histosys_uses]),
        histosys_nominal=_concat([nominal[u[0], u[1]] for u in histosys_uses], float),
        histosys_up=_concat([u[3] for u in histosys_uses], float),
        histosys_down=_concat([u[4] for u in histosys_uses], float),
        normsys_code=normsys_code,
        histosys_code=histosys_code,
        sources=sources,
    )


def _concat(arrays: list[np.ndarray], dtype: Any = np.int64) -> np.ndarray:
    return np.concatenate(arrays).astype(dtype) if arrays else np.zeros(0, dtype=dtype)
