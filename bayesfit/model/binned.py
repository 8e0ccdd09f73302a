"""The one model of bayesfit: data, a predictor, constraints, priors, a likelihood, systematics.

:class:`BinnedModel` holds everything a binned analysis needs, whatever its source (the Python
API, an analysis file, a pyhf workspace)::

    model = BinnedModel(
        predictor, counts,
        priors={"astro_norm": {"HalfNormal": {"sigma": 3}}, "astro_gamma": Prior("Uniform", lower=1.5, upper=4.5)},
        constraints=[GaussianConstraint("lumi", auxdata=[1.0], sigma=[0.02])],  # auxiliary measurements
        fixed={"stat[3]": 1.0},                     # entries held constant
        poi="mu",                                   # the parameter of interest of tests and limits
        extra_terms={"external": lambda v: -0.5 * ((v["astro_gamma"] - 2.5) / 0.2) ** 2},
        likelihood="poisson",                       # or "effective", "barlow-beeston-lite", ...
    )

One log-density builder, :meth:`BinnedModel.log_density`, is the source of every inference: the
compiled objective of fits, profiles, toys and hypothesis tests (the *frequentist reading*: main
bins, the constraint terms of the auxiliary data, the user's terms) and the ``pm.Model`` of NUTS
and SMC (the *Bayesian reading*: main bins and the user's terms as the likelihood, each constraint
read as the prior of its entries, see :mod:`bayesfit.likelihood.constraints`). The ``pm.Model``
is built in :mod:`bayesfit.model.pymc_model`.

Systematic variations of the predictor (``K`` universes) are marginalised
(``systematics="marginalise"``, the default when ``K > 1``). Entries without a prior get a flat
prior within their bounds (the maximum-likelihood setting).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, NamedTuple

import numpy as np
import pytensor.tensor as pt

from bayesfit.errors import LikelihoodError, ModelError, PredictorError
from bayesfit.likelihood import (
    bin_logp,
    check_likelihood_name,
    check_observed,
    impossible_bins,
    marginalise_universes,
    needs_sumw2,
)
from bayesfit.likelihood.constraints import Constraint, GaussianConstraint, PoissonConstraint, ThrowConstraint
from bayesfit.model.pymc_model import OBSERVED_NAME, SCALES_NAME, build_pymc_model
from bayesfit.model.building import build_parameters, hyperparameter, make_index, parameter_dims, random_near
from bayesfit.model.variables import ModelParameter, PriorGroup, group_priors, joined_prior, prior_family
from bayesfit.predictors.base import Predictor
from bayesfit.priors import as_prior

__all__ = [
    "NON_CENTERED",
    "OBSERVED_NAME",
    "SCALES_NAME",
    "SYSTEMATICS",
    "BinnedModel",
    "DensityTerms",
    "LikelihoodTerms",
    "ObservedData",
]

#: Treatments of the predictor's universes.
SYSTEMATICS: tuple[str, ...] = ("none", "marginalise")

#: Choices of the ``non_centered`` option.
NON_CENTERED: tuple[Any, ...] = ("auto", True, False)


ExtraTerm = Callable[[Mapping[str, Any]], Any]


class ObservedData(NamedTuple):
    """The observed data of a model: ``main`` counts per bin ``(n_bins,)`` and the auxiliary
    measurements of its constraints ``(n_aux,)`` (in the order of :attr:`BinnedModel.constraints`)."""

    main: np.ndarray
    aux: np.ndarray


class LikelihoodTerms(NamedTuple):
    """Log-likelihood graphs of the main bins at one parameter point.

    ``per_bin``: ``(K, n)`` per universe and bin; ``per_universe``: ``(K,)`` sums over bins;
    ``total``: scalar, the marginal over universes (or the single universe).
    """

    per_bin: pt.TensorVariable
    per_universe: pt.TensorVariable
    total: pt.TensorVariable


class DensityTerms(NamedTuple):
    """The terms of the log density at one parameter point (graphs).

    ``likelihood``: the main bins; ``auxiliary``: the constraint terms of the auxiliary data
    (frequentist reading); ``extra``: the user's terms by name; ``prior``: the log prior density
    of every free entry in natural units, normalised on its bounds (Bayesian reading; ``None``
    unless asked for).
    """

    likelihood: LikelihoodTerms
    auxiliary: pt.TensorVariable
    extra: dict[str, pt.TensorVariable]
    prior: pt.TensorVariable | None

    @property
    def extra_total(self) -> pt.TensorVariable:
        return pt.add(*self.extra.values()) if self.extra else pt.constant(0.0)

    def log_likelihood(self) -> pt.TensorVariable:
        """The frequentist ``ln L``: main bins, auxiliary measurements and the user's terms."""
        return self.likelihood.total + self.auxiliary + self.extra_total

    def log_posterior(self) -> pt.TensorVariable:
        """The unnormalised Bayesian ``ln p``: main bins, the user's terms and the priors."""
        if self.prior is None:
            raise ModelError("the prior term was not built: call log_density(..., prior=True)")
        return self.likelihood.total + self.extra_total + self.prior


class BinnedModel:
    """Observed counts, a predictor, constraints, priors, a likelihood and a systematics treatment.

    Parameters
    ----------
    predictor:
        Expected counts ``(K, n)`` from physics parameters.
    observed:
        Observed counts per bin, ``(n,)`` (the predictor's ``n_out``).
    priors:
        Prior per parameter or entry label (see :func:`bayesfit.priors.as_prior`); missing ones
        are flat. Constrained entries take their prior from their constraint.
    likelihood:
        ``"poisson"``, ``"effective"`` (Arguelles-Schneider-Yuan), ``"barlow-beeston-lite"``
        (scales profiled) or ``"barlow-beeston-sampled"`` (scales sampled; profiled in fits).
    systematics:
        ``"none"`` (needs ``K = 1``) or ``"marginalise"`` (needs ``K > 1``); default by ``K``.
    hyperpriors:
        Priors of hyperparameters that other priors name in their arguments.
    constraints:
        Auxiliary measurements (:class:`~bayesfit.likelihood.constraints.GaussianConstraint`,
        :class:`~bayesfit.likelihood.constraints.PoissonConstraint`,
        :class:`~bayesfit.likelihood.constraints.ThrowConstraint`).
    fixed:
        ``{name or entry label: value}`` held constant (e.g. a measurement's fixed parameters).
    starts:
        Start values by name or entry label; default: the predictor's defaults.
    bounds:
        Extra ``(lower, upper)`` by name or entry label (scalars, or arrays of the variable's
        shape), intersected with the predictor's support.
    poi:
        The parameter of interest (a scalar entry's name or label) of hypothesis tests and limits.
    extra_terms:
        ``{name: function}``: each function takes the dict of parameter values (predictor
        parameters and hyperparameters, tensors in natural units) and returns a scalar tensor
        added to ``ln L`` (e.g. an external measurement). Every inference sees them.
    non_centered:
        ``"auto"`` (default): Normal and LogNormal priors whose arguments are hyperparameters
        are sampled through a map between centred and non-centred set per entry by how much the
        data inform it relative to the sampled scale (see :mod:`bayesfit.model.pymc_model`), and
        Gaussian constraints non-centred; ``True``: every Normal and LogNormal prior plain
        non-centred (``theta = mu + sigma z``); ``False``: those priors centred.
    allow_noninteger:
        Accept non-integer counts (Asimov data, some published workspaces).
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
        constraints: Sequence[Constraint] = (),
        fixed: Mapping[str, Any] | None = None,
        starts: Mapping[str, Any] | None = None,
        bounds: Mapping[str, Any] | None = None,
        poi: str | None = None,
        extra_terms: Mapping[str, ExtraTerm] | None = None,
        non_centered: Any = "auto",
        allow_noninteger: bool = False,
    ) -> None:
        self._arguments = dict(
            priors=dict(priors or {}), likelihood=likelihood, systematics=systematics,
            hyperpriors=dict(hyperpriors or {}), constraints=tuple(constraints), fixed=dict(fixed or {}),
            starts=dict(starts or {}), bounds=dict(bounds or {}), poi=poi, extra_terms=dict(extra_terms or {}),
            non_centered=non_centered, allow_noninteger=allow_noninteger,
        )
        self.predictor = predictor
        self.observed = check_observed(observed, predictor.n_out, allow_noninteger=allow_noninteger)
        self.allow_noninteger = allow_noninteger
        self.likelihood = check_likelihood_name(likelihood)
        self.systematics = self._check_systematics(systematics)
        if non_centered not in NON_CENTERED:
            raise ModelError(f"non_centered must be one of {list(NON_CENTERED)}, got {non_centered!r}")
        self.non_centered = non_centered
        self.sumw2_needed = needs_sumw2(self.likelihood)
        if self.sumw2_needed and predictor.expected_sumw2(predictor.symbols()) is None:
            raise ModelError(
                f"likelihood {self.likelihood!r} needs sums of squared weights, but predictor "
                f"{predictor.name!r} provides none; use likelihood='poisson'"
            )
        self.constraints = tuple(constraints)
        self.throws = self._throw_constraints()
        self.hyperparameters = tuple(
            hyperparameter(name, as_prior(spec)) for name, spec in self._arguments["hyperpriors"].items()
        )
        self.parameters = build_parameters(
            predictor, self.hyperparameters, self.throws, self.constraints, self._arguments,
            reserved={OBSERVED_NAME, SCALES_NAME},
        )
        self._entry_index = make_index(predictor, self.hyperparameters + self.parameters)
        self.auxdata, self._constraint_slots = self._place_constraints()
        self._constraint_groups = self._group_constraints()
        self.extra_terms = dict(self._arguments["extra_terms"])
        self.poi = self._check_poi(poi)
        self._check_extra_terms()
        self._check_reachable_bins()
        self._pymc_model: Any = None
        self._pymc_names: frozenset[str] = frozenset()
        #: Objects compiled from this model by the inference layer (objectives), reused between
        #: calls; not pickled.
        self.cache: dict[str, Any] = {}

    # ------------------------------------------------------------------ construction
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

    def _throw_constraints(self) -> dict[str, ThrowConstraint]:
        throws: dict[str, ThrowConstraint] = {}
        names = set(self.predictor.parameter_names)
        for constraint in self.constraints:
            if not isinstance(constraint, Constraint):
                raise ModelError(f"constraints: expected Constraint objects, got {type(constraint).__name__}")
            if isinstance(constraint, ThrowConstraint):
                if constraint.parameter not in names:
                    raise ModelError(
                        f"{constraint}: no predictor parameter {constraint.parameter!r}; "
                        f"predictor {self.predictor.name!r} has {sorted(names)}"
                    )
                parameter = self.predictor.parameter(constraint.parameter)
                if parameter.shape != (constraint.parameter_size,):
                    raise ModelError(
                        f"{constraint}: throws have size {constraint.parameter_size}, "
                        f"the parameter has shape {parameter.shape}"
                    )
                if constraint.parameter in throws:
                    raise ModelError(f"parameter {constraint.parameter!r} has two throw constraints")
                throws[constraint.parameter] = constraint
        return throws

    def _place_constraints(self) -> tuple[np.ndarray, list[tuple[Constraint, str, np.ndarray, slice]]]:
        """The auxiliary data in the order of the constraints, and each constraint's place."""
        slots, start = [], 0
        for constraint in self.constraints:
            variable = self._entry_index.variables[constraint.variable]
            entries = constraint.flat_entries(variable.size)
            slots.append((constraint, variable.name, entries, slice(start, start + constraint.size)))
            start += constraint.size
        auxdata = np.concatenate([c.auxdata for c in self.constraints]) if self.constraints else np.zeros(0)
        return auxdata, slots

    def _group_constraints(self) -> list[tuple[Constraint, list[Any], np.ndarray]]:
        """Constraints evaluated together: all Gaussian ones (throws included) as one
        :class:`GaussianConstraint`, all Poisson ones as one :class:`PoissonConstraint`, any other
        kind alone. Returns ``(combined constraint, its slots, positions in the aux data)``."""
        kinds: dict[Any, list[tuple[Constraint, str, np.ndarray, slice]]] = {}
        for slot in self._constraint_slots:
            logpdf = type(slot[0]).logpdf
            key = logpdf if logpdf in (GaussianConstraint.logpdf, PoissonConstraint.logpdf) else id(slot[0])
            kinds.setdefault(key, []).append(slot)
        groups = []
        for key, slots in kinds.items():
            places = np.concatenate([np.arange(place.start, place.stop) for *_, place in slots])
            if key is GaussianConstraint.logpdf:
                combined: Constraint = GaussianConstraint(
                    "gaussian_constraints", self.auxdata[places], np.concatenate([c.sigma for c, *_ in slots])
                )
            elif key is PoissonConstraint.logpdf:
                combined = PoissonConstraint(
                    "poisson_constraints", self.auxdata[places], np.concatenate([c.factors for c, *_ in slots])
                )
            else:
                combined = slots[0][0]
            groups.append((combined, slots, places))
        return groups

    def _check_poi(self, poi: str | None) -> str | None:
        if poi is None:
            return None
        variable, entries = self._entry_index.entries(poi, "poi")
        if len(entries) != 1 or variable.kind == "hyperparameter":
            raise ModelError(f"poi: {poi!r} must name one entry of a parameter, not {variable.size} entries")
        if not variable.free.ravel()[entries[0]]:
            raise ModelError(f"poi: {poi!r} is fixed; the parameter of interest must be free")
        return variable.labels[entries[0]]

    def _check_extra_terms(self) -> None:
        taken = {v.name for v in self.variables} | {OBSERVED_NAME, SCALES_NAME}
        for name, term in self.extra_terms.items():
            if not isinstance(name, str) or not name or name in taken:
                raise ModelError(f"extra_terms: name {name!r} is empty or clashes with a variable of the model")
            if not callable(term):
                raise ModelError(f"extra_terms: {name!r} must be a function of the parameter values")
        if self.extra_terms:
            symbols = {v.name: pt.tensor(name=v.name, shape=v.shape, dtype="float64") for v in self.variables}
            self.extra_logp(self.parameter_values(symbols))

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

    # ------------------------------------------------------------------ structure
    @property
    def variables(self) -> tuple[ModelParameter, ...]:
        """Every variable: hyperparameters first, then the predictor's parameters (throw
        components in place of their parameter), fixed ones included."""
        return self.hyperparameters + self.parameters

    @property
    def free_parameters(self) -> tuple[ModelParameter, ...]:
        """The variables with at least one free entry."""
        return tuple(v for v in self.variables if v.free.any())

    @property
    def data(self) -> ObservedData:
        """The observed main counts and auxiliary data."""
        return ObservedData(self.observed, self.auxdata)

    @property
    def n_aux(self) -> int:
        return int(self.auxdata.size)

    def variable(self, name: str) -> ModelParameter:
        """The variable called ``name``."""
        variable, _ = self._entry_index.entries(name, "variable")
        if variable.name != name:
            raise ModelError(f"{name!r} names an entry of {variable.name!r}, not a variable")
        return variable

    def entry(self, label: str, what: str = "entry") -> tuple[ModelParameter, int]:
        """The variable and flat index of the scalar entry ``label`` (any accepted label)."""
        variable, entries = self._entry_index.entries(label, what)
        if len(entries) != 1:
            raise ModelError(f"{what}: {label!r} names {len(entries)} entries, not one")
        return variable, int(entries[0])

    def resolve(self, values: Mapping[str, Any], what: str) -> list[tuple[ModelParameter, np.ndarray, Any]]:
        """``(variable, flat indices, value)`` for every name or entry label in ``values``."""
        return list(self._entry_index.resolve(values, what))

    def known_names(self) -> list[str]:
        """Every variable name and entry label (for messages)."""
        return self._entry_index.names()

    # ------------------------------------------------------------------ points
    def start_point(self) -> dict[str, np.ndarray]:
        """Start value of every variable (fixed entries at their values)."""
        return {p.name: p.start.copy() for p in self.variables}

    def random_point(self, rng: np.random.Generator, spread: float = 0.5) -> dict[str, np.ndarray]:
        """A random point inside the bounds near the start (for multi-start fits and probes);
        fixed entries keep their values."""
        return {p.name: np.where(p.free, random_near(p, rng, spread), p.start) for p in self.variables}

    def parameter_values(self, point: Mapping[str, Any]) -> dict[str, Any]:
        """Predictor parameter values and hyperparameters (numpy or tensors) from a point of
        variables; variables missing from ``point`` take their start (e.g. fixed ones)."""
        values = {h.name: point[h.name] if h.name in point else h.start for h in self.hyperparameters}
        values.update(self.predictor_values(point))
        return values

    def predictor_values(self, point: Mapping[str, Any]) -> dict[str, Any]:
        """Predictor parameter values (numpy or tensors) from a point of variables; a variable
        with free entries must be in ``point``, a wholly fixed one takes its values."""
        values = {}
        for variable in self.parameters:
            if variable.name not in point and variable.free.any():
                raise ModelError(f"point lacks variable {variable.name!r}; it has {sorted(point)}")
            value = point[variable.name] if variable.name in point else variable.start
            if variable.kind == "throws":
                constraint = next(c for c in self.throws.values() if c.variable == variable.name)
                values[constraint.parameter] = constraint.value(value)
            else:
                values[variable.name] = value
        return values

    def expected_aux(self, point: Mapping[str, Any]) -> np.ndarray:
        """Expected auxiliary data at a point of variables (numpy), ``(n_aux,)``."""
        parts = [
            constraint.expected_aux(np.ravel(point.get(name, self._entry_index.variables[name].start))[entries])
            for constraint, name, entries, _ in self._constraint_slots
        ]
        return np.concatenate(parts) if parts else np.zeros(0)

    def sample_aux(
        self, point: Mapping[str, Any], rng: np.random.Generator | Sequence[np.random.Generator],
        n_toys: int | None = None,
    ) -> np.ndarray:
        """Draws of the auxiliary data at a point of variables: one ``(n_aux,)``, or ``n_toys``
        of them ``(n_toys, n_aux)``.

        ``rng`` is one generator for every constraint, or one generator per constraint (in the
        order of :attr:`constraints`): with those, each constraint draws toy after toy from its
        own stream, so the first toys do not change when ``n_toys`` grows.
        """
        generators = list(rng) if isinstance(rng, Sequence) else [rng] * len(self._constraint_slots)
        if len(generators) != len(self._constraint_slots):
            raise ModelError(f"sample_aux: {len(generators)} generators for {len(self._constraint_slots)} constraints")
        parts = [
            constraint.sample_aux(np.ravel(point.get(name, self._entry_index.variables[name].start))[entries],
                                  generator, n_toys)
            for (constraint, name, entries, _), generator in zip(self._constraint_slots, generators)
        ]
        empty = np.zeros((0,) if n_toys is None else (n_toys, 0))
        return np.concatenate(parts, axis=-1) if parts else empty

    def saturated_aux_logp(self, aux: np.ndarray) -> float | np.ndarray:
        """``ln L`` of the auxiliary data in the saturated model (each constraint at its maximum):
        a float for ``aux`` ``(n_aux,)``, ``(n_toys,)`` for ``(n_toys, n_aux)``."""
        aux = np.asarray(aux, dtype=float)
        total = sum((c.saturated_logpdf(aux[..., s]) for c, _, _, s in self._constraint_slots), np.zeros(aux.shape[:-1]))
        return float(total) if aux.ndim == 1 else total

    def check_data(self, data: Any) -> ObservedData:
        """Main counts ``(n,)`` or :class:`ObservedData` as validated float arrays (the model's
        auxiliary data when only counts are given); non-integer counts are allowed."""
        if isinstance(data, ObservedData):
            main, aux = data
        else:
            main, aux = data, self.auxdata
        main = check_observed(main, self.predictor.n_out, allow_noninteger=True)
        aux = np.asarray(aux, dtype=float)
        if aux.shape != (self.n_aux,) or not np.all(np.isfinite(aux)):
            raise LikelihoodError(f"auxiliary data must be {self.n_aux} finite values, got shape {aux.shape}")
        return ObservedData(main, aux)

    # ------------------------------------------------------------------ the log density
    def log_density(
        self,
        point: Mapping[str, Any],
        main: Any,
        aux: Any = None,
        *,
        prior: bool = False,
        scales: Any = None,
        profile_scales: bool = False,
        expected_floor: float | None = None,
    ) -> DensityTerms:
        """The terms of the log density at ``point`` (tensors of every variable, full shapes) for
        main counts ``main`` and auxiliary data ``aux`` (tensors or arrays; default the model's).

        ``prior`` also builds the log prior (MAP objectives); ``scales``, ``profile_scales`` and
        ``expected_floor`` are passed to :meth:`log_likelihood`.
        """
        values = self.parameter_values(point)
        likelihood = self.log_likelihood(
            self.predictor_values(point), main, scales, profile_scales=profile_scales, expected_floor=expected_floor
        )
        auxiliary = self.auxiliary_logp(point, self.auxdata if aux is None else aux)
        return DensityTerms(likelihood, auxiliary, self.extra_logp(values), self.log_prior(point) if prior else None)

    def log_likelihood(
        self,
        predictor_values: Mapping[str, Any],
        observed: Any,
        scales: Any = None,
        profile_scales: bool = False,
        expected_floor: float | None = None,
    ) -> LikelihoodTerms:
        """Log-likelihood graphs of the main bins at predictor parameter tensors, for counts
        ``observed`` (a tensor or array).

        ``scales`` are the sampled Barlow-Beeston-lite scales; with ``profile_scales`` that
        likelihood is profiled in closed form instead (used by fits). ``expected_floor`` raises
        expectations in bins with data to at least this value, so that an optimiser stepping to
        ``mu = 0`` sees a large finite ``-ln L`` instead of infinity; a negative expectation
        anywhere stays impossible (``-inf``).
        """
        raw_expected = self.predictor.expected(predictor_values)
        expected = raw_expected
        if expected_floor is not None:
            # pt.maximum with a per-bin floor, not pt.switch: PyTensor 2.38 miscompiles the gradient
            # of the switch form after fusion (wrong astro_gamma gradient of compressed predictors).
            floor = expected_floor * pt.gt(pt.as_tensor_variable(observed), 0)
            expected = pt.maximum(raw_expected, floor)
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
        if expected_floor is not None:  # the floor must not hide negative expectations
            total = pt.switch(pt.any(pt.lt(raw_expected, 0)), -np.inf, total)
        return LikelihoodTerms(per_bin, per_universe, total)

    def auxiliary_logp(self, point: Mapping[str, Any], aux: Any) -> pt.TensorVariable:
        """Sum of the constraint terms ``ln p(aux | point)`` (0 without constraints).

        Constraints of one kind are one vectorised term (see :meth:`_group_constraints`): a
        workspace has a constraint per nuisance parameter, and a graph of a hundred small terms
        costs several times more per evaluation and minutes more to compile.
        """
        aux = pt.as_tensor_variable(np.asarray(aux, dtype=float) if isinstance(aux, np.ndarray) else aux)
        terms = []
        for combined, slots, places in self._constraint_groups:
            pieces = []
            for _, name, entries, _ in slots:
                variable = self._entry_index.variables[name]
                value = pt.as_tensor_variable(point[name] if name in point else variable.start).reshape((-1,))
                whole = entries.size == variable.size and np.array_equal(entries, np.arange(variable.size))
                pieces.append(value if whole else value[entries])
            values = pieces[0] if len(pieces) == 1 else pt.concatenate(pieces)
            terms.append(combined.logpdf(aux[places], values))
        return pt.add(*terms) if len(terms) > 1 else (terms[0] if terms else pt.constant(0.0))

    def extra_logp(self, values: Mapping[str, Any]) -> dict[str, pt.TensorVariable]:
        """The user's terms at parameter ``values`` (see :meth:`parameter_values`), by name."""
        terms = {}
        for name, term in self.extra_terms.items():
            try:
                value = pt.as_tensor_variable(term(values))
            except Exception as error:  # the user's code: say whose term failed
                raise ModelError(f"extra term {name!r} failed on the parameter tensors: {error}") from error
            if value.ndim != 0:
                raise ModelError(f"extra term {name!r} must be a scalar, got {value.ndim} dimension(s)")
            terms[name] = pt.cast(value, "float64")
        return terms

    def log_prior(self, point: Mapping[str, Any]) -> pt.TensorVariable:
        """Log prior density of every free entry in natural units (the Bayesian reading,
        normalised on the bounds; flat priors contribute 0).

        Entries of every variable whose priors are one family are one vectorised term (see
        :func:`~bayesfit.model.variables.prior_family`): the ATLAS workspace's 96 truncated
        normal priors were 96 terms, 482 operations, as costly to evaluate as the likelihood.
        """
        values = {h.name: pt.as_tensor_variable(point[h.name]) for h in self.hyperparameters}
        terms = []
        families: dict[tuple[Any, ...], list[tuple[pt.TensorVariable, PriorGroup]]] = {}
        for variable in self.free_parameters:
            value = pt.as_tensor_variable(point[variable.name]).reshape((-1,))
            for group in group_priors(variable, variable.free_index):
                family = prior_family(group)
                if family is not None:
                    families.setdefault(family, []).append((value[group.indices], group))
                elif group.prior.distribution == "MvNormal":
                    terms.append(pt.sum(group.prior.logp(value, values)))
                elif not group.prior.is_flat:
                    terms.append(pt.sum(group.prior.logp(value[group.indices], values, group.lower, group.upper)))
        for members in families.values():
            groups = [group for _, group in members]
            entries = pt.concatenate([entry for entry, _ in members]) if len(members) > 1 else members[0][0]
            prior = joined_prior(groups) if len(members) > 1 else groups[0].prior
            lower, upper = (np.concatenate([getattr(g, bound) for g in groups]) for bound in ("lower", "upper"))
            terms.append(pt.sum(prior.logp(entries, values, lower, upper)))
        return pt.add(*terms) if len(terms) > 1 else (terms[0] if terms else pt.constant(0.0))

    # ------------------------------------------------------------------ derived models
    def replace(self, **changes: Any) -> BinnedModel:
        """A new model with some constructor arguments changed (e.g. ``observed``, ``priors``)."""
        arguments = {**self._arguments, **changes}
        observed = arguments.pop("observed", self.observed)
        predictor = arguments.pop("predictor", self.predictor)
        return BinnedModel(predictor, observed, **arguments)

    def fixed_at(self, values: Mapping[str, Any]) -> BinnedModel:
        """The model with more entries held fixed (a hypothesis, e.g. ``{"mu": 0.0}``)."""
        poi = self._arguments["poi"]
        if poi is not None and poi in values:
            poi = None
        return self.replace(fixed={**self._arguments["fixed"], **values}, poi=poi)

    # ------------------------------------------------------------------ PyMC
    @property
    def coords(self) -> dict[str, Any]:
        """Coordinates of the PyMC model and InferenceData: bins, universes, vector dims."""
        coords: dict[str, Any] = {
            "bins": np.arange(self.predictor.n_out),
            "universes": np.arange(self.predictor.n_variations),
        }
        for parameter in self.predictor.parameters:
            dims = parameter_dims(parameter)
            if dims:
                coords[dims[0]] = list(parameter.labels) if parameter.labels else np.arange(parameter.shape[0])
        for variable in self.parameters:
            if variable.kind == "throws":
                coords[variable.dims[0]] = np.arange(variable.size)
        return coords

    @property
    def pymc_model(self) -> Any:
        """The ``pm.Model`` of the Bayesian reading (built once; see :mod:`bayesfit.model.pymc_model`).

        Add terms to the model with ``extra_terms=``: every inference sees those. Fits, profiles
        and tests refuse to run on a ``pm.Model`` that someone changed afterwards.
        """
        if self._pymc_model is None:
            self._pymc_model = build_pymc_model(self)
            self._pymc_names = frozenset(self._pymc_model.named_vars)
        return self._pymc_model

    def check_pymc_unchanged(self) -> None:
        """Raise :class:`ModelError` if variables or terms were added to :attr:`pymc_model`:
        compiled objectives are built from :meth:`log_density` and would not see them."""
        if self._pymc_model is None:
            return
        added = sorted(set(self._pymc_model.named_vars) - self._pymc_names)
        if added:
            raise ModelError(
                f"model.pymc_model was changed (added {added}); fits, profiles, tests and toys are built "
                "from the model's own log density and would ignore that: pass extra terms as "
                "BinnedModel(..., extra_terms={name: function}) instead"
            )

    def __getstate__(self) -> dict[str, Any]:
        # the pm.Model is not picklable once sampled; it is rebuilt on demand after unpickling;
        # compiled objectives in the cache are rebuilt too
        return {**self.__dict__, "_pymc_model": None, "_pymc_names": frozenset(), "cache": {}}

    def __repr__(self) -> str:
        return (
            f"<BinnedModel {self.predictor.name!r}: {self.predictor.n_out} bins, "
            f"{self.observed.sum():g} events, {len(self.constraints)} constraint(s), "
            f"likelihood={self.likelihood!r}, systematics={self.systematics!r}, K={self.predictor.n_variations}>"
        )


