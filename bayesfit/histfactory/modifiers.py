"""HistFactory modifiers as a few vectorised PyTensor operations.

All samples are stacked into one array of nominal rates of shape ``(n_samples, n_bins)``, where
``n_bins`` runs over all channels (sorted by name, as pyhf) and ``n_samples`` over the distinct
sample names (a sample missing from a channel has zero rate there). The expected rate per bin is

.. math::  \\nu_b = \\sum_s \\left(\\nu^0_{sb} + \\sum_{h} \\Delta_{hsb}(\\alpha_h)\\right)
           \\prod_{n} f_{ns}(\\alpha_n) \\prod_{k} \\theta_{k(s,b)}

with histosys shifts ``Delta`` (code 0 or 4p), normsys factors ``f`` (code 1 or 4) and direct
factors ``theta`` (normfactor, shapefactor, lumi, staterror, shapesys). Each family is one gather
from the flat parameter vector through index arrays built once, from the workspace, here: histosys
shifts and normsys log-factors are scattered onto their bins by one indexed increment each, direct
factors (which may be zero) are multiplied in a few layers of non-overlapping modifiers.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from functools import reduce
from operator import mul
from typing import Any

import numpy as np
import pytensor.tensor as pt

from bayesfit import interpolation
from bayesfit.errors import WorkspaceError

__all__ = ["ParameterSet", "ModifierLayout", "build_layout"]

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
    def expected_by_sample(self, theta: pt.TensorVariable) -> pt.TensorVariable:
        """Expected rates per sample and bin, shape ``(n_samples, n_bins)``, from the flat ``theta``."""
        rates = pt.as_tensor_variable(self.nominal)
        if len(self.histosys_parameter):
            shifts = interpolation.additive_shift(
                theta[self.histosys_parameter], self.histosys_nominal, self.histosys_down,
                self.histosys_up, self.histosys_code,
            )
            flat = pt.zeros(self.nominal.size)[self.histosys_target].inc(shifts)
            rates = rates + flat.reshape(self.nominal.shape)
        if len(self.normsys_parameter):
            factors = interpolation.multiplicative_factor(
                theta[self.normsys_parameter], np.ones_like(self.normsys_up), self.normsys_down,
                self.normsys_up, self.normsys_code,
            )
            # factors are > 0: multiply them as a sum of logs, scattered onto their bins
            log_factors = pt.zeros(self.nominal.size)[self.normsys_target].inc(pt.log(factors)[self.normsys_source])
            rates = rates * pt.exp(log_factors).reshape(self.nominal.shape)
        if self.factor_index.shape[0]:
            rates = rates * _layered_product(pt.concatenate([theta, pt.ones(1)]), self.factor_index)
        return rates


def _layered_product(values: pt.TensorVariable, index: np.ndarray) -> pt.TensorVariable:
    """``prod_l values[index[l]]``: a few multiplications, one per layer of overlapping modifiers."""
    gathered = values[index]
    return reduce(mul, (gathered[layer] for layer in range(index.shape[0])))


def _layer_index(targets: np.ndarray, sources: np.ndarray, shape: tuple[int, int], fill: int) -> np.ndarray:
    """Stack ``sources`` at flat ``targets`` into layers so that no layer repeats a target."""
    order = np.argsort(targets, kind="stable")
    targets, sources = targets[order], sources[order]
    first = np.r_[True, targets[1:] != targets[:-1]]
    group_start = np.maximum.accumulate(np.where(first, np.arange(len(targets)), 0))
    layer = np.arange(len(targets)) - group_start
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
