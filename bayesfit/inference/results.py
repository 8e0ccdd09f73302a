"""Every result type of bayesfit's inference, one per concept, typed and labelled.

============================  ==============================================================
:class:`FitResult`            a maximum-likelihood or MAP fit (:func:`~bayesfit.inference.fit`)
:class:`ProfileResult`        a 1-D or 2-D profile-likelihood scan
:class:`ToyResult`            a toy study: the test statistic of every pseudo-experiment
:class:`TestResult`           the p-value of one test (Wilks, goodness of fit, toys, posterior predictive)
:class:`HypotestResult`       CLs, CLs+b and CLb of one POI value, observed and expected band
:class:`UpperLimitResult`     an upper limit (CLs with its expected band, or Bayesian credible)
:class:`RankingResult`        the impacts of the constrained entries on the POI
:class:`PullsResult`          pulls and constraints of the constrained entries
:class:`LimitScanResult`      upper limits over labelled hypotheses (e.g. the patches of a patchset)
:class:`EvidenceResult`       ``ln Z`` of a model by Sequential Monte Carlo
:class:`BayesFactorResult`    ``ln BF`` of two hypotheses
============================  ==============================================================

Parameter entries are labelled as the model labels them (``astro_gamma``, ``staterror_SR[3]``,
``weights[background]``). Every type has ``to_dict()``, the strict-JSON form the summary writer
uses: arrays become lists, NaN and infinities become ``None``.

The expected bands follow pyhf's order, from the -2 sigma to the +2 sigma fluctuation of the
background-only data: ``EXPECTED_SIGMAS = (2, 1, 0, -1, -2)`` in units of the test statistic's
shift, i.e. the first entry is the strongest expected exclusion (lowest CLs, lowest limit).
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from scipy import stats

from bayesfit.output import strict_json as to_json

__all__ = [
    "EXPECTED_SIGMAS",
    "BayesFactorResult",
    "EvidenceResult",
    "FitResult",
    "HypotestResult",
    "LimitScanResult",
    "ProfileResult",
    "PullsResult",
    "RankingResult",
    "TestResult",
    "ToyResult",
    "UpperLimitResult",
]

#: Shifts of the expected band in pyhf's order (see the module docstring).
EXPECTED_SIGMAS = np.array([2.0, 1.0, 0.0, -1.0, -2.0])
#: Band labels of :data:`EXPECTED_SIGMAS` in ``to_dict()``.
BAND_LABELS = ("-2sigma", "-1sigma", "median", "+1sigma", "+2sigma")


def _band(values: np.ndarray | None) -> dict[str, Any] | None:
    return None if values is None else to_json(dict(zip(BAND_LABELS, np.asarray(values, dtype=float))))


@dataclass(frozen=True)
class FitResult:
    """A maximum-likelihood (``kind="ml"``) or MAP (``kind="map"``) fit.

    Attributes
    ----------
    values, errors:
        Best-fit value and Hessian uncertainty of every variable of the model (full shapes, fixed
        entries at their values with error 0; NaN errors where the Hessian of the free entries is
        not positive definite, or was not computed).
    labels:
        The entries the fit varied, in the order of ``x`` and ``covariance``.
    covariance:
        Covariance of those entries, ``(n, n)`` (NaN where not available).
    nll:
        ``-ln L`` at the minimum (``ln k!`` and constraint constants included; ``-ln posterior``
        for MAP).
    converged:
        The estimated distance to the minimum ``edm = g^T C g / 2`` (``g`` the gradient of the
        entries off their active bounds, ``C`` their covariance; with the start's curvature when
        no Hessian was computed) is below the tolerance, in units of ``-ln L``, and the Hessian
        of the free entries is positive definite (when computed).
    minima_agree:
        Every start that converged reached the best minimum (within ``1e-3`` in ``-ln L``);
        ``False`` flags several minima or kinks.
    all_nll:
        ``-ln L`` reached from each start, ``(n_starts,)`` (``inf`` where a start failed).
    entry_labels:
        Every entry's label per variable (for :meth:`entries`).
    """

    values: dict[str, np.ndarray]
    errors: dict[str, np.ndarray]
    labels: list[str]
    covariance: np.ndarray
    nll: float
    converged: bool
    edm: float
    kind: str
    message: str
    n_starts: int
    all_nll: np.ndarray
    minima_agree: bool
    x: np.ndarray
    fixed: dict[str, float] = field(default_factory=dict)
    entry_labels: dict[str, tuple[str, ...]] = field(default_factory=dict)

    def entries(self) -> dict[str, tuple[float, float]]:
        """``{label: (value, error)}`` of every entry of every variable."""
        result = {}
        for name, value in self.values.items():
            labels = self.entry_labels.get(name) or ((name,) if np.ndim(value) == 0 else
                                                      tuple(f"{name}[{i}]" for i in range(np.size(value))))
            for label, v, e in zip(labels, np.ravel(value), np.ravel(self.errors[name])):
                result[label] = (float(v), float(e))
        return result

    def value(self, label: str) -> float:
        """The best-fit value of one entry, by its label."""
        entries = self.entries()
        if label not in entries:
            raise KeyError(f"no entry {label!r} in the fit; entries: {list(entries)}")
        return entries[label][0]

    def to_dict(self) -> dict[str, Any]:
        return to_json({
            "kind": self.kind,
            "parameters": {label: {"value": v, "error": e} for label, (v, e) in self.entries().items()},
            "neg_log_likelihood": self.nll,
            "converged": self.converged,
            "edm": self.edm,
            "minima_agree": self.minima_agree,
            "starts": self.n_starts,
            "fixed": self.fixed,
            "message": self.message,
        })

    def __repr__(self) -> str:
        lines = [f"FitResult(nll={self.nll:.6f}, converged={self.converged}, edm={self.edm:.2g})"]
        for label, (value, error) in self.entries().items():
            lines.append(f"  {label} = {value:.6g} +- {error:.3g}")
        return "\n".join(lines)


@dataclass(frozen=True)
class ProfileResult:
    """A profile-likelihood scan of one or two entries, the others re-fitted at every point.

    Attributes
    ----------
    parameters:
        The scanned entries' labels, one or two.
    grid:
        The scanned values per axis, increasing.
    twice_delta_nll:
        ``-2 ln L(values, best others) + 2 ln L(best fit)``: ``(n,)`` or ``(n_x, n_y)``.
    converged:
        Whether each conditional fit converged (same shape).
    best_fit:
        The fit the scan is relative to (unconditional, or under ``fixed``).
    fixed:
        Entries held at these values throughout (a hypothesis).
    bounds:
        ``(lower, upper)`` of each scanned entry.
    """

    parameters: tuple[str, ...]
    grid: tuple[np.ndarray, ...]
    twice_delta_nll: np.ndarray
    converged: np.ndarray
    best_fit: FitResult
    fixed: dict[str, float] = field(default_factory=dict)
    bounds: tuple[tuple[float, float], ...] = ()

    @property
    def parameter(self) -> str:
        """The scanned entry of a 1-D scan."""
        self._one_dimensional()
        return self.parameters[0]

    @property
    def values(self) -> np.ndarray:
        """The scanned values of a 1-D scan, ``(n,)``."""
        self._one_dimensional()
        return self.grid[0]

    def _one_dimensional(self) -> None:
        if len(self.parameters) != 1:
            raise ValueError(f"a scan of {len(self.parameters)} entries: use grid and parameters")

    def p_values(self) -> np.ndarray:
        """Wilks p-value of each point, ``chi2.sf(-2 Delta ln L, dof)`` with one dof per scanned entry."""
        return stats.chi2.sf(np.maximum(self.twice_delta_nll, 0.0), len(self.parameters))

    def interval(self, level: float = 0.682689) -> tuple[float, float]:
        """Lower and upper end of the 1-D profile-likelihood interval at ``level`` (Wilks, 1 dof).

        Ends are interpolated linearly where ``-2 Delta ln L`` crosses the chi-square quantile,
        on the scan together with the best fit (where ``-2 Delta ln L = 0``), so a best fit on a
        bound that the scan does not reach still closes the interval there. Where the curve
        reaches a bound of the parameter without crossing, that end is the bound (the interval is
        clipped at the physical boundary, ``[0, upper]``); where the scan ends inside the allowed
        range without crossing, the end is ``-inf`` / ``inf`` (scan further).
        :meth:`interval_ends` says which of these each end is.
        """
        return self._interval(level)[0]

    def interval_ends(self, level: float = 0.682689) -> tuple[str, str]:
        """How each end of :meth:`interval` was found: ``"crossing"`` (the curve crosses the
        quantile), ``"bound"`` (clipped at the parameter's bound: a closed end) or ``"open"`` (the
        scan stops before any crossing: the end is infinite)."""
        return self._interval(level)[1]

    def _interval(self, level: float) -> tuple[tuple[float, float], tuple[str, str]]:
        self._one_dimensional()
        if not 0.0 < level < 1.0:
            raise ValueError(f"interval: level must lie in (0, 1), got {level!r}")
        values, curve = self._with_best_fit()
        threshold = stats.chi2.ppf(level, 1)
        ends = list(_crossings(values, curve, threshold))
        kinds = ["crossing" if np.isfinite(end) else "open" for end in ends]
        if self.bounds:
            low_bound, high_bound = self.bounds[0]
            if np.isinf(ends[0]) and values[0] <= low_bound:
                ends[0], kinds[0] = float(low_bound), "bound"
            if np.isinf(ends[1]) and values[-1] >= high_bound:
                ends[1], kinds[1] = float(high_bound), "bound"
        return (ends[0], ends[1]), (kinds[0], kinds[1])

    def _with_best_fit(self) -> tuple[np.ndarray, np.ndarray]:
        """The scanned values and ``-2 Delta ln L`` with the best fit's point inserted (1-D)."""
        values, curve = self.grid[0], self.twice_delta_nll
        entries = self.best_fit.entries()
        if self.parameters[0] not in entries:
            return values, curve
        best = entries[self.parameters[0]][0]
        position = int(np.searchsorted(values, best))
        if position < len(values) and values[position] == best:
            return values, curve
        return np.insert(values, position, best), np.insert(curve, position, 0.0)

    def to_dict(self) -> dict[str, Any]:
        result: dict[str, Any] = {
            "parameters": list(self.parameters),
            "grid": [axis for axis in self.grid],
            "twice_delta_nll": self.twice_delta_nll,
            "converged": self.converged,
            "fixed": self.fixed,
            "p_value_wilks": self.p_values(),
        }
        if len(self.parameters) == 1:
            for name, level in (("68", 0.682689), ("95", 0.95)):
                (lower, upper), ends = self._interval(level)
                result[f"interval_{name}"] = [lower, upper]
                result[f"interval_{name}_ends"] = list(ends)
        return to_json(result)


def _crossings(values: np.ndarray, curve: np.ndarray, threshold: float) -> tuple[float, float]:
    """Where ``curve`` rises through ``threshold`` left and right of its minimum (linear interpolation)."""
    finite = np.isfinite(curve)
    if not finite.any():
        return -np.inf, np.inf
    minimum = int(np.nanargmin(np.where(finite, curve, np.nan)))
    lower, upper = -np.inf, np.inf
    for index in range(minimum, 0, -1):
        if curve[index - 1] >= threshold > curve[index] or curve[index - 1] > threshold >= curve[index]:
            lower = float(np.interp(threshold, [curve[index], curve[index - 1]], [values[index], values[index - 1]]))
            break
    for index in range(minimum, len(values) - 1):
        if curve[index + 1] >= threshold > curve[index] or curve[index + 1] > threshold >= curve[index]:
            upper = float(np.interp(threshold, [curve[index], curve[index + 1]], [values[index], values[index + 1]]))
            break
    return lower, upper


@dataclass(frozen=True)
class ToyResult:
    """A toy study: the test statistic of every pseudo-experiment.

    Attributes
    ----------
    statistics:
        ``(n_toys,)``; NaN where a toy's fit failed.
    generating_point:
        Values of the model's variables the toys were generated at.
    seed:
        The seed of the study (the toys are reproducible with it whatever the executor).
    """

    statistics: np.ndarray
    generating_point: dict[str, np.ndarray]
    seed: Any = None

    @property
    def n_toys(self) -> int:
        return int(self.statistics.size)

    @property
    def n_failed(self) -> int:
        return int(np.sum(~np.isfinite(self.statistics)))

    @property
    def valid(self) -> np.ndarray:
        """Statistics of the toys whose fits succeeded."""
        return self.statistics[np.isfinite(self.statistics)]

    def tail_fraction(self, observed: float, tolerance: float = 1e-9) -> tuple[float, float, float | None]:
        """``P(t >= observed)`` among the valid toys, ties within ``tolerance * max(1, |observed|)``
        counted as ``>=``, with its error and, when no toy reaches ``observed``, the 95% upper
        limit ``1 - 0.05^(1/n)`` (else ``None``).

        The error is the binomial ``sqrt(p (1 - p) / n)``; at ``p = 0`` or ``1`` it is the
        one-sided 68% Clopper-Pearson distance ``1 - 0.3173^(1/n)``.
        """
        valid = self.valid
        n = valid.size
        if n == 0:
            return math.nan, math.nan, None
        count = int(np.sum(valid >= observed - tolerance * max(1.0, abs(observed))))
        p = count / n
        if 0 < count < n:
            error = math.sqrt(p * (1.0 - p) / n)
        else:
            error = 1.0 - (1.0 - 0.682689) ** (1.0 / n)
        upper = 1.0 - 0.05 ** (1.0 / n) if count == 0 else None
        return p, error, upper

    def quantile(self, probability: float | np.ndarray) -> np.ndarray:
        """Quantiles of the valid statistics."""
        return np.quantile(self.valid, probability)

    def to_dict(self) -> dict[str, Any]:
        return to_json({"toys": self.n_toys, "failed": self.n_failed, "seed": self.seed})


@dataclass(frozen=True)
class TestResult:
    """The p-value of one test.

    Attributes
    ----------
    method:
        ``"wilks"`` (asymptotic chi-square), ``"saturated"`` (goodness of fit against the saturated
        model, chi-square), ``"toys"`` or ``"posterior_predictive"``.
    statistic:
        The observed test statistic (posterior predictive: the observed discrepancy per draw).
    p_value, p_value_error:
        The p-value and its Monte Carlo error (0 for asymptotic methods).
    p_value_upper_limit:
        95% upper limit when no toy reached the observed statistic, else ``None``.
    dof:
        Degrees of freedom of an asymptotic test.
    hypothesis:
        The entries the test holds fixed.
    best_fit, conditional_fit:
        The unconditional fit and the fit under the hypothesis (where fits are made).
    toys:
        The toy study (``"toys"``), or the replicated discrepancies (``"posterior_predictive"``).
    statistic_name:
        The test statistic (``"likelihood_ratio"``, ``"max_likelihood"``, ``"deviance"``, ...).
    """

    __test__ = False  # not a pytest class

    method: str
    statistic: float | np.ndarray
    p_value: float
    p_value_error: float = 0.0
    p_value_upper_limit: float | None = None
    dof: int | None = None
    hypothesis: dict[str, float] = field(default_factory=dict)
    best_fit: FitResult | None = None
    conditional_fit: FitResult | None = None
    toys: ToyResult | None = None
    statistic_name: str = "likelihood_ratio"

    def to_dict(self) -> dict[str, Any]:
        statistic = self.statistic if np.ndim(self.statistic) == 0 else float(np.mean(self.statistic))
        return to_json({
            "method": self.method,
            "statistic_name": self.statistic_name,
            "statistic": statistic,
            "p_value": self.p_value,
            "p_value_error": self.p_value_error,
            "p_value_upper_limit": self.p_value_upper_limit,
            "dof": self.dof,
            "hypothesis": self.hypothesis,
            "toys": None if self.toys is None else self.toys.to_dict(),
        })


@dataclass(frozen=True)
class HypotestResult:
    """A hypothesis test of one value of the parameter of interest (Cowan, Cranmer, Gross and
    Vitells, arXiv:1007.1727), as pyhf's ``hypotest``.

    Attributes
    ----------
    poi, poi_value:
        The parameter of interest and the tested value.
    test_statistic, calculator:
        ``"q0"``, ``"qmu"``, ``"qmu_tilde"``, ``"tmu"`` or ``"tmu_tilde"``; ``"asymptotic"`` or
        ``"toys"``.
    statistic:
        The observed test statistic.
    statistic_asimov:
        The statistic of the Asimov data (asymptotic calculator).
    clsb, clb, cls:
        ``p_{s+b} = P(t >= t_obs | tested value)``, ``CL_b = P(t >= t_obs | alternative)`` and
        ``CLs = CLs+b / CLb``. For ``q0`` the tested value is the background and ``clsb`` is
        the discovery p-value ``p0``.
    clsb_expected, clb_expected, cls_expected:
        The same at the expected statistics of the alternative's data, ``(5,)`` in the order of
        :data:`EXPECTED_SIGMAS`.
    toys_null, toys_alternative:
        The toy studies under the tested value and under the alternative (toys calculator).
    """

    poi: str
    poi_value: float
    test_statistic: str
    calculator: str
    statistic: float
    clsb: float
    clb: float
    cls: float
    clsb_expected: np.ndarray
    clb_expected: np.ndarray
    cls_expected: np.ndarray
    statistic_asimov: float | None = None
    toys_null: ToyResult | None = None
    toys_alternative: ToyResult | None = None

    @property
    def p_value(self) -> float:
        """``p_{s+b}``: the p-value of the tested value (the discovery ``p0`` for ``q0``)."""
        return self.clsb

    @property
    def significance(self) -> float:
        """``Z = Phi^-1(1 - p)`` of :attr:`p_value`, in sigma."""
        return float(stats.norm.isf(self.p_value))

    @property
    def expected_significance(self) -> np.ndarray:
        """``Z`` of the expected p-values, ``(5,)``."""
        return stats.norm.isf(self.clsb_expected)

    def to_dict(self) -> dict[str, Any]:
        return to_json({
            "poi": self.poi,
            "poi_value": self.poi_value,
            "test_statistic": self.test_statistic,
            "calculator": self.calculator,
            "statistic": self.statistic,
            "statistic_asimov": self.statistic_asimov,
            "cls": self.cls,
            "clsb": self.clsb,
            "clb": self.clb,
            "p_value": self.p_value,
            "significance": self.significance,
            "cls_expected": _band(self.cls_expected),
            "clsb_expected": _band(self.clsb_expected),
            "significance_expected": _band(self.expected_significance),
            "toys_null": None if self.toys_null is None else self.toys_null.to_dict(),
            "toys_alternative": None if self.toys_alternative is None else self.toys_alternative.to_dict(),
        })


@dataclass(frozen=True)
class UpperLimitResult:
    """An upper limit on the parameter of interest at confidence or credibility ``level``.

    Attributes
    ----------
    method:
        ``"cls"`` (where CLs falls to ``1 - level``) or ``"credible"`` (the ``level`` quantile of
        the marginal posterior).
    observed:
        The limit.
    expected:
        CLs only: the expected limits ``(5,)``, -2 sigma to +2 sigma (increasing).
    scan, cls_observed, cls_expected:
        CLs only: the POI values evaluated and CLs there, observed ``(n,)`` and expected ``(n, 5)``.
    """

    poi: str
    level: float
    method: str
    observed: float
    expected: np.ndarray | None = None
    scan: np.ndarray | None = None
    cls_observed: np.ndarray | None = None
    cls_expected: np.ndarray | None = None
    test_statistic: str | None = None
    calculator: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return to_json({
            "poi": self.poi,
            "level": self.level,
            "method": self.method,
            "observed": self.observed,
            "expected": _band(self.expected),
            "test_statistic": self.test_statistic,
            "calculator": self.calculator,
            "scan": self.scan,
            "cls_observed": self.cls_observed,
            "cls_expected": self.cls_expected,
        })


@dataclass(frozen=True)
class LimitScanResult:
    """Upper limits over labelled hypotheses: a scan of limits over, e.g., the signal points of
    a patchset, each named and placed by its values of ``labels``.

    Attributes
    ----------
    labels:
        The names of the values, e.g. ``("m_heavy", "m_light")``.
    names:
        The hypotheses, ``(n,)``.
    values:
        Each hypothesis's values, ``n`` tuples of ``len(labels)`` numbers (or strings).
    limits:
        The CLs :class:`UpperLimitResult` of each hypothesis; ``None`` where none was found.
    credible:
        The credible :class:`UpperLimitResult` of each hypothesis, if computed.
    failures:
        Why a limit is missing, by hypothesis name.
    """

    labels: tuple[str, ...]
    names: list[str]
    values: list[tuple[Any, ...]]
    limits: list[UpperLimitResult | None]
    credible: list[UpperLimitResult | None] | None = None
    failures: dict[str, str] = field(default_factory=dict)

    def _first(self) -> UpperLimitResult | None:
        return next((limit for limit in [*self.limits, *(self.credible or [])] if limit is not None), None)

    @property
    def poi(self) -> str | None:
        first = self._first()
        return None if first is None else first.poi

    @property
    def level(self) -> float | None:
        first = self._first()
        return None if first is None else first.level

    @property
    def observed(self) -> np.ndarray:
        """Observed CLs limits ``(n,)``, NaN where missing."""
        return np.array([np.nan if limit is None else limit.observed for limit in self.limits], dtype=float)

    @property
    def expected(self) -> np.ndarray:
        """Expected CLs limits ``(n, 5)`` (-2 sigma to +2 sigma), NaN where missing."""
        missing = np.full(5, np.nan)
        return np.array([missing if limit is None else limit.expected for limit in self.limits], dtype=float)

    @property
    def credible_limits(self) -> np.ndarray | None:
        """Credible limits ``(n,)``, NaN where missing; ``None`` if not computed."""
        if self.credible is None:
            return None
        return np.array([np.nan if limit is None else limit.observed for limit in self.credible], dtype=float)

    def value_array(self, label: str) -> np.ndarray:
        """The values of ``label`` over the hypotheses, ``(n,)`` (numbers: float)."""
        column = [values[self.labels.index(label)] for values in self.values]
        return np.array(column, dtype=float if all(isinstance(v, (int, float)) for v in column) else object)

    def rows(self) -> list[dict[str, Any]]:
        """One row per hypothesis: name, values, observed and expected limits (and credible)."""
        rows = []
        credible = self.credible_limits
        for i, (name, values) in enumerate(zip(self.names, self.values)):
            row: dict[str, Any] = {"name": name, **dict(zip(self.labels, values)), "observed": self.observed[i]}
            row.update({f"expected_{band}": value for band, value in zip(BAND_LABELS, self.expected[i])})
            if credible is not None:
                row["credible"] = credible[i]
            rows.append(row)
        return rows

    def to_dataframe(self) -> Any:
        """The :meth:`rows` as a ``pandas.DataFrame`` indexed by the labels."""
        import pandas

        return pandas.DataFrame(self.rows()).set_index(list(self.labels))

    def to_csv(self, path: str | Path) -> Path:
        """Write the :meth:`rows` as CSV (missing limits empty); returns the path."""
        path = Path(path)
        rows = [to_json(row) for row in self.rows()]
        with path.open("w", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=list(rows[0]) if rows else ["name", *self.labels])
            writer.writeheader()
            writer.writerows({k: "" if v is None else v for k, v in row.items()} for row in rows)
        return path

    def to_dict(self) -> dict[str, Any]:
        first = self._first()
        credible = self.credible or [None] * len(self.names)
        return to_json({
            "labels": list(self.labels),
            "poi": self.poi,
            "level": self.level,
            "test_statistic": None if first is None else first.test_statistic,
            "calculator": None if first is None else first.calculator,
            "points": [
                {"name": name, "values": dict(zip(self.labels, values)),
                 "observed": None if limit is None else limit.observed,
                 "expected": None if limit is None else _band(limit.expected),
                 "credible": None if other is None else other.observed,
                 "failure": self.failures.get(name)}
                for name, values, limit, other in zip(self.names, self.values, self.limits, credible)
            ],
        })


@dataclass(frozen=True)
class RankingResult:
    """The impact of each constrained nuisance entry on the POI (the ranking plot of cabinetry).

    For entry ``i`` with best-fit value ``theta_i``, post-fit error ``sigma_i`` and prior sd
    ``Delta_i`` (of its auxiliary measurement), the model is refitted with ``theta_i`` held at
    ``theta_i +- sigma_i`` (post-fit impact) and ``theta_i +- Delta_i`` (pre-fit impact); the impact
    is the change of the POI's best-fit value. Entries are ordered by the larger of their two
    post-fit impacts, largest first.

    Attributes
    ----------
    poi:
        The parameter of interest, and its best-fit value ``poi_value``.
    labels:
        The entries, ``(n,)``.
    pull, pull_error:
        ``(theta_i - prior mean) / Delta_i`` and ``sigma_i / Delta_i``, ``(n,)``.
    prefit_up, prefit_down, postfit_up, postfit_down:
        POI shifts, ``(n,)`` (NaN where the refit did not converge).
    """

    poi: str
    poi_value: float
    labels: list[str]
    pull: np.ndarray
    pull_error: np.ndarray
    prefit_up: np.ndarray
    prefit_down: np.ndarray
    postfit_up: np.ndarray
    postfit_down: np.ndarray

    def to_dict(self) -> dict[str, Any]:
        return to_json({
            "poi": self.poi,
            "poi_value": self.poi_value,
            "impacts": {
                label: {"pull": pull, "pull_error": error, "prefit_up": pre_up, "prefit_down": pre_down,
                        "postfit_up": post_up, "postfit_down": post_down}
                for label, pull, error, pre_up, pre_down, post_up, post_down in zip(
                    self.labels, self.pull, self.pull_error, self.prefit_up, self.prefit_down,
                    self.postfit_up, self.postfit_down)
            },
        })


@dataclass(frozen=True)
class PullsResult:
    """Pulls and constraints of the constrained entries (:func:`~bayesfit.inference.ranking.pulls`).

    Attributes
    ----------
    labels:
        The entries, ``(n,)``.
    pull:
        ``(theta_i - prior mean) / Delta_i``, ``(n,)``, ``Delta_i`` the prior sd of the entry's
        auxiliary measurement.
    error:
        The constraint: the entry's uncertainty over ``Delta_i``, ``(n,)`` (1: the data taught nothing).
    """

    labels: list[str]
    pull: np.ndarray
    error: np.ndarray

    def to_dict(self) -> dict[str, Any]:
        return to_json({label: {"pull": pull, "error": error} for label, pull, error in zip(self.labels, self.pull, self.error)})


@dataclass(frozen=True)
class EvidenceResult:
    """``ln Z`` of a model by Sequential Monte Carlo.

    ``log_evidence``: ``ln`` of the mean evidence over the independent runs; ``error``: the
    standard error of the per-run ``ln Z`` (NaN with one run); ``per_chain``: ``ln Z`` of every run.
    """

    log_evidence: float
    error: float
    per_chain: np.ndarray

    def to_dict(self) -> dict[str, Any]:
        return to_json({"log_evidence": self.log_evidence, "error": self.error, "per_chain": self.per_chain})


@dataclass(frozen=True)
class BayesFactorResult:
    """``ln BF`` of the numerator over the denominator hypothesis, with its standard error.

    ``method`` is ``"smc"`` (both evidences, in ``numerator`` and ``denominator``) or
    ``"savage_dickey"`` (a density ratio; no evidences). Positive values favour the numerator.
    """

    ln_bayes_factor: float
    error: float
    method: str
    numerator: EvidenceResult | None = None
    denominator: EvidenceResult | None = None

    def to_dict(self) -> dict[str, Any]:
        return to_json({
            "ln_bayes_factor": self.ln_bayes_factor,
            "error": self.error,
            "method": self.method,
            "ln_evidence_numerator": None if self.numerator is None else self.numerator.log_evidence,
            "ln_evidence_denominator": None if self.denominator is None else self.denominator.log_evidence,
        })
