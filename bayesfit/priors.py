"""Prior specifications: small, validated descriptions that become PyMC distributions.

A prior is written as ``Prior("HalfNormal", sigma=3)``, as the mapping ``{"HalfNormal": {"sigma": 3}}``
(the form analysis files use) or as ``"flat"`` (bounds only, for maximum-likelihood fits).
A string argument names another model variable, a *hyperparameter* that has its own prior, e.g.
``Prior("LogNormal", mu=0, sigma="norm_width")``.

Arguments are checked when the prior is made: unknown or missing arguments and values outside
their domain (a negative ``sigma``, ``lower >= upper``) are errors naming the prior, before any
graph is built. Nothing here imports PyMC at module level; :meth:`Prior.create`,
:meth:`Prior.dist` and :meth:`Prior.logp` do.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np

from bayesfit.errors import ModelError

__all__ = ["DISTRIBUTIONS", "FLAT", "LOCATION_SCALE", "Prior", "as_prior"]

_INF = np.inf


class Distribution(NamedTuple):
    """What a prior family takes: required and optional arguments, which of them must be > 0,
    and the support as a function of the (numeric) arguments."""

    required: tuple[str, ...]
    optional: tuple[str, ...]
    positive: tuple[str, ...]
    support: Callable[[Mapping[str, Any]], tuple[float, float]]


def _everywhere(arguments: Mapping[str, Any]) -> tuple[float, float]:
    return -_INF, _INF


def _positive_line(arguments: Mapping[str, Any]) -> tuple[float, float]:
    return 0.0, _INF


#: Supported distributions (PyMC's names and arguments).
DISTRIBUTIONS: dict[str, Distribution] = {
    "Normal": Distribution(("mu", "sigma"), (), ("sigma",), _everywhere),
    "HalfNormal": Distribution(("sigma",), (), ("sigma",), _positive_line),
    "LogNormal": Distribution(("mu", "sigma"), (), ("sigma",), _positive_line),
    "TruncatedNormal": Distribution(
        ("mu", "sigma"), ("lower", "upper"), ("sigma",), lambda a: (a.get("lower", -_INF), a.get("upper", _INF))
    ),
    "Gamma": Distribution(("alpha", "beta"), (), ("alpha", "beta"), _positive_line),
    "InverseGamma": Distribution(("alpha", "beta"), (), ("alpha", "beta"), _positive_line),
    "Exponential": Distribution(("lam",), (), ("lam",), _positive_line),
    "Uniform": Distribution(("lower", "upper"), (), (), lambda a: (a["lower"], a["upper"])),
    "Beta": Distribution(("alpha", "beta"), (), ("alpha", "beta"), lambda a: (0.0, 1.0)),
    "Cauchy": Distribution(("alpha", "beta"), (), ("beta",), _everywhere),
    "HalfCauchy": Distribution(("beta",), (), ("beta",), _positive_line),
    "StudentT": Distribution(("nu", "mu", "sigma"), (), ("nu", "sigma"), _everywhere),
    "MvNormal": Distribution(("mu", "cov"), (), (), _everywhere),
    "flat": Distribution((), (), (), _everywhere),
}

#: Name of the improper flat prior (bounds only).
FLAT = "flat"

#: Location-scale families that can be written non-centred: ``theta = mu + sigma * z`` (Normal)
#: and ``theta = exp(mu + sigma * z)`` (LogNormal) with ``z ~ Normal(0, 1)``.
LOCATION_SCALE = ("Normal", "LogNormal")


@dataclass(frozen=True)
class Prior:
    """A named PyMC distribution with its arguments.

    Numeric arguments are fixed; a string argument names a hyperparameter (another model
    variable). ``Prior("flat")`` is the improper uniform density within the parameter's bounds.
    """

    distribution: str
    arguments: Mapping[str, Any] = field(default_factory=dict)

    def __init__(self, distribution: str, **arguments: Any) -> None:
        if distribution not in DISTRIBUTIONS:
            raise ModelError(
                f"unknown prior distribution {distribution!r}; valid: {sorted(DISTRIBUTIONS)}"
            )
        object.__setattr__(self, "distribution", distribution)
        object.__setattr__(self, "arguments", dict(arguments))
        self._check_arguments()

    def _check_arguments(self) -> None:
        spec = DISTRIBUTIONS[self.distribution]
        missing = [name for name in spec.required if name not in self.arguments]
        if missing:
            raise ModelError(f"prior {self.distribution!r} needs argument(s) {missing}, got {sorted(self.arguments)}")
        unknown = sorted(set(self.arguments) - set(spec.required) - set(spec.optional))
        if unknown:
            raise ModelError(
                f"prior {self.distribution!r}: unknown argument(s) {unknown}; it takes "
                f"{list(spec.required + spec.optional)}"
            )
        for name, value in self.arguments.items():
            if isinstance(value, str):
                if not value:
                    raise ModelError(f"prior {self}: argument {name!r} names an empty hyperparameter")
                continue
            try:
                if isinstance(value, bool) or np.asarray(value).dtype == bool:
                    raise TypeError
                array = np.asarray(value, dtype=float)
            except (TypeError, ValueError):
                raise ModelError(f"prior {self.distribution!r}: argument {name!r} = {value!r} is not a number") from None
            if not np.all(np.isfinite(array)) and not (name in ("lower", "upper") and self.distribution == "TruncatedNormal"):
                raise ModelError(f"prior {self}: argument {name!r} must be finite")
            if name in spec.positive and np.any(array <= 0):
                raise ModelError(f"prior {self}: argument {name!r} must be > 0")
        lower, upper = self.support()
        if not lower < upper:
            raise ModelError(f"prior {self}: empty support [{lower:g}, {upper:g}]")
        if self.distribution == "MvNormal":
            self._check_covariance()

    def _check_covariance(self) -> None:
        """``mu`` a vector and ``cov`` a symmetric positive-definite matrix of its size."""
        mu, cov = self.arguments["mu"], self.arguments["cov"]
        if isinstance(mu, str) or isinstance(cov, str):
            return
        mu, cov = np.asarray(mu, dtype=float), np.asarray(cov, dtype=float)
        if mu.ndim != 1 or cov.shape != (mu.size, mu.size):
            raise ModelError(f"prior {self}: 'cov' must be a {mu.size} x {mu.size} matrix for 'mu' of shape "
                             f"{mu.shape}, got shape {cov.shape}")
        if not np.allclose(cov, cov.T, rtol=1e-10, atol=0.0):
            raise ModelError(f"prior {self}: 'cov' is not symmetric")
        if np.linalg.eigvalsh(cov).min() <= 0:
            raise ModelError(f"prior {self}: 'cov' is not positive definite (smallest eigenvalue "
                             f"{np.linalg.eigvalsh(cov).min():g})")

    # ------------------------------------------------------------------ structure
    @property
    def is_flat(self) -> bool:
        return self.distribution == FLAT

    @property
    def hyperparameters(self) -> tuple[str, ...]:
        """Names of the model variables this prior's arguments refer to."""
        return tuple(value for value in self.arguments.values() if isinstance(value, str))

    def support(self) -> tuple[float, float]:
        """``(lower, upper)`` of the density; the natural support if an argument is a hyperparameter."""
        numeric = {k: v for k, v in self.arguments.items() if not isinstance(v, str)}
        try:
            lower, upper = DISTRIBUTIONS[self.distribution].support(numeric)
        except KeyError:  # a bound is itself a hyperparameter
            return -_INF, _INF
        return float(np.min(lower)), float(np.max(upper))

    def check_start(self, name: str, start: np.ndarray) -> None:
        """Raise :class:`ModelError` if ``start`` lies outside this prior's support."""
        lower, upper = self.support()
        outside = (start < lower) | (start > upper)
        if np.any(outside):
            raise ModelError(
                f"parameter {name!r}: start value {np.asarray(start)[outside].ravel()[0]:g} is outside "
                f"the support [{lower:g}, {upper:g}] of its prior {self}"
            )

    # ------------------------------------------------------------------ PyMC
    def resolved(self, variables: Mapping[str, Any]) -> dict[str, Any]:
        """The arguments with hyperparameter names replaced by ``variables[name]`` (tensors)."""
        resolved = {}
        for key, value in self.arguments.items():
            if isinstance(value, str):
                if value not in variables:
                    raise ModelError(
                        f"prior {self}: argument {key!r} refers to unknown variable {value!r}; "
                        f"known: {sorted(variables)}"
                    )
                resolved[key] = variables[value]
            else:
                resolved[key] = np.asarray(value, dtype=float)
        return resolved

    def create(
        self,
        name: str,
        variables: Mapping[str, Any],
        bounds: tuple[Any, Any] = (-_INF, _INF),
        dims: tuple[str, ...] | None = None,
        shape: tuple[int, ...] = (),
        initval: Any = None,
    ) -> Any:
        """Add this prior as random variable ``name`` to the PyMC model on the context stack.

        ``variables`` resolves hyperparameter names; ``bounds`` (scalars or arrays of ``shape``,
        the parameter's support) restrict a flat prior and truncate a proper one where they cut
        its support; ``initval`` is the sampler's start value (or strategy, e.g. ``"prior"``).
        """
        import pymc as pm

        size: dict[str, Any] = {"dims": dims} if dims else {"shape": shape}
        if initval is not None:
            size["initval"] = initval
        lower, upper = (np.asarray(bound, dtype=float) for bound in bounds)
        if self.is_flat:
            if np.all(np.isfinite(lower)) and np.all(np.isfinite(upper)):
                return pm.Uniform(name, lower=lower, upper=upper, **size)
            has_lower, has_upper = np.all(np.isfinite(lower)), np.all(np.isfinite(upper))
            if has_lower or has_upper:
                # bounds_fn, not Interval(lower, upper): PyMC 5.28 takes only scalars there, and
                # per-entry bounds of a vector are arrays
                bounds = (lower if has_lower else None, upper if has_upper else None)
                transform = pm.distributions.transforms.Interval(bounds_fn=lambda *_: bounds)
                return pm.Flat(name, default_transform=transform, **size)
            return pm.Flat(name, **size)
        if not self.truncated_by(lower, upper):
            return getattr(pm, self.distribution)(name, **self.resolved(variables), **size)
        return pm.Truncated(name, self.dist(variables, shape), lower=_bound(lower), upper=_bound(upper), **size)

    def truncated_by(self, lower: Any, upper: Any) -> bool:
        """Whether bounds ``[lower, upper]`` (scalars or arrays) cut this prior's support."""
        if self.is_flat:
            return False
        support_lower, support_upper = self.support()
        return bool(np.any(np.asarray(lower) > support_lower) or np.any(np.asarray(upper) < support_upper))

    def dist(self, variables: Mapping[str, Any], shape: tuple[int, ...] = ()) -> Any:
        """An unnamed PyMC distribution (``.dist``) for density evaluation."""
        import pymc as pm

        if self.is_flat:
            raise ModelError("a flat prior has no normalisable density")
        distribution = getattr(pm, self.distribution)
        if self.distribution == "MvNormal":
            return distribution.dist(**self.resolved(variables))
        return distribution.dist(**self.resolved(variables), shape=shape)

    def logp(self, value: Any, variables: Mapping[str, Any], lower: Any = -_INF, upper: Any = _INF) -> Any:
        """Log density at ``value`` (a tensor), normalised on ``[lower, upper]`` where the bounds
        cut the support (as :meth:`create` truncates); ``0`` for a flat prior. Elementwise for
        univariate families, a scalar for ``MvNormal``."""
        import pymc as pm
        import pytensor.tensor as pt

        if self.is_flat:
            return pt.zeros_like(pt.as_tensor_variable(value))
        shape = tuple(np.shape(lower)) if np.ndim(lower) else ()
        if not self.truncated_by(lower, upper):
            return pm.logp(self.dist(variables, shape), value)
        truncated = pm.Truncated.dist(self.dist(variables, shape), lower=_bound(lower), upper=_bound(upper))
        return pm.logp(truncated, value)

    def __str__(self) -> str:
        arguments = ", ".join(f"{k}={v!r}" for k, v in self.arguments.items())
        return f"{self.distribution}({arguments})"


def _bound(bound: np.ndarray) -> np.ndarray:
    """A truncation bound for PyMC: an explicit (possibly infinite) array, not ``None``. PyMC
    5.28's truncated normal gives a NaN gradient with respect to ``sigma`` when a bound is
    ``None``; an all-infinite constant bound is dropped from the transform as ``None`` is."""
    return np.asarray(bound, dtype=float)


def as_prior(spec: Prior | Mapping[str, Mapping[str, Any]] | str | None) -> Prior:
    """Normalise a prior specification.

    Accepts a :class:`Prior`, ``{"Name": {argument: value}}``, ``"flat"`` or ``None`` (flat).
    """
    if spec is None:
        return Prior(FLAT)
    if isinstance(spec, Prior):
        return spec
    if isinstance(spec, str):
        return Prior(spec)
    if isinstance(spec, Mapping) and len(spec) == 1:
        (distribution, arguments), = spec.items()
        if arguments is None:
            arguments = {}
        if not isinstance(arguments, Mapping):
            raise ModelError(f"prior {distribution!r}: arguments must be a mapping, got {arguments!r}")
        names = [name for name in arguments if not isinstance(name, str)]
        if names:
            raise ModelError(f"prior {distribution!r}: argument names must be strings, got {names!r}")
        return Prior(str(distribution), **arguments)
    raise ModelError(
        f"cannot read prior specification {spec!r}: use Prior(...), {{'HalfNormal': {{'sigma': 3}}}} or 'flat'"
    )
