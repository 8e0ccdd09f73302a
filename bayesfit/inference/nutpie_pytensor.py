"""nutpie's NUTS on PyTensor's compiled C functions, chains in parallel processes.

nutpie's own compilation of a ``pm.Model`` (``nutpie.compile_pymc_model``) translates the log
density to numba at every run: about 7 s before the first draw on a 4-parameter model, whatever
the compile cache holds. Here nutpie's Rust sampler calls PyTensor functions of the default (C)
backend, which come from the compile cache, through ``nutpie.compiled_pyfunc.from_pyfunc``:

* :func:`objective_nutpie_model`: the model's own ``-ln posterior`` in natural units, the MAP
  :class:`~bayesfit.inference.objective.Objective`, whose compiled function is the one the fits
  use (no C module and no graph rewriting of its own), sampled in unconstrained coordinates ``y``
  per entry: ``theta = lower + (upper - lower) sigmoid(y)`` between two finite bounds,
  ``lower + exp(y)`` or ``upper - exp(y)`` with one, ``y`` with none, the log Jacobian added (in
  numpy, about 10 microseconds per call). Used where that is the posterior the ``pm.Model``
  samples, with every free variable sampled as itself (:func:`samples_natural_entries`);
* :func:`pytensor_nutpie_model`: any ``pm.Model``, its log density and gradient in PyMC's value
  variables (joined into one vector) and the map to the traced variables; the density, the
  coordinates and the start points are exactly those of PyMC's own NUTS on it.

A Python callback holds the GIL, so chains run in parallel only in separate processes: each chain
is one ``nutpie.sample`` call with its own seed (from ``numpy.random.SeedSequence(seed)``), so
draws depend on the seed and the chain only, not on how chains are spread over processes.
Processes are forked from the caller, which has compiled the functions once
(:mod:`bayesfit.forking`; where ``fork`` is not available, macOS and Windows, the chains run one
after the other).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
from scipy.special import expit

from bayesfit.errors import ModelError
from bayesfit.forking import forked_imap
from bayesfit.inference.objective import Objective
from bayesfit.model import BinnedModel

__all__ = ["chain_seeds", "objective_nutpie_model", "pytensor_nutpie_model", "sample_chains",
           "samples_natural_entries"]

logger = logging.getLogger(__name__)

#: Largest ``y`` of ``exp(y)`` in the maps (``exp(709)`` is the largest finite double): beyond
#: it ``theta`` is past any bound anyway.
EXP_MAX = 700.0

#: The compiled nutpie model of the sampling in progress, inherited by forked chain processes.
_FORKED: dict[str, Any] = {}


def samples_natural_entries(model: BinnedModel) -> bool:
    """Whether the ``pm.Model`` of ``model`` samples its posterior in the free entries
    themselves, so that the MAP objective is the density to sample: no auxiliary measurements
    (the ``pm.Model`` samples standardised pulls), hyperparameters (adaptive non-centred maps),
    throws or sampled Barlow-Beeston scales (variables of their own), and no terms added to the
    ``pm.Model`` by hand (NUTS samples them, the objective does not see them)."""
    if model.constraints or model.hyperparameters or model.throws or model.likelihood == "barlow-beeston-sampled":
        return False
    try:
        model.check_pymc_unchanged()
    except ModelError:
        return False
    return True


def objective_nutpie_model(objective: Objective, jitter: bool = True) -> Any:
    """A nutpie model (``from_pyfunc``) of the MAP objective ``objective`` in unconstrained
    coordinates (see the module docstring): the objective's own compiled function (for HESE the
    one the fits use) at the natural values of ``y``, and the chain rule and the log Jacobian of
    the map in numpy. Chains start at the model's start values, with PyMC's U(-1, 1) jitter in
    ``y`` if ``jitter``."""
    if objective.kind != "map":
        raise ModelError(f"NUTS samples the posterior: a kind='map' objective is needed, got {objective.kind!r}")
    data = objective.data()
    transform = _Transform(objective.lower, objective.upper)
    start = transform.to_unconstrained(objective.pack(objective.model.start_point()))
    variables = list(objective.parameters)

    def logp_and_grad(y: np.ndarray) -> tuple[float, np.ndarray]:
        theta, slope, log_jacobian, log_jacobian_gradient = transform.forward(y)
        value, gradient = objective._value_and_grad(theta, data.main, data.aux)
        return log_jacobian - value, log_jacobian_gradient - slope * gradient

    def expand(point: np.ndarray) -> list[np.ndarray]:
        values = objective.unpack(transform.forward(point)[0])
        return [values[p.name] for p in variables]

    def initial_point(seed: int) -> np.ndarray:
        offset = np.random.default_rng(seed).uniform(-1.0, 1.0, start.size) if jitter else 0.0
        return start + offset

    return _pyfunc_model(
        objective.size, logp_and_grad, expand, initial_point,
        [p.name for p in variables], [p.shape for p in variables],
        {p.name: tuple(p.dims) for p in variables if p.dims}, objective.model.coords,
    )


class _Transform:
    """Entry-wise maps between natural values ``theta`` within ``[lower, upper]`` and
    unconstrained ``y`` (see the module docstring), as ``theta = offset + width * sigmoid(y) +
    sign * exp(y) + free * y`` with per-entry coefficients that select the map."""

    def __init__(self, lower: np.ndarray, upper: np.ndarray) -> None:
        self.lower, self.upper = np.asarray(lower, dtype=float), np.asarray(upper, dtype=float)
        finite_lower, finite_upper = np.isfinite(self.lower), np.isfinite(self.upper)
        interval = finite_lower & finite_upper
        self.interval = interval.astype(float)
        self.one_bound = (finite_lower ^ finite_upper).astype(float)
        self.free = (~finite_lower & ~finite_upper).astype(float)
        #: coefficients of sigmoid(y) and exp(y) in theta
        self.width = np.where(interval, self.upper - self.lower, 0.0)
        self.sign = np.where(finite_lower, 1.0, -1.0) * self.one_bound
        self.offset = np.where(finite_lower, self.lower, np.where(finite_upper, self.upper, 0.0))
        self.log_width = float(np.log(self.width[interval]).sum())

    def forward(self, y: np.ndarray) -> tuple[np.ndarray, np.ndarray, float, np.ndarray]:
        """At ``y`` (``(n,)``): ``theta``, ``d theta / d y`` entry-wise, the log Jacobian
        ``sum log |d theta / d y|`` and its gradient in ``y``."""
        fraction = expit(y)
        complement = 1.0 - fraction
        exponential = self.sign * np.exp(np.minimum(y, EXP_MAX))
        theta = self.offset + self.width * fraction + exponential + self.free * y
        density = fraction * complement  # d sigmoid / d y, 0 only beyond |y| ~ 745
        slope = self.width * density + exponential + self.free
        log_jacobian = (self.log_width + self.interval @ np.log(np.maximum(density, np.finfo(float).tiny))
                        + self.one_bound @ y)
        log_jacobian_gradient = self.interval * (complement - fraction) + self.one_bound
        # rounding may put lower + width * sigmoid(y) an ulp beyond the upper bound
        return np.minimum(np.maximum(theta, self.lower), self.upper), slope, float(log_jacobian), log_jacobian_gradient

    def to_unconstrained(self, theta: np.ndarray) -> np.ndarray:
        """``y`` of values inside the bounds (values on a bound are moved inside by 1e-6 of the
        width, or to 1e-300 beyond a single bound)."""
        theta = np.asarray(theta, dtype=float)
        fraction = np.clip((theta - self.lower) / np.where(self.interval > 0, self.width, 1.0), 1e-6, 1.0 - 1e-6)
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(self.interval > 0, np.log(fraction) - np.log1p(-fraction),
                            np.where(self.one_bound > 0, np.log(np.maximum(self.sign * (theta - self.offset), 1e-300)),
                                     theta))


def pytensor_nutpie_model(pymc_model: Any, jitter_rvs: set[Any]) -> Any:
    """A nutpie model (``from_pyfunc``) of ``pymc_model`` evaluated by PyTensor's C functions.

    ``jitter_rvs``: the random variables whose start values get PyMC's U(-1, 1) jitter in their
    unconstrained coordinates (the others start at their initial values, e.g. prior draws).
    """
    import pytensor
    from pymc.initial_point import make_initial_point_fn
    from pymc.pytensorf import compile as compile_with_checks
    from pymc.pytensorf import join_nonshared_inputs

    value_vars = pymc_model.value_vars
    initial_point = make_initial_point_fn(model=pymc_model, jitter_rvs=jitter_rvs, return_transformed=True)
    point = initial_point(0)  # the shapes of the value variables
    (logp,), joined = join_nonshared_inputs(point, [pymc_model.logp(jacobian=True)], value_vars)
    logp_and_grad = compile_with_checks([joined], [logp, pytensor.grad(logp, joined)])
    logp_and_grad.trust_input = True

    traced = pymc_model.unobserved_RVs
    names = [variable.name for variable in traced]
    outputs, joined_expand = join_nonshared_inputs(point, pymc_model.replace_rvs_by_values(traced), value_vars)
    expand = compile_with_checks([joined_expand], outputs)
    expand.trust_input = True

    def flat_initial_point(seed: int) -> np.ndarray:
        values = initial_point(seed)
        return np.concatenate([np.ravel(values[v.name]) for v in value_vars]).astype(np.float64)

    start = flat_initial_point(0)
    shapes = [np.shape(value) for value in expand(start)]
    dims = {name: tuple(pymc_model.named_vars_to_dims[name]) for name in names if name in pymc_model.named_vars_to_dims}
    return _pyfunc_model(start.size, logp_and_grad, expand, flat_initial_point, names, shapes, dims, pymc_model.coords)


def _pyfunc_model(size: int, logp_and_grad: Any, expand: Any, initial_point: Any, names: list[str],
                  shapes: list[tuple[int, ...]], dims: Mapping[str, tuple[str, ...]], coords: Mapping[str, Any]) -> Any:
    """nutpie's model of compiled functions: ``logp_and_grad(y) -> (logp, gradient)`` and
    ``expand(y) -> [value of each of names]`` at unconstrained points ``y`` of ``size`` entries,
    ``initial_point(seed) -> y``; the traced variables ``names`` with ``shapes``, ``dims`` of some of them, and
    ``coords`` holding every dimension they use."""
    from nutpie.compiled_pyfunc import from_pyfunc

    def make_logp() -> Any:
        def logp_function(point: np.ndarray) -> tuple[float, np.ndarray]:
            value, gradient = logp_and_grad(point)
            return float(value), np.array(gradient, dtype=np.float64)

        return logp_function

    def make_expand(_seed1: int, _seed2: int, _chain: int) -> Any:
        def expand_function(point: np.ndarray) -> dict[str, np.ndarray]:
            return {name: np.array(value, dtype=np.float64).reshape(shape)
                    for name, value, shape in zip(names, expand(point), shapes)}

        return expand_function

    used = {dim: pd.Index(coords[dim]) for dim in {d for ds in dims.values() for d in ds}}
    return from_pyfunc(size, make_logp, make_expand, [np.dtype(np.float64)] * len(names), shapes, names,
                       coords=used, dims=dict(dims), make_initial_point_fn=initial_point)


def chain_seeds(seed: int | None, chains: int) -> list[int]:
    """One nutpie seed per chain from ``seed`` (``None``: fresh entropy)."""
    return [int(s.generate_state(1, np.uint32)[0]) for s in np.random.SeedSequence(seed).spawn(chains)]


def sample_chains(compiled: Any, *, chains: int, cores: int, seed: int | None, settings: Mapping[str, Any]) -> Any:
    """``chains`` chains of nutpie's NUTS on ``compiled`` (one ``nutpie.sample`` call per chain,
    ``settings`` passed on), ``cores`` of them at a time in forked processes (or one after the
    other here, see :func:`bayesfit.forking.forked_imap`); one
    :class:`arviz.InferenceData` with chains ``0 .. chains - 1``."""
    seeds = chain_seeds(seed, chains)
    start = time.perf_counter()
    _FORKED["compiled"], _FORKED["settings"] = compiled, dict(settings)
    try:
        parts = []
        for part in forked_imap(_forked_chain, seeds, cores):
            parts.append(part)
            logger.info("NUTS chain %d of %d done (%.1f s)", len(parts), chains, time.perf_counter() - start)
    finally:
        _FORKED.clear()
    idata = _join_chains(parts)
    idata.posterior.attrs["sampling_time"] = time.perf_counter() - start
    return idata


def _join_chains(parts: list[Any]) -> Any:
    """One InferenceData of one-chain InferenceData objects, chains numbered in order."""
    import arviz as az
    import xarray as xr

    groups = {}
    for group in parts[0].groups():
        datasets = [part[group] for part in parts]
        if "chain" in datasets[0].dims:
            joined = xr.concat(datasets, dim="chain", combine_attrs="override")
            groups[group] = joined.assign_coords(chain=np.arange(len(parts)))
        else:
            groups[group] = datasets[0]
    return az.InferenceData(**groups)


def _forked_chain(chain_seed: int) -> Any:
    """One chain of the sampling in progress (:data:`_FORKED`), in the caller or a forked worker."""
    import nutpie

    return nutpie.sample(_FORKED["compiled"], chains=1, cores=1, seed=chain_seed, progress_bar=False,
                         **_FORKED["settings"])
