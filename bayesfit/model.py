"""Assembling data, a predictor, priors, a likelihood and systematics into a PyMC model.

:class:`BinnedModel` ties everything together::

    model = BinnedModel(
        predictor, counts,
        priors={"astro_norm": {"HalfNormal": {"sigma": 3}}, "astro_gamma": Prior("Uniform", lower=1.5, upper=4.5)},
        likelihood="poisson",          # or "effective", "barlow-beeston-lite", "barlow-beeston-sampled"
    )
    with model.pymc_model:             # a plain pm.Model with dims "bins", "universes", ...
        pm.Potential("extra", ...)     # any extra term just works
    idata = sample_posterior(model)

Parameters without a prior get a flat prior within their bounds (the maximum-likelihood setting).
The log-likelihood graph (:meth:`BinnedModel.log_likelihood`) takes the observed counts as an input,
so fits, profiles and toys reuse one compiled function.

Systematic variations of the predictor (``K`` universes) are marginalised
(``systematics="marginalise"``, the default when ``K > 1``); a vector parameter can instead get a
multivariate normal prior from throws (``throws={"flux": ThrowNuisance(...)}``). HistFactory-style
interpolation of +-1 sigma shifts belongs in a predictor that wraps another one; its nuisance
parameters get priors here like any other parameter (e.g. ``{"Normal": {"mu": 0, "sigma": 1}}``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np
import pytensor.tensor as pt

from bayesfit.errors import LikelihoodError, ModelError, PredictorError
from bayesfit.likelihood import (
    ThrowNuisance,
    bin_logp,
    check_likelihood_name,
    check_observed,
    impossible_bins,
    marginalise_universes,
    needs_sumw2,
)
from bayesfit.predictors.base import Parameter, Predictor
from bayesfit.priors import Prior, as_prior

__all__ = ["SYSTEMATICS", "BinnedModel", "LikelihoodTerms", "ModelParameter"]

#: Treatments of the predictor's universes.
SYSTEMATICS: tuple[str, ...] = ("none", "marginalise")

#: Name of the observed counts in the PyMC model and in InferenceData.
OBSERVED_NAME = "counts"
#: Name of the per-bin scales of the sampled Barlow-Beeston-lite likelihood.
SCALES_NAME = "mc_scale"


@dataclass(frozen=True)
class ModelParameter:
    """A free variable of the model: a predictor parameter, a throw component or a hyperparameter.

    ``lower``/``upper`` intersect the predictor's support with the prior's; ``start`` is the
    initial value (array of ``shape``); ``dims`` the ArviZ dimension names.
    """

    name: str
    shape: tuple[int, ...]
    prior: Prior
    start: np.ndarray
    lower: float
    upper: float
    dims: tuple[str, ...] | None
    kind: str  # "parameter", "throws" or "hyperparameter"

    @property
    def size(self) -> int:
        return int(np.prod(self.shape, dtype=int))


class LikelihoodTerms(NamedTuple):
    """Log-likelihood graphs of one parameter point.

    ``per_bin``: ``(K, n)`` per universe and bin; ``per_universe``: ``(K,)`` sums over bins;
    ``total``: scalar, the marginal over universes (or the single universe).
    """

    per_bin: pt.TensorVariable
    per_universe: pt.TensorVariable
    total: pt.TensorVariable


def _throw_components_name(name: str) -> str:
    return f"{name}_throw"


class BinnedModel:
    """Observed counts, a predictor, priors, a likelihood and a systematics treatment.

    Parameters
    ----------
    predictor:
        Expected counts ``(K, n)`` from physics parameters.
    observed:
        Observed counts per bin, ``(n,)`` (the predictor's ``n_out``).
    priors:
        Prior per predictor parameter (see :func:`bayesfit.priors.as_prior`); missing ones are flat.
    likelihood:
        ``"poisson"``, ``"effective"`` (Arguelles-Schneider-Yuan), ``"barlow-beeston-lite"``
        (scales profiled) or ``"barlow-beeston-sampled"`` (scales sampled; profiled in fits).
    systematics:
        ``"none"`` (needs ``K = 1``) or ``"marginalise"`` (needs ``K > 1``); default by ``K``.
    hyperpriors:
        Priors of hyperparameters that other priors name in their arguments.
    throws:
        Vector parameters with a multivariate normal prior from throws (replaces their prior).
    starts:
        Start values; default: the predictor's defaults. A start outside the prior's support or
        the bounds is an error.
    bounds:
        Extra ``(lower, upper)`` per parameter, intersected with the predictor's support.
    allow_noninteger:
        Accept non-integer counts (Asimov data).
    """

    def __init__(
        self,
        predictor: Predictor,
        observed: Any,
        *,
        priors: Mapping[str, Any] | None = None,
        likelihood: str = "poisson",
        systematics: str | None = None,
        hyperpriors: Mapping[str, Any] | None = None,
        throws: Mapping[str, ThrowNuisance] | None = None,
        starts: Mapping[str, Any] | None = None,
        bounds: Mapping[str, tuple[float | None, float | None]] | None = None,
        allow_noninteger: bool = False,
    ) -> None:
        self.predictor = predictor
        self.observed = check_observed(observed, predictor.n_out, allow_noninteger=allow_noninteger)
        self.allow_noninteger = allow_noninteger
        self.likelihood = check_likelihood_name(likelihood)
        self.systematics = self._check_systematics(systematics)
        self.throws = dict(throws or {})
        priors, hyperpriors = dict(priors or {}), dict(hyperpriors or {})
        starts, bounds = dict(starts or {}), dict(bounds or {})
        self._check_names(priors, hyperpriors, starts, bounds)
        self.sumw2_needed = needs_sumw2(self.likelihood)
        if self.sumw2_needed and predictor.expected_sumw2(predictor.symbols()) is None:
            raise ModelError(
                f"likelihood {self.likelihood!r} needs sums of squared weights, but predictor "
                f"{predictor.name!r} provides none; use likelihood='poisson'"
            )
        self.hyperparameters = tuple(
            self._hyperparameter(name, as_prior(spec)) for name, spec in hyperpriors.items()
        )
        self.parameters = tuple(
            self._parameter(p, priors.get(p.name), starts.get(p.name), bounds.get(p.name))
            for p in predictor.parameters
        )
        self._check_hyperparameter_references()
        self._check_reachable_bins()
        self._pymc_model: Any = None

    # ------------------------------------------------------------------ validation
    def _check_names(
        self, priors: Mapping[str, Any], hyperpriors: Mapping[str, Any], starts: Mapping[str, Any],
        bounds: Mapping[str, Any],
    ) -> None:
        names = set(self.predictor.parameter_names)
        for what, given in (("priors", priors), ("throws", self.throws), ("starts", starts), ("bounds", bounds)):
            unknown = sorted(set(given) - names)
            if unknown:
                raise ModelError(
                    f"{what}: unknown parameter(s) {unknown}; predictor {self.predictor.name!r} has {sorted(names)}"
                )
        clash = sorted(set(hyperpriors) & (names | {OBSERVED_NAME, SCALES_NAME}))
        if clash:
            raise ModelError(f"hyperparameter name(s) {clash} clash with parameter or model names")
        both = sorted(set(priors) & set(self.throws))
        if both:
            raise ModelError(f"parameter(s) {both} have both a prior and throws; give one")

    def _check_systematics(self, systematics: str | None) -> str:
        n_variations = self.predictor.n_variations
        if systematics is None:
            return "none" if n_variations == 1 else "marginalise"
        if systematics not in SYSTEMATICS:
            raise ModelError(f"unknown systematics mode {systematics!r}; valid: {list(SYSTEMATICS)}")
        if systematics == "marginalise" and n_variations == 1:
            raise ModelError(
                f"systematics='marginalise' needs variations, but predictor {self.predictor.name!r} has K = 1"
            )
        if systematics == "none" and n_variations > 1:
            raise ModelError(
                f"predictor {self.predictor.name!r} has K = {n_variations} variations; "
                "use systematics='marginalise'"
            )
        return systematics

    def _hyperparameter(self, name: str, prior: Prior) -> ModelParameter:
        if prior.is_flat or prior.hyperparameters:
            raise ModelError(f"hyperparameter {name!r} needs a proper prior with numeric arguments, got {prior}")
        lower, upper = prior.support()
        start = _interior_point(lower, upper)
        return ModelParameter(name, (), prior, np.asarray(start), lower, upper, None, "hyperparameter")

    def _parameter(
        self, parameter: Parameter, prior_spec: Any, start: Any, bounds: tuple[Any, Any] | None
    ) -> ModelParameter:
        name = parameter.name
        lower, upper = parameter.lower, parameter.upper
        if bounds is not None:
            extra_lower, extra_upper = bounds
            lower = max(lower, -np.inf if extra_lower is None else float(extra_lower))
            upper = min(upper, np.inf if extra_upper is None else float(extra_upper))
            if not lower < upper:
                raise ModelError(f"parameter {name!r}: bounds {bounds} leave an empty range")
        dims = _parameter_dims(parameter)
        if name in self.throws:
            nuisance = self.throws[name]
            if parameter.shape != (nuisance.size,):
                raise ModelError(
                    f"throws for parameter {name!r} have size {nuisance.size}, "
                    f"the parameter has shape {parameter.shape}"
                )
            return ModelParameter(
                _throw_components_name(name), (nuisance.rank,), Prior("Normal", mu=0.0, sigma=1.0),
                np.zeros(nuisance.rank), -np.inf, np.inf, (f"{name}_throw_component",), "throws",
            )
        prior = as_prior(prior_spec)
        prior_lower, prior_upper = prior.support()
        lower, upper = max(lower, prior_lower), min(upper, prior_upper)
        start_value = parameter.default_value() if start is None else np.asarray(start, dtype=float)
        try:
            start_value = np.broadcast_to(start_value, parameter.shape).astype(float)
        except ValueError:
            raise ModelError(
                f"start of parameter {name!r} has shape {np.shape(start)}, expected {parameter.shape}"
            ) from None
        prior.check_start(name, start_value)
        if np.any(start_value < lower) or np.any(start_value > upper):
            raise ModelError(
                f"parameter {name!r}: start value {start_value.ravel()[0]:g} is outside its bounds "
                f"[{lower:g}, {upper:g}]"
            )
        if prior.distribution == "MvNormal" and (np.isfinite(lower) or np.isfinite(upper)):
            raise ModelError(
                f"parameter {name!r}: an MvNormal prior cannot be restricted to bounds [{lower:g}, {upper:g}]"
            )
        return ModelParameter(name, parameter.shape, prior, start_value, lower, upper, dims, "parameter")

    def _check_hyperparameter_references(self) -> None:
        known = {h.name for h in self.hyperparameters}
        for parameter in self.parameters:
            missing = sorted(set(parameter.prior.hyperparameters) - known)
            if missing:
                raise ModelError(
                    f"prior of {parameter.name!r} refers to {missing}, which are not hyperparameters; "
                    f"define them in hyperpriors= (known: {sorted(known)})"
                )

    def _check_reachable_bins(self, n_random_points: int = 3, seed: int = 0) -> None:
        """Reject bins that hold data but get zero expectation at every probed parameter point."""
        rng = np.random.default_rng(seed)
        expectations = [self.predictor.evaluate(self.predictor_values(self.start_point()))]
        for _ in range(n_random_points):
            try:
                expectations.append(self.predictor.evaluate(self.predictor_values(self.random_point(rng))))
            except PredictorError:  # e.g. a throw outside the predictor's support: probe elsewhere
                continue
        bad = impossible_bins(self.observed, np.stack(expectations))
        if bad.size:
            shown = ", ".join(f"{i} (k={self.observed[i]:g})" for i in bad[:10])
            raise LikelihoodError(
                f"predictor {self.predictor.name!r} expects zero events in {bad.size} bin(s) that hold data, "
                f"at every parameter point tried: bins {shown}{' ...' if bad.size > 10 else ''}; "
                "no simulation reaches them: fix the binning or the simulation"
            )

    # ------------------------------------------------------------------ points
    @property
    def free_parameters(self) -> tuple[ModelParameter, ...]:
        """All free variables: hyperparameters first, then predictor parameters / throw components."""
        return self.hyperparameters + self.parameters

    def start_point(self) -> dict[str, np.ndarray]:
        """Start value of every free variable."""
        return {p.name: p.start.copy() for p in self.free_parameters}

    def random_point(self, rng: np.random.Generator, spread: float = 0.5) -> dict[str, np.ndarray]:
        """A random point inside the bounds near the start (for multi-start fits and probes)."""
        return {p.name: _random_near(p, rng, spread) for p in self.free_parameters}

    def predictor_values(self, point: Mapping[str, Any]) -> dict[str, Any]:
        """Predictor parameter values (numpy or tensors) from a point of free variables."""
        values = {}
        for parameter in self.predictor.parameters:
            if parameter.name in self.throws:
                nuisance = self.throws[parameter.name]
                components = point[_throw_components_name(parameter.name)]
                if isinstance(components, np.ndarray):
                    values[parameter.name] = nuisance.mean + nuisance.loadings @ components
                else:
                    values[parameter.name] = nuisance.value(components)
            else:
                values[parameter.name] = point[parameter.name]
        return values

    # ------------------------------------------------------------------ graphs
    def log_likelihood(
        self,
        predictor_values: Mapping[str, Any],
        observed: Any,
        scales: Any = None,
        profile_scales: bool = False,
        expected_floor: float | None = None,
    ) -> LikelihoodTerms:
        """Log-likelihood graphs at predictor parameter tensors, for observed counts (a tensor or array).

        ``scales`` are the sampled Barlow-Beeston-lite scales; with ``profile_scales`` that
        likelihood is profiled in closed form instead (used by fits). ``expected_floor`` raises
        expectations in bins with data to at least this value, so that an optimiser stepping to
        ``mu = 0`` sees a large finite ``-ln L`` instead of infinity.
        """
        expected = self.predictor.expected(predictor_values)
        if expected_floor is not None:
            # pt.maximum with a per-bin floor, not pt.switch: PyTensor 2.38 miscompiles the gradient
            # of the switch form after fusion (wrong astro_gamma gradient of compressed predictors).
            floor = expected_floor * pt.gt(pt.as_tensor_variable(observed), 0)
            expected = pt.maximum(expected, floor)
        sumw2 = self.predictor.expected_sumw2(predictor_values) if self.sumw2_needed else None
        likelihood = self.likelihood
        if likelihood == "barlow-beeston-sampled" and profile_scales:
            likelihood = "barlow-beeston-lite"
        per_bin = bin_logp(likelihood, observed, expected, sumw2, scales)
        per_universe = per_bin.sum(axis=-1)
        if self.systematics == "marginalise":
            total = marginalise_universes(per_universe, self.predictor.variation_weights)
        else:
            total = per_universe[0]
        return LikelihoodTerms(per_bin, per_universe, total)

    def constraint_logp(self, point: Mapping[str, Any]) -> pt.TensorVariable:
        """Log density of the auxiliary (throw) constraints, standard normal components; 0 without throws.

        Part of the likelihood in maximum-likelihood fits, a prior in Bayesian ones.
        """
        terms = [
            -0.5 * pt.sum(pt.as_tensor_variable(point[p.name]) ** 2) - 0.5 * p.size * np.log(2 * np.pi)
            for p in self.parameters
            if p.kind == "throws"
        ]
        return pt.add(*terms) if len(terms) > 1 else (terms[0] if terms else pt.constant(0.0))

    # ------------------------------------------------------------------ PyMC
    @property
    def coords(self) -> dict[str, Any]:
        coords: dict[str, Any] = {
            "bins": np.arange(self.predictor.n_out),
            "universes": np.arange(self.predictor.n_variations),
        }
        for parameter in self.predictor.parameters:
            dims = _parameter_dims(parameter)
            if dims:
                coords[dims[0]] = list(parameter.labels) if parameter.labels else np.arange(parameter.shape[0])
        for parameter in self.parameters:
            if parameter.kind == "throws":
                coords[parameter.dims[0]] = np.arange(parameter.size)
        return coords

    @property
    def pymc_model(self) -> Any:
        """The ``pm.Model`` (built once): add terms to it inside ``with model.pymc_model:``."""
        if self._pymc_model is None:
            self._pymc_model = self._build_pymc_model()
        return self._pymc_model

    def _build_pymc_model(self) -> Any:
        import pymc as pm

        with pm.Model(coords=self.coords) as pymc_model:
            variables: dict[str, Any] = {}
            for hyper in self.hyperparameters:
                variables[hyper.name] = hyper.prior.create(hyper.name, variables, initval=hyper.start)
            for parameter in self.parameters:
                variables[parameter.name] = self._create_parameter(parameter, variables)
            values = self.predictor_values(variables)
            for name, nuisance in self.throws.items():
                dims = _parameter_dims(self.predictor.parameter(name))
                values[name] = pm.Deterministic(name, values[name], dims=dims)
            observed = pm.Data("observed_counts", self.observed, dims="bins")
            scales = None
            if self.likelihood == "barlow-beeston-sampled":
                scales = pm.HalfFlat(SCALES_NAME, dims="bins", initval=np.ones(self.predictor.n_out))
            if self.uses_observed_variable:
                expected = self.predictor.expected(values)[0]
                pm.Poisson(OBSERVED_NAME, mu=expected, observed=observed, dims="bins")
            else:
                pm.Potential(OBSERVED_NAME, self.log_likelihood(values, observed, scales).total)
        return pymc_model

    @property
    def uses_observed_variable(self) -> bool:
        """Whether the likelihood is a ``pm.Poisson`` observed variable (else a ``pm.Potential``)."""
        return (
            self.likelihood == "poisson"
            and self.systematics == "none"
            and not self.allow_noninteger
        )

    def _create_parameter(self, parameter: ModelParameter, variables: Mapping[str, Any]) -> Any:
        import pymc as pm

        prior = parameter.prior
        prior_lower, prior_upper = prior.support()
        truncate = not prior.is_flat and (parameter.lower > prior_lower or parameter.upper < prior_upper)
        size = {"dims": parameter.dims} if parameter.dims else {"shape": parameter.shape}
        if not truncate:
            return prior.create(
                parameter.name, variables, (parameter.lower, parameter.upper),
                parameter.dims, parameter.shape, initval=parameter.start,
            )
        lower = parameter.lower if np.isfinite(parameter.lower) else None
        upper = parameter.upper if np.isfinite(parameter.upper) else None
        return pm.Truncated(
            parameter.name, prior.dist(variables, parameter.shape), lower=lower, upper=upper,
            initval=parameter.start, **size,
        )

    def __getstate__(self) -> dict[str, Any]:
        # the pm.Model is not picklable once sampled; it is rebuilt on demand after unpickling
        return {**self.__dict__, "_pymc_model": None}

    def __repr__(self) -> str:
        return (
            f"<BinnedModel {self.predictor.name!r}: {self.predictor.n_out} bins, "
            f"{int(self.observed.sum()):g} events, likelihood={self.likelihood!r}, "
            f"systematics={self.systematics!r}, K={self.predictor.n_variations}>"
        )


# ---------------------------------------------------------------------- helpers
def _parameter_dims(parameter: Parameter) -> tuple[str, ...] | None:
    if len(parameter.shape) != 1:
        return None
    return (parameter.dim or f"{parameter.name}_dim",)


def _interior_point(lower: float, upper: float) -> float:
    if np.isfinite(lower) and np.isfinite(upper):
        return 0.5 * (lower + upper)
    if np.isfinite(lower):
        return lower + 1.0
    if np.isfinite(upper):
        return upper - 1.0
    return 0.0


def _random_near(parameter: ModelParameter, rng: np.random.Generator, spread: float) -> np.ndarray:
    start, lower, upper = parameter.start, parameter.lower, parameter.upper
    noise = rng.normal(0.0, spread, size=parameter.shape)
    if np.isfinite(lower) and np.isfinite(upper):
        width = upper - lower
        return np.clip(start + noise * width / 2, lower + 1e-3 * width, upper - 1e-3 * width)
    if np.isfinite(lower):
        offset = np.where(start > lower, start - lower, 1.0)
        return lower + offset * np.exp(noise)
    if np.isfinite(upper):
        offset = np.where(start < upper, upper - start, 1.0)
        return upper - offset * np.exp(noise)
    return start + noise * np.maximum(1.0, np.abs(start))
