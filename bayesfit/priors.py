"""Prior specifications: small, validated descriptions that become PyMC distributions.

A prior is written as ``Prior("HalfNormal", sigma=3)``, as the mapping ``{"HalfNormal": {"sigma": 3}}``
(the form analysis files use) or as ``"flat"`` (bounds only, for maximum-likelihood fits).
A string argument names another model variable, a *hyperparameter* that has its own prior, e.g.
``Prior("LogNormal", mu=0, sigma="norm_width")``.

Nothing here imports PyMC at module level; :meth:`Prior.create` and :meth:`Prior.dist` do.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from bayesfit.errors import ModelError

__all__ = ["DISTRIBUTIONS", "FLAT", "Prior", "as_prior"]

_INF = np.inf

#: Supported distributions: name -> (required arguments, support as a function of the arguments).
DISTRIBUTIONS: dict[str, tuple[tuple[str, ...], Callable[[Mapping[str, Any]], tuple[float, float]]]] = {
    "Normal": (("mu", "sigma"), lambda a: (-_INF, _INF)),
    "HalfNormal": (("sigma",), lambda a: (0.0, _INF)),
    "LogNormal": (("mu", "sigma"), lambda a: (0.0, _INF)),
    "TruncatedNormal": (("mu", "sigma"), lambda a: (a.get("lower", -_INF), a.get("upper", _INF))),
    "Gamma": (("alpha", "beta"), lambda a: (0.0, _INF)),
    "InverseGamma": (("alpha", "beta"), lambda a: (0.0, _INF)),
    "Exponential": (("lam",), lambda a: (0.0, _INF)),
    "Uniform": (("lower", "upper"), lambda a: (a["lower"], a["upper"])),
    "Beta": (("alpha", "beta"), lambda a: (0.0, 1.0)),
    "Cauchy": (("alpha", "beta"), lambda a: (-_INF, _INF)),
    "HalfCauchy": (("beta",), lambda a: (0.0, _INF)),
    "StudentT": (("nu", "mu", "sigma"), lambda a: (-_INF, _INF)),
    "MvNormal": (("mu", "cov"), lambda a: (-_INF, _INF)),
    "flat": ((), lambda a: (-_INF, _INF)),
}

#: Name of the improper flat prior (bounds only).
FLAT = "flat"


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
        required, _ = DISTRIBUTIONS[distribution]
        missing = [name for name in required if name not in arguments]
        if missing:
            raise ModelError(f"prior {distribution!r} needs argument(s) {missing}, got {sorted(arguments)}")
        object.__setattr__(self, "distribution", distribution)
        object.__setattr__(self, "arguments", dict(arguments))

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
        _, support = DISTRIBUTIONS[self.distribution]
        numeric = {k: v for k, v in self.arguments.items() if not isinstance(v, str)}
        try:
            lower, upper = support(numeric)
        except KeyError:  # a bound is itself a hyperparameter
            return -_INF, _INF
        return float(lower), float(upper)

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
    def _resolved(self, variables: Mapping[str, Any]) -> dict[str, Any]:
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
        bounds: tuple[float, float] = (-_INF, _INF),
        dims: tuple[str, ...] | None = None,
        shape: tuple[int, ...] = (),
        initval: Any = None,
    ) -> Any:
        """Add this prior as random variable ``name`` to the PyMC model on the context stack.

        ``variables`` resolves hyperparameter names; ``bounds`` (the parameter's support) restrict
        a flat prior; ``initval`` is the sampler's start value. Returns the PyMC variable.
        """
        import pymc as pm

        size: dict[str, Any] = {"dims": dims} if dims else {"shape": shape}
        if initval is not None:
            size["initval"] = initval
        if self.is_flat:
            lower, upper = bounds
            if np.isfinite(lower) and np.isfinite(upper):
                return pm.Uniform(name, lower=lower, upper=upper, **size)
            if np.isfinite(lower) or np.isfinite(upper):
                transform = pm.distributions.transforms.Interval(
                    lower if np.isfinite(lower) else None, upper if np.isfinite(upper) else None
                )
                return pm.Flat(name, default_transform=transform, **size)
            return pm.Flat(name, **size)
        distribution = getattr(pm, self.distribution)
        return distribution(name, **self._resolved(variables), **size)

    def dist(self, variables: Mapping[str, Any], shape: tuple[int, ...] = ()) -> Any:
        """An unnamed PyMC distribution (``.dist``) for density evaluation, e.g. in MAP fits."""
        import pymc as pm

        if self.is_flat:
            raise ModelError("a flat prior has no normalisable density")
        distribution = getattr(pm, self.distribution)
        if self.distribution == "MvNormal":
            return distribution.dist(**self._resolved(variables))
        return distribution.dist(**self._resolved(variables), shape=shape)

    def __str__(self) -> str:
        arguments = ", ".join(f"{k}={v!r}" for k, v in self.arguments.items())
        return f"{self.distribution}({arguments})"


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
        return Prior(str(distribution), **arguments)
    raise ModelError(
        f"cannot read prior specification {spec!r}: use Prior(...), {{'HalfNormal': {{'sigma': 3}}}} or 'flat'"
    )
