"""A workspace as a bayesfit model: predictor, constraint terms, compiled likelihood, priors.

Two readings of the auxiliary measurements are provided side by side:

*Frequentist* (:meth:`HistFactoryModel.logpdf`, reproduces pyhf): the likelihood is the product of
the Poisson terms of the main bins and of constraint terms for the auxiliary data ``a``,

* Gaussian ``Normal(a | theta, sigma)`` for normsys, histosys (``a = 0``, ``sigma = 1``), lumi
  (``a``, ``sigma`` from the measurement) and staterror (``a = 1``, ``sigma`` the relative MC
  uncertainty of the channel's summed samples),
* Poisson ``Poisson(a | tau * gamma)`` for shapesys, ``tau = (nominal / uncertainty)**2``,
  ``a = tau``, with ``lgamma`` for the continuous count.

All normalisation constants are kept, so ``-2 logpdf`` equals pyhf's ``twice_nll``.

*Bayesian* (:meth:`HistFactoryModel.priors`): each constraint becomes a prior on its parameter,
the posterior of the auxiliary measurement under a flat prior: ``Normal(mu=a, sigma)`` for a
Gaussian constraint and ``Gamma(alpha=a + 1, beta=tau)`` for a Poisson one (mean ``(a + 1)/tau``).
Free normalisations (normfactor, shapefactor) get a flat prior on their bounds unless the user
chooses another; fixed parameters are reported as ``"fixed"`` at their value.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np
import pytensor
import pytensor.tensor as pt

from bayesfit.errors import PredictorError, WorkspaceError
from bayesfit.histfactory.modifiers import ModifierLayout, ParameterSet, build_layout
from bayesfit.histfactory.workspace import Workspace, load_workspace
from bayesfit.predictors.base import Parameter, Predictor, TensorLike

__all__ = ["HistFactoryModel", "HistFactoryPredictor", "ObservedData", "PriorSpec"]


class ObservedData(NamedTuple):
    """Data of a workspace: ``main`` counts ``(n_bins,)`` and auxiliary data ``(n_aux,)``."""

    main: np.ndarray
    aux: np.ndarray


@dataclass(frozen=True)
class PriorSpec:
    """Bayesian reading of one parameter: ``family`` with ``parameters`` (arrays of ``size``).

    ``family`` is ``"normal"`` (``mu``, ``sigma``), ``"gamma"`` (``alpha``, ``beta``),
    ``"uniform"`` (``lower``, ``upper``), ``"fixed"`` (``value``) or a user-chosen family.
    ``fixed`` ``(size,)`` marks entries held at ``init`` (e.g. staterror or shapesys bins with
    zero uncertainty); the family applies to the other entries.
    """

    name: str
    family: str
    parameters: dict[str, np.ndarray]
    size: int
    fixed: np.ndarray
    init: np.ndarray


class HistFactoryPredictor(Predictor):
    """The expected main-bin counts of a workspace, ``(1, n_bins)``; one parameter per set."""

    def __init__(self, layout: ModifierLayout, name: str = "histfactory") -> None:
        self.name = name
        self.layout = layout
        self.parameters = tuple(_as_parameter(p) for p in layout.parameter_sets)
        self.n_out = layout.n_bins
        self.variation_weights = np.ones(1)

    def flat_vector(self, params: Mapping[str, TensorLike]) -> pt.TensorVariable:
        """Concatenate named parameter tensors into the flat vector of the layout."""
        missing = [p.name for p in self.parameters if p.name not in params]
        if missing:
            raise PredictorError(f"{self.name}: missing parameter(s) {missing}")
        return pt.concatenate([pt.as_tensor_variable(params[p.name]).reshape((p.size,)) for p in self.parameters])

    def expected(self, params: Mapping[str, TensorLike]) -> pt.TensorVariable:
        return self.layout.expected(self.flat_vector(params))[None, :]


def _as_parameter(parameter_set: ParameterSet) -> Parameter:
    lower = float(parameter_set.bounds[:, 0].min())
    upper = float(parameter_set.bounds[:, 1].max())
    if not lower < upper:  # a fixed parameter configured with equal bounds
        lower, upper = lower - 1.0, upper + 1.0
    shape = () if parameter_set.is_scalar else (parameter_set.size,)
    default = parameter_set.inits[0] if parameter_set.is_scalar else parameter_set.inits
    return Parameter(parameter_set.name, shape, lower, upper, default)


_CONFIGURABLE = {
    None: ("inits", "bounds"),
    "normal": ("inits", "bounds", "auxdata", "sigmas"),
    "poisson": ("inits", "bounds", "auxdata", "factors"),
}


def _apply_configs(layout: ModifierLayout, configs: list[dict[str, Any]], path: str) -> None:
    """Override parameter defaults with the measurement's parameter configurations (in place)."""
    by_name = {p.name: p for p in layout.parameter_sets}
    for index, config in enumerate(configs):
        parameter = by_name.get(config["name"])
        if parameter is None:  # configuration of a pruned parameter: pyhf ignores it too
            continue
        where = f"{path}[{index}]"
        for key in ("inits", "auxdata", "sigmas", "factors", "bounds"):
            if key not in config:
                continue
            if key not in _CONFIGURABLE[parameter.constraint]:
                raise WorkspaceError(f"{where}.{key}: parameter {parameter.name!r} ({parameter.kind}) takes no {key}")
            value = np.asarray(config[key], dtype=float)
            if len(value) != parameter.size:
                raise WorkspaceError(
                    f"{where}.{key}: {len(value)} value(s) for parameter {parameter.name!r}, expected {parameter.size}"
                )
            setattr(parameter, key, value)
        if "fixed" in config:
            parameter.fixed = np.full(parameter.size, bool(config["fixed"]))
    for parameter in layout.parameter_sets:
        for key in ("inits", "auxdata", "sigmas", "bounds"):
            value = getattr(parameter, key)
            if value is not None and np.isnan(value).any():
                raise WorkspaceError(
                    f"{path}: {parameter.kind} parameter {parameter.name!r} needs {key} in the measurement's "
                    f"parameter configuration (used at {layout.sources[parameter.name]})"
                )


class HistFactoryModel:
    """A workspace measurement: flat parameter vector, predictor, constraints, compiled ``logpdf``.

    Parameters are ordered by name (vector parameters occupy consecutive entries; see
    :attr:`parameter_sets` and :meth:`slice`). Bins follow the channels sorted by name.

    Parameters
    ----------
    workspace:
        A :class:`Workspace`, a workspace dict or the path of a JSON file.
    measurement:
        Name of the measurement (default: the first).
    normsys_code, histosys_code:
        Interpolation codes, ``"1"``/``"4"`` and ``"0"``/``"4p"`` (defaults as pyhf: 4 and 4p).
    """

    def __init__(self, workspace: Workspace | Mapping[str, Any] | str, measurement: str | None = None,
                 normsys_code: str = "4", histosys_code: str = "4p") -> None:
        self.workspace = workspace if isinstance(workspace, Workspace) else load_workspace(workspace)
        spec = self.workspace.spec
        self.measurement = self.workspace.measurement(measurement)
        self.layout = build_layout(spec, normsys_code, histosys_code)
        m_index = self.workspace.measurement_names.index(self.measurement["name"])
        _apply_configs(self.layout, self.measurement["config"]["parameters"],
                       f"measurements[{m_index}].config.parameters")
        self.parameter_sets = self.layout.parameter_sets
        self.poi_name = self.measurement["config"]["poi"]
        poi = next((p for p in self.parameter_sets if p.name == self.poi_name), None)
        if poi is None or poi.size != 1:
            raise WorkspaceError(
                f"measurements[{m_index}].config.poi: {self.poi_name!r} is not a scalar parameter of the workspace"
            )
        self.poi_index = poi.offset
        self.predictor = HistFactoryPredictor(self.layout)
        self.inits = np.concatenate([p.inits for p in self.parameter_sets])
        self.bounds = np.concatenate([p.bounds for p in self.parameter_sets])
        self.fixed = np.concatenate([p.fixed for p in self.parameter_sets])
        self._normal = [p for p in self.parameter_sets if p.constraint == "normal"]
        self._poisson = [p for p in self.parameter_sets if p.constraint == "poisson"]
        observed = self.workspace.observed()
        main = np.concatenate([observed[name] for name in self.layout.channel_names]).astype(float)
        self.data = ObservedData(main, self.nominal_aux())
        self._functions: dict[str, Any] = {}

    # ------------------------------------------------------------------ structure
    @property
    def n_parameters(self) -> int:
        return self.layout.n_parameters

    @property
    def n_bins(self) -> int:
        return self.layout.n_bins

    @property
    def parameter_names(self) -> list[str]:
        """One label per flat entry: ``name`` for scalars, ``name[i]`` for vectors."""
        return [p.name if p.is_scalar else f"{p.name}[{i}]" for p in self.parameter_sets for i in range(p.size)]

    def slice(self, name: str) -> slice:
        """Entries of parameter ``name`` in the flat vector."""
        for parameter in self.parameter_sets:
            if parameter.name == name:
                return parameter.slice
        raise WorkspaceError(f"no parameter {name!r} in the workspace")

    def nominal_aux(self) -> np.ndarray:
        """The published auxiliary data, ordered as :meth:`expected_aux` (Gaussian, then Poisson)."""
        parts = [p.auxdata for p in self._normal] + [p.auxdata for p in self._poisson]
        return np.concatenate(parts) if parts else np.zeros(0)

    # ------------------------------------------------------------------ numpy quantities
    def expected_main(self, theta: np.ndarray) -> np.ndarray:
        """Expected main-bin counts ``(n_bins,)`` at the flat parameter vector ``theta``."""
        return self._function("expected")(np.asarray(theta, dtype=float))

    def expected_aux(self, theta: np.ndarray) -> np.ndarray:
        """Expected auxiliary data: ``theta`` for Gaussian, ``tau * theta`` for Poisson constraints."""
        theta = np.asarray(theta, dtype=float)
        parts = [theta[p.slice] for p in self._normal] + [p.factors * theta[p.slice] for p in self._poisson]
        return np.concatenate(parts) if parts else np.zeros(0)

    def asimov_data(self, theta: np.ndarray) -> ObservedData:
        """Expected main and auxiliary data at ``theta``."""
        return ObservedData(self.expected_main(theta), self.expected_aux(theta))

    def logpdf(self, theta: np.ndarray, data: ObservedData | None = None) -> float:
        """Full log likelihood (main Poisson terms and constraint terms, constants included)."""
        data = self.data if data is None else data
        return float(self._function("logpdf")(np.asarray(theta, dtype=float), data.main, data.aux))

    # ------------------------------------------------------------------ graphs
    def constraint_logpdf(self, theta: pt.TensorVariable, aux: pt.TensorVariable) -> pt.TensorVariable:
        """Sum of the constraint terms as a graph; ``aux`` ordered as :meth:`expected_aux`."""
        terms = []
        n_normal = sum(p.size for p in self._normal)
        if self._normal:
            index = np.concatenate([np.arange(p.offset, p.offset + p.size) for p in self._normal])
            sigma = np.concatenate([p.sigmas for p in self._normal])
            pull = (aux[:n_normal] - theta[index]) / sigma
            terms.append(pt.sum(-0.5 * pull**2) - np.sum(np.log(sigma * np.sqrt(2 * np.pi))))
        if self._poisson:
            index = np.concatenate([np.arange(p.offset, p.offset + p.size) for p in self._poisson])
            tau = np.concatenate([p.factors for p in self._poisson])
            terms.append(_poisson_logpdf(aux[n_normal:], tau * theta[index]))
        return pt.add(*terms) if len(terms) > 1 else (terms[0] if terms else pt.constant(0.0))

    def logpdf_graph(self, theta: pt.TensorVariable, main: pt.TensorVariable, aux: pt.TensorVariable) -> pt.TensorVariable:
        """Full log likelihood as a graph of the flat ``theta`` and the data."""
        return _poisson_logpdf(main, self.layout.expected(theta)) + self.constraint_logpdf(theta, aux)

    def _symbols(self) -> tuple[pt.TensorVariable, pt.TensorVariable, pt.TensorVariable]:
        return pt.dvector("theta"), pt.dvector("main"), pt.dvector("aux")

    def _function(self, kind: str) -> Any:
        """Compiled functions, built on first use (a compile costs about a second)."""
        if kind not in self._functions:
            theta, main, aux = self._symbols()
            if kind == "expected":
                function = pytensor.function([theta], self.layout.expected(theta))
            else:
                twice_nll = -2.0 * self.logpdf_graph(theta, main, aux)
                if kind == "logpdf":
                    function = pytensor.function([theta, main, aux], -0.5 * twice_nll)
                elif kind == "twice_nll_and_grad":
                    function = pytensor.function([theta, main, aux], [twice_nll, pytensor.grad(twice_nll, theta)])
                elif kind == "hessian_vector_product":
                    direction = pt.dvector("direction")
                    gradient = pytensor.grad(twice_nll, theta)
                    product = pytensor.grad(pt.dot(gradient, direction), theta)
                    function = pytensor.function([theta, main, aux, direction], product)
                else:
                    raise KeyError(kind)
            self._functions[kind] = function
        return self._functions[kind]

    def twice_nll_and_grad(self, theta: np.ndarray, data: ObservedData) -> tuple[float, np.ndarray]:
        """``-2 logpdf`` and its gradient with respect to the flat ``theta``."""
        value, gradient = self._function("twice_nll_and_grad")(theta, data.main, data.aux)
        return float(value), gradient

    def twice_nll_hessian(self, theta: np.ndarray, data: ObservedData) -> np.ndarray:
        """Hessian of ``-2 logpdf``, ``(n_parameters, n_parameters)``, by automatic differentiation.

        Built column by column from compiled Hessian-vector products (reverse over reverse mode),
        which compiles in about a second where a full symbolic Hessian takes tens of seconds.
        """
        product = self._function("hessian_vector_product")
        theta = np.asarray(theta, dtype=float)
        hessian = np.stack([product(theta, data.main, data.aux, unit) for unit in np.eye(len(theta))])
        return 0.5 * (hessian + hessian.T)

    # ------------------------------------------------------------------ Bayesian reading
    def priors(self, free_priors: Mapping[str, tuple[str, Mapping[str, Any]]] | None = None) -> dict[str, PriorSpec]:
        """The Bayesian reading: one :class:`PriorSpec` per parameter (see module docstring).

        ``free_priors`` maps names of free parameters (normfactor, shapefactor) to a
        ``(family, parameters)`` pair replacing the default flat prior on the bounds.
        """
        free_priors = dict(free_priors or {})
        result = {}
        for p in self.parameter_sets:
            if p.name in free_priors:
                if p.constraint is not None:
                    raise WorkspaceError(
                        f"parameter {p.name!r} is constrained ({p.constraint}); its prior follows from the auxiliary data"
                    )
                family, parameters = free_priors.pop(p.name)
                arguments = {k: np.broadcast_to(np.asarray(v, float), (p.size,)).copy() for k, v in parameters.items()}
            elif p.fixed.all():
                family, arguments = "fixed", {"value": p.inits.copy()}
            elif p.constraint == "normal":
                family, arguments = "normal", {"mu": p.auxdata.copy(), "sigma": p.sigmas.copy()}
            elif p.constraint == "poisson":
                family, arguments = "gamma", {"alpha": p.auxdata + 1.0, "beta": p.factors.copy()}
            else:
                family, arguments = "uniform", {"lower": p.bounds[:, 0].copy(), "upper": p.bounds[:, 1].copy()}
            result[p.name] = PriorSpec(p.name, family, arguments, p.size, p.fixed.copy(), p.inits.copy())
        if free_priors:
            raise WorkspaceError(f"priors given for unknown parameter(s) {sorted(free_priors)}")
        return result


def _poisson_logpdf(counts: TensorLike, rates: TensorLike) -> pt.TensorVariable:
    """``sum(n log(lambda) - lambda - lgamma(n + 1))`` with ``0 log 0 = 0``."""
    counts = pt.as_tensor_variable(counts)
    safe_rates = pt.switch(pt.gt(counts, 0), rates, 1.0)
    return pt.sum(counts * pt.log(safe_rates) - rates - pt.gammaln(counts + 1.0))
