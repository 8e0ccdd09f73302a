"""HistFactory workspaces as BinnedModel: likelihood, fits, hypothesis tests and limits against pyhf;
toys; the finite-MC likelihoods; validation errors and patches."""

from __future__ import annotations

import copy
import json

import numpy as np
import pytest
from scipy import special, stats

from reference_data import REFERENCE
from bayesfit.errors import ModelError, WorkspaceError
from bayesfit.histfactory import build_model, load_workspace, relative_mc_uncertainty
from bayesfit.inference import SerialExecutor, fit, generate_toys, hypotest, objective_for, upper_limit
from bayesfit.likelihood import GaussianConstraint, PoissonConstraint

pytestmark = pytest.mark.filterwarnings("ignore::FutureWarning")

PYHF_REFERENCE = REFERENCE / "pyhf"
ATLAS = PYHF_REFERENCE / "atlas-ttbar-ljets-xsec-inclusive-pruned.json"
COUNTING = PYHF_REFERENCE / "sr-ee-mm-em-counting.json"

# Two channels with every modifier type; "jes" is both a histosys and a normsys (one parameter),
# one shapesys bin and one staterror bin have zero uncertainty (their parameters are fixed).
SMALL = {
    "version": "1.0.0",
    "channels": [
        {"name": "SR", "samples": [
            {"name": "signal", "data": [5.0, 8.0, 3.0], "modifiers": [
                {"name": "mu", "type": "normfactor", "data": None},
                {"name": "lumi", "type": "lumi", "data": None},
                {"name": "sig_norm", "type": "normsys", "data": {"hi": 1.1, "lo": 0.92}},
                {"name": "stat_SR", "type": "staterror", "data": [0.5, 0.8, 0.3]},
            ]},
            {"name": "background", "data": [50.0, 40.0, 30.0], "modifiers": [
                {"name": "lumi", "type": "lumi", "data": None},
                {"name": "stat_SR", "type": "staterror", "data": [2.0, 1.5, 1.2]},
                {"name": "jes", "type": "histosys", "data": {"hi_data": [53.0, 41.0, 29.0], "lo_data": [48.0, 38.5, 30.5]}},
                {"name": "jes", "type": "normsys", "data": {"hi": 1.03, "lo": 0.98}},
                {"name": "bkg_norm", "type": "normsys", "data": {"hi": 1.05, "lo": 0.97}},
                {"name": "bkg_shape", "type": "shapesys", "data": [3.0, 0.0, 2.0]},
            ]},
        ]},
        {"name": "CR", "samples": [
            {"name": "signal", "data": [2.0, 1.0], "modifiers": [
                {"name": "mu", "type": "normfactor", "data": None},
                {"name": "jes", "type": "histosys", "data": {"hi_data": [2.2, 1.1], "lo_data": [1.9, 0.95]}},
            ]},
            {"name": "control", "data": [100.0, 80.0], "modifiers": [
                {"name": "cr_shape", "type": "shapefactor", "data": None},
                {"name": "stat_CR", "type": "staterror", "data": [0.0, 3.0]},
            ]},
        ]},
    ],
    "observations": [{"name": "SR", "data": [58.0, 50.0, 31.0]}, {"name": "CR", "data": [105.0, 79.0]}],
    "measurements": [{"name": "meas", "config": {"poi": "mu", "parameters": [
        {"name": "lumi", "auxdata": [1.0], "sigmas": [0.02], "bounds": [[0.9, 1.1]], "inits": [1.0]},
    ]}}],
}

# Two bins with a few hundred events: asymptotic formulae hold (toys against asymptotics).
LARGE = {
    "version": "1.0.0",
    "channels": [{"name": "SR", "samples": [
        {"name": "signal", "data": [30.0, 15.0], "modifiers": [
            {"name": "mu", "type": "normfactor", "data": None},
            {"name": "lumi", "type": "lumi", "data": None}]},
        {"name": "background", "data": [400.0, 250.0], "modifiers": [
            {"name": "bkg_norm", "type": "normsys", "data": {"hi": 1.04, "lo": 0.96}},
            {"name": "stat", "type": "staterror", "data": [8.0, 6.0]},
            {"name": "bkg_shape", "type": "shapesys", "data": [12.0, 10.0]}]},
    ]}],
    "observations": [{"name": "SR", "data": [415.0, 262.0]}],
    "measurements": [{"name": "meas", "config": {"poi": "mu", "parameters": [
        {"name": "lumi", "auxdata": [1.0], "sigmas": [0.02], "bounds": [[0.9, 1.1]], "inits": [1.0]}]}}],
}


# ---------------------------------------------------------------------- pyhf helpers
def _pyhf():
    pyhf = pytest.importorskip("pyhf")
    pyhf.set_backend("numpy")
    return pyhf


def pyhf_model(spec, normsys_code="4", histosys_code="4p"):
    pyhf = _pyhf()
    workspace = pyhf.Workspace(spec)
    settings = {"normsys": {"interpcode": f"code{normsys_code}"}, "histosys": {"interpcode": f"code{histosys_code}"}}
    model = workspace.model(modifier_settings=settings)
    return model, workspace.data(model)


class converged_pyhf:
    """pyhf with Minuit (strategy 1, tight tolerance): its default SLSQP often stops short of the minimum."""

    def __init__(self, tolerance=1e-4):
        self.tolerance = tolerance

    def __enter__(self):
        pyhf = _pyhf()
        pyhf.set_backend("numpy", pyhf.optimize.minuit_optimizer(strategy=1, tolerance=self.tolerance))
        return pyhf

    def __exit__(self, *exc):
        _pyhf()


def to_pyhf(model, theirs, values) -> np.ndarray:
    """Our variable values (a dict of full shapes) as pyhf's parameter vector."""
    result = np.zeros(theirs.config.npars)
    for variable in model.parameters:
        result[theirs.config.par_slice(variable.name)] = np.ravel(values[variable.name])
    return result


def pyhf_twice_nll(model, theirs, data, values) -> float:
    return -2.0 * float(theirs.logpdf(to_pyhf(model, theirs, values), data)[0])


def twice_nll(model, values) -> float:
    """Our -2 ln L at variable ``values``, from the compiled objective of fits and tests."""
    objective = objective_for(model)
    return 2.0 * objective(objective.pack(values))


def random_points(model, n: int, seed: int, spread: float = 0.3) -> list[dict[str, np.ndarray]]:
    rng = np.random.default_rng(seed)
    return [model.random_point(rng, spread) for _ in range(n)]


def pyhf_fit(theirs, data, **kwargs):
    """pyhf's converged fit: parameter vector and -2 ln L (asserts that Minuit converged)."""
    pyhf = _pyhf()
    values, twice, result = pyhf.infer.mle.fit(data, theirs, return_fitted_val=True, return_result_obj=True, **kwargs)
    assert result.success, result.message
    return values, float(twice)


# ---------------------------------------------------------------------- likelihood
@pytest.mark.parametrize("normsys_code, histosys_code", [("4", "4p"), ("1", "0")])
def test_likelihood_and_rates_match_pyhf_for_every_modifier_and_code(normsys_code, histosys_code):
    model = build_model(SMALL, normsys_code=normsys_code, histosys_code=histosys_code)
    theirs, data = pyhf_model(SMALL, normsys_code, histosys_code)
    assert sum(v.size for v in model.parameters) == theirs.config.npars
    fixed = {v.name: ~v.free for v in model.parameters}
    np.testing.assert_array_equal(to_pyhf(model, theirs, fixed).astype(bool), theirs.config.suggested_fixed())
    np.testing.assert_allclose(to_pyhf(model, theirs, model.start_point()), theirs.config.suggested_init())
    # every modifier type is a constraint of the right kind; the POI is the measurement's
    kinds = {c.variable: type(c) for c in model.constraints}
    assert kinds == {"bkg_norm": GaussianConstraint, "jes": GaussianConstraint, "lumi": GaussianConstraint,
                     "sig_norm": GaussianConstraint, "stat_CR": GaussianConstraint, "stat_SR": GaussianConstraint,
                     "bkg_shape": PoissonConstraint}
    assert model.poi == "mu"
    for point in [model.start_point(), *random_points(model, 5, seed=7)]:
        assert twice_nll(model, point) == pytest.approx(pyhf_twice_nll(model, theirs, data, point), abs=1e-10)
        expected = model.predictor.evaluate(model.predictor_values(point))[0]
        np.testing.assert_allclose(expected, theirs.expected_actualdata(to_pyhf(model, theirs, point)), rtol=1e-12)
    # the auxiliary data are pyhf's (Gaussian: a; Poisson: tau), constraint by constraint
    np.testing.assert_allclose(np.sort(model.auxdata), np.sort(theirs.config.auxdata))


def test_counting_workspace_likelihood_matches_pyhf():
    spec = json.loads(COUNTING.read_text())
    model = build_model(spec)
    theirs, data = pyhf_model(spec)
    assert model.allow_noninteger  # observations of 1e-8
    for point in [model.start_point(), *random_points(model, 4, seed=2)]:
        assert twice_nll(model, point) == pytest.approx(pyhf_twice_nll(model, theirs, data, point), abs=1e-10)


# ---------------------------------------------------------------------- fits, tests and limits
def _numeric_errors(model, theirs, data, best, step=1e-4) -> np.ndarray:
    """Errors from central differences of pyhf's -2 ln L at our minimum, in the order of ``best.labels``."""
    objective = objective_for(model)
    x0 = best.x
    hessian = np.empty((objective.size, objective.size))
    for i in range(objective.size):
        for j in range(objective.size):
            values = []
            for si, sj in [(1, 1), (1, -1), (-1, 1), (-1, -1)]:
                x = x0.copy()
                x[i] += si * step
                x[j] += sj * step
                values.append(pyhf_twice_nll(model, theirs, data, objective.unpack(x)))
            hessian[i, j] = (values[0] - values[1] - values[2] + values[3]) / (4 * step**2)
    return np.sqrt(np.diag(2.0 * np.linalg.inv(hessian)))


def test_fit_and_errors_match_converged_pyhf_on_small_workspace():
    model = build_model(SMALL)
    theirs, data = pyhf_model(SMALL)
    best = fit(model)
    assert best.converged and best.minima_agree
    with converged_pyhf():
        their_values, their_twice_nll = pyhf_fit(theirs, data)
    assert best.value("mu") == pytest.approx(their_values[theirs.config.poi_index], rel=1e-4)
    assert 2 * best.nll == pytest.approx(their_twice_nll, abs=1e-6)
    assert 2 * best.nll <= their_twice_nll + 1e-9
    errors = np.sqrt(np.diag(best.covariance))
    np.testing.assert_allclose(errors, _numeric_errors(model, theirs, data, best), rtol=1e-4)


def test_hypotests_match_pyhf_at_its_optimum():
    """q~_mu, q_mu (the POI bounded below by -5 in both) and q0, observed and expected band."""
    spec = copy.deepcopy(SMALL)
    spec["measurements"][0]["config"]["parameters"].append({"name": "mu", "bounds": [[-5.0, 10.0]]})
    cases = [(SMALL, "qmu_tilde", "qtilde", (1.0, 2.5)), (spec, "qmu", "q", (1.0, 2.5)), (SMALL, "q0", "q0", (0.0,))]
    with converged_pyhf(tolerance=1e-5) as pyhf:
        for workspace, ours_name, their_name, tested in cases:
            model = build_model(workspace)
            theirs, data = pyhf_model(workspace)
            for mu in tested:
                ours = hypotest(model, mu, test_statistic=ours_name)
                observed, band = pyhf.infer.hypotest(mu, data, theirs, test_stat=their_name, return_expected_set=True)
                if ours_name == "q0":  # pyhf reports p0 = CLs+b for the discovery test
                    assert ours.p_value == pytest.approx(float(observed), abs=1e-4)
                    np.testing.assert_allclose(ours.clsb_expected, np.ravel(band), atol=1e-4)
                else:
                    assert ours.cls == pytest.approx(float(observed), abs=1e-4), (ours_name, mu)
                    np.testing.assert_allclose(ours.cls_expected, np.ravel(band), atol=1e-4, err_msg=ours_name)
    assert model.entry("mu")[0].lower == 0.0  # the last model: the measurement's own bound
    with pytest.raises(ModelError, match="outside its bounds"):
        hypotest(model, -1.0)


def test_upper_limit_matches_pyhf():
    model = build_model(SMALL)
    theirs, data = pyhf_model(SMALL)
    limit = upper_limit(model)
    with converged_pyhf(tolerance=1e-5) as pyhf:
        observed, expected = pyhf.infer.intervals.upper_limits.upper_limit(data, theirs, scan=None, level=0.05,
                                                                        rtol=1e-8)
    assert limit.observed == pytest.approx(float(observed), rel=1e-4)
    np.testing.assert_allclose(limit.expected, np.ravel(expected), rtol=1e-4)
    assert hypotest(model, limit.observed).cls == pytest.approx(0.05, abs=1e-6)
    assert np.all(np.diff(limit.expected) > 0)  # ordered as pyhf: -2 sigma first


def test_counting_workspace_fit_and_cls_match_pyhf():
    spec = json.loads(COUNTING.read_text())
    spec["observations"][1]["data"] = [3.0]  # three events in the mm signal region
    model = build_model(spec)
    theirs, data = pyhf_model(spec)
    best = fit(model)
    assert best.converged
    with converged_pyhf(tolerance=1e-5) as pyhf:
        their_values, their_twice_nll = pyhf_fit(theirs, data)
        observed, band = pyhf.infer.hypotest(1.0, data, theirs, test_stat="qtilde", return_expected_set=True)
    assert best.value("mu_Sig") == pytest.approx(their_values[theirs.config.poi_index], rel=1e-4)
    assert 2 * best.nll == pytest.approx(their_twice_nll, abs=1e-6)
    ours = hypotest(model, 1.0)
    assert ours.cls == pytest.approx(float(observed), abs=1e-4)
    np.testing.assert_allclose(ours.cls_expected, np.ravel(band), atol=1e-4)


def test_fit_at_a_bound_converges_with_errors_of_the_free_entries():
    """No events at all: the POI ends at its lower bound, where the Hessian is indefinite."""
    model = build_model(json.loads(COUNTING.read_text()))
    theirs, data = pyhf_model(json.loads(COUNTING.read_text()))
    best = fit(model)
    assert best.converged and best.value("mu_Sig") == 0.0
    assert np.isnan(best.errors["mu_Sig"]) and best.errors["lumi"] > 0
    assert 2 * best.nll == pytest.approx(pyhf_twice_nll(model, theirs, data, best.values), abs=1e-10)
    with converged_pyhf(tolerance=1e-5):
        _, their_twice_nll = pyhf_fit(theirs, data)
    assert 2 * best.nll <= their_twice_nll + 1e-8


# ---------------------------------------------------------------------- ATLAS
@pytest.fixture(scope="module")
def atlas():
    """The ATLAS workspace (132 parameters): our model, its ML fit, pyhf's model and data."""
    spec = json.loads(ATLAS.read_text())
    model = build_model(spec)
    theirs, data = pyhf_model(spec)
    return model, fit(model), theirs, data


def test_atlas_likelihood_and_minimum_agree_with_pyhf(atlas):
    model, best, theirs, data = atlas
    assert sum(v.size for v in model.parameters) == 132
    for point in random_points(model, 3, seed=3, spread=0.1):
        assert twice_nll(model, point) == pytest.approx(pyhf_twice_nll(model, theirs, data, point), rel=1e-12)
    # (terms of 1e7 per bin cancel to 295: rounding of the sums, 3e-11 relative, at the minimum)
    assert 2 * best.nll == pytest.approx(pyhf_twice_nll(model, theirs, data, best.values), abs=1e-7)
    assert best.converged
    # the minimum of docs/histfactory.md (pyhf's Minuit fit started at it stays there)
    assert 2 * best.nll == pytest.approx(294.9460699, abs=1e-6)
    assert best.value(model.poi) == pytest.approx(0.9942119, abs=2e-5)  # 5e-4 of its error
    # quality of the minimum with pyhf's likelihood: from central differences of pyhf's -2 ln L
    # (steps of 1e-3 errors) its minimum lies g.C.g/4 below our point (no free entry at a bound)
    objective = objective_for(model)
    assert np.all((best.x > objective.lower) & (best.x < objective.upper))
    errors = np.sqrt(np.diag(best.covariance))
    gradient = np.empty(objective.size)
    for i in range(objective.size):
        step = np.zeros(objective.size)
        step[i] = 1e-3 * errors[i]
        up = pyhf_twice_nll(model, theirs, data, objective.unpack(best.x + step))
        down = pyhf_twice_nll(model, theirs, data, objective.unpack(best.x - step))
        gradient[i] = (up - down) / (2 * step[i])
    distance = 0.25 * gradient @ best.covariance @ gradient
    assert 0.0 <= distance < 1e-6


@pytest.mark.slow
def test_atlas_fit_and_cls_match_converged_pyhf(atlas):
    """Against pyhf with Minuit (strategy 1, tolerance 1e-3): from pyhf's default start its fit ends
    at or above our minimum (SLSQP 0.195 above; Minuit's end point varies, see docs/histfactory.md);
    started at our minimum it converges there. A few minutes: pyhf's numpy backend differentiates
    numerically."""
    from pyhf.infer.calculators import AsymptoticCalculator, AsymptoticTestStatDistribution

    model, best, theirs, data = atlas
    poi = theirs.config.poi_index
    ours = to_pyhf(model, theirs, best.values)
    conditional = fit(model, fixed={model.poi: 1.0}, errors=False)
    with converged_pyhf(tolerance=1e-3) as pyhf:
        _, their_twice_nll = pyhf_fit(theirs, data)
        their_best, twice_nll_from_ours = pyhf_fit(theirs, data, init_pars=ours.tolist())
        # q~(1) from pyhf's conditional fit started at ours (from its own start it stops 0.054 above)
        _, twice_conditional, result = pyhf.infer.mle.fixed_poi_fit(
            1.0, data, theirs, init_pars=to_pyhf(model, theirs, conditional.values).tolist(),
            return_fitted_val=True, return_result_obj=True)
        assert result.success
    q_observed = float(twice_conditional) - twice_nll_from_ours
    assert 2 * best.nll <= their_twice_nll + 1e-8
    assert best.value(model.poi) == pytest.approx(their_best[poi], rel=1e-4)
    assert 2 * best.nll == pytest.approx(twice_nll_from_ours, abs=1e-6)
    # CLs at POI = 1. pyhf cannot give the Asimov part here (its background-only fit does not
    # converge; docs/histfactory.md): q~_A(1) = 5902 puts CL_b at 1 and the expected band at 0,
    # so pyhf's p-values are evaluated with our q~_A.
    ours = hypotest(model, 1.0)
    assert q_observed == pytest.approx(ours.statistic, abs=1e-5)
    sqrt_q, sqrt_qa = np.sqrt(q_observed), np.sqrt(ours.statistic_asimov)
    assert sqrt_q <= sqrt_qa and sqrt_qa > 40.0
    signal, background = (AsymptoticTestStatDistribution(shift, -sqrt_qa) for shift in (-sqrt_qa, 0.0))
    calculator = AsymptoticCalculator(data, theirs, test_stat="qtilde")
    _, _, their_cls = calculator.pvalues(sqrt_q - sqrt_qa, signal, background)
    _, _, their_expected = calculator.expected_pvalues(signal, background)
    assert ours.cls == pytest.approx(float(their_cls), abs=1e-4)  # 0.44587
    np.testing.assert_allclose(ours.cls_expected, np.ravel(their_expected), atol=1e-4)


# ---------------------------------------------------------------------- toys
def test_toy_cls_agree_with_asymptotics_with_a_few_hundred_events():
    model = build_model(LARGE)
    asymptotic = hypotest(model, 1.0)
    toys = hypotest(model, 1.0, calculator="toys", n_toys=1000, seed=3, executor=SerialExecutor())
    n = 1000
    for ours, theirs in ((toys.clsb, asymptotic.clsb), (toys.clb, asymptotic.clb)):
        assert ours == pytest.approx(theirs, abs=3.5 * np.sqrt(theirs * (1 - theirs) / n))
    relative = np.sqrt((1 - asymptotic.clsb) / (n * asymptotic.clsb) + (1 - asymptotic.clb) / (n * asymptotic.clb))
    assert toys.cls == pytest.approx(asymptotic.cls, abs=3.5 * relative * asymptotic.cls)
    # the median of the expected band: CLs+b at the median of the background-only toys; over
    # seeds it spreads by ~0.035 (0.322, 0.286, 0.250 for seeds 3, 4, 5): two standard deviations
    assert toys.cls_expected[2] == pytest.approx(asymptotic.cls_expected[2], abs=0.07)


def test_toys_resample_the_auxiliary_measurements():
    model = build_model(LARGE)
    best = fit(model)
    toys = generate_toys(model, best.values, 4000, seed=1)
    assert toys.aux.shape == (4000, model.n_aux)
    expected = model.expected_aux(best.values)
    column = 0
    for constraint in model.constraints:
        values = np.ravel(best.values[constraint.variable])
        columns = slice(column, column + constraint.size)
        aux = toys.aux[:, columns]
        if isinstance(constraint, GaussianConstraint):  # Normal(theta, sigma)
            np.testing.assert_allclose(aux.std(axis=0), constraint.sigma, rtol=0.05)
            assert np.all(np.abs(aux.mean(axis=0) - values) < 4 * constraint.sigma / np.sqrt(4000))
        else:  # Poisson(tau * gamma): integer counts, mean and variance tau * gamma
            rate = constraint.factors * values
            assert np.all(aux == np.round(aux))
            assert np.all(np.abs(aux.mean(axis=0) - rate) < 4 * np.sqrt(rate / 4000))
            np.testing.assert_allclose(aux.var(axis=0), rate, rtol=0.08)
        np.testing.assert_allclose(expected[columns], constraint.expected_aux(values))
        column += constraint.size


# ---------------------------------------------------------------------- finite Monte Carlo statistics
def _effective_numpy(counts, mu, sumw2):
    """The effective likelihood (Arguelles, Schneider, Yuan) in scipy, per bin."""
    alpha = mu**2 / sumw2 + 1.0
    beta = mu / sumw2
    return (alpha * np.log(beta) + special.gammaln(counts + alpha) - special.gammaln(counts + 1.0)
            - (counts + alpha) * np.log1p(beta) - special.gammaln(alpha))


def test_effective_likelihood_replaces_staterror_and_shapesys():
    model = build_model(LARGE, likelihood="effective")
    # no staterror or shapesys parameters or constraints remain
    assert {v.name for v in model.parameters} == {"bkg_norm", "lumi", "mu"}
    assert {c.variable for c in model.constraints} == {"bkg_norm", "lumi"}
    # relative uncertainty of the background: staterror and shapesys data in quadrature over its nominal
    relative = relative_mc_uncertainty(LARGE, model.predictor.layout)
    np.testing.assert_allclose(relative[model.predictor.sample_names.index("background")],
                               np.hypot([8.0, 6.0], [12.0, 10.0]) / [400.0, 250.0])
    np.testing.assert_array_equal(relative[model.predictor.sample_names.index("signal")], 0.0)
    counts = np.array([415.0, 262.0])
    theirs, _ = pyhf_model(LARGE)  # the rates per sample, from pyhf (staterror and shapesys at 1)
    background = model.predictor.sample_names.index("background")
    for point in [model.start_point(), *random_points(model, 3, seed=5)]:
        pars = np.array(theirs.config.suggested_init(), dtype=float)
        for name in ("mu", "lumi", "bkg_norm"):
            pars[theirs.config.par_slice(name)] = np.ravel(point[name])
        by_sample = np.asarray(theirs.main_model.expected_data(pars, return_by_sample=True))
        rates = {name: by_sample[i] for i, name in enumerate(theirs.config.samples)}
        sumw2 = (relative[background] * rates["background"]) ** 2
        expected = _effective_numpy(counts, rates["signal"] + rates["background"], sumw2).sum()
        expected += stats.norm.logpdf(0.0, point["bkg_norm"], 1.0) + stats.norm.logpdf(1.0, point["lumi"], 0.02)
        assert -0.5 * twice_nll(model, point) == pytest.approx(expected, abs=1e-9)


@pytest.mark.parametrize("likelihood", ["effective", "barlow-beeston-lite"])
def test_finite_mc_likelihoods_tend_to_poisson(likelihood):
    def scaled(factor):
        spec = copy.deepcopy(LARGE)
        for modifier in spec["channels"][0]["samples"][1]["modifiers"][1:]:
            modifier["data"] = [factor * v for v in modifier["data"]]
        return spec

    poisson = build_model(LARGE)  # staterror and shapesys parameters at 1 (their constraint terms aside)
    point = {"mu": 1.3, "lumi": 1.01, "bkg_norm": 0.4}
    full = {**poisson.start_point(), **point}
    reference = -objective_for(poisson)(objective_for(poisson).pack(full)) - float(
        sum(np.sum(stats.norm.logpdf(1.0, 1.0, c.sigma)) if isinstance(c, GaussianConstraint)
            else np.sum(c.auxdata * np.log(c.factors) - c.factors - special.gammaln(c.auxdata + 1.0))
            for c in poisson.constraints
            if c.variable in ("stat", "bkg_shape"))
        + stats.norm.logpdf(0.0, 0.4, 1.0) + stats.norm.logpdf(1.0, 1.01, 0.02))
    differences = []
    for factor in (1.0, 1e-2, 1e-4):
        model = build_model(scaled(factor), likelihood=likelihood)
        value = -0.5 * twice_nll(model, point) - stats.norm.logpdf(0.0, 0.4, 1.0) - stats.norm.logpdf(1.0, 1.01, 0.02)
        differences.append(abs(value - reference))
    assert differences[0] > 1e-2  # the Monte Carlo uncertainty matters at its published size
    assert differences[2] < 1e-6 and differences[1] > differences[2]


def test_barlow_beeston_lite_is_the_profiled_staterror_of_a_single_sample():
    """One sample with a staterror: HistFactory's gamma per bin, profiled, is Barlow-Beeston-lite
    up to the normalisation of the Gaussian constraint (same sigma, as the MC uncertainty scales
    with the sample)."""
    spec = {
        "version": "1.0.0",
        "channels": [{"name": "SR", "samples": [{"name": "sample", "data": [50.0, 20.0, 80.0], "modifiers": [
            {"name": "mu", "type": "normfactor", "data": None},
            {"name": "stat", "type": "staterror", "data": [5.0, 4.0, 6.0]}]}]}],
        "observations": [{"name": "SR", "data": [61.0, 18.0, 70.0]}],
        "measurements": [{"name": "meas", "config": {"poi": "mu", "parameters": []}}],
    }
    histfactory = build_model(spec)
    lite = build_model(spec, likelihood="barlow-beeston-lite")
    sigma = np.array([5.0, 4.0, 6.0]) / np.array([50.0, 20.0, 80.0])
    normalisation = -np.sum(np.log(sigma * np.sqrt(2 * np.pi)))
    for mu in (0.7, 1.0, 1.2):
        profiled = fit(histfactory, fixed={"mu": mu}, errors=False)
        assert -profiled.nll == pytest.approx(-0.5 * twice_nll(lite, {"mu": np.asarray(mu)}) + normalisation,
                                              abs=1e-7)


def test_finite_mc_likelihood_is_checked():
    with pytest.raises(WorkspaceError, match="likelihood 'barlow-beeston-sampled' is not available"):
        build_model(LARGE, likelihood="barlow-beeston-sampled")


# ---------------------------------------------------------------------- priors and validation
def test_priors_only_for_free_parameters():
    model = build_model(SMALL, priors={"cr_shape": {"LogNormal": {"mu": 0.0, "sigma": 0.5}}})
    assert model.variable("cr_shape").priors[0].distribution == "LogNormal"
    assert model.variable("mu").priors[0].is_flat  # flat on [0, 10]
    assert (model.variable("mu").lower, model.variable("mu").upper) == (0.0, 10.0)
    # constrained entries read their auxiliary measurement: staterror sigma is the relative MC
    # error of the summed samples, shapesys Gamma(tau + 1, tau) with tau = (nominal / uncertainty)^2
    stat = model.variable("stat_SR")
    np.testing.assert_allclose([p.arguments["sigma"] for p in stat.priors],
                               np.hypot([0.5, 0.8, 0.3], [2.0, 1.5, 1.2]) / np.array([55.0, 48.0, 33.0]))
    shape = model.variable("bkg_shape")
    np.testing.assert_array_equal(shape.free, [True, False, True])  # zero uncertainty: a fixed entry
    np.testing.assert_allclose([shape.priors[i].arguments["beta"] for i in (0, 2)], [(50 / 3) ** 2, (30 / 2) ** 2])
    np.testing.assert_array_equal(model.variable("stat_CR").free, [False, True])
    with pytest.raises(ModelError, match="constrained by an auxiliary measurement"):
        build_model(SMALL, priors={"lumi": {"Normal": {"mu": 1.0, "sigma": 0.1}}})


def _broken(edit) -> dict:
    spec = copy.deepcopy(SMALL)
    edit(spec)
    return spec


@pytest.mark.parametrize("edit, message", [
    (lambda s: s["channels"][1]["samples"][1]["modifiers"][0].update(type="normsyst"),
     r"channels\[1\]\.samples\[1\]\.modifiers\[0\]\.type: unknown modifier type 'normsyst'"),
    (lambda s: s["channels"][0]["samples"][1].pop("data"), r"channels\[0\]\.samples\[1\]\.data: is missing"),
    (lambda s: s["channels"][0]["samples"][1]["data"].append(1.0),
     r"channels\[0\]\.samples\[1\]\.data: has 4 bins, expected 3"),
    (lambda s: s["channels"][0]["samples"][1]["modifiers"][2]["data"]["hi_data"].pop(),
     r"channels\[0\]\.samples\[1\]\.modifiers\[2\]\.data\.hi_data: has 2 bins, expected 3"),
    (lambda s: s["observations"][1]["data"].append(3.0), r"observations\[1\]\.data: has 3 bins, expected 2"),
    (lambda s: s["channels"][1]["samples"][1]["modifiers"][0].update(type="normfactor", name="lumi"),
     r"channels\[0\]\.samples\[0\]\.modifiers\[1\]\.type: parameter 'lumi' is a normfactor at "
     r"channels\[1\]\.samples\[1\]\.modifiers\[0\] but a lumi here"),
    (lambda s: s["measurements"][0]["config"]["parameters"].clear(), r"lumi parameter 'lumi' needs inits"),
    (lambda s: s["measurements"][0]["config"]["parameters"][0].update(sigmas=[0.0]),
     r"measurements\[0\]\.config\.parameters: sigmas of parameter 'lumi' must be > 0"),
    (lambda s: s["measurements"][0]["config"]["parameters"].append({"name": "mu", "fixed": True}),
     r"measurements\[0\]\.config\.parameters: the POI 'mu' is fixed"),
    (lambda s: s["measurements"][0]["config"].update(poi="stat_SR"),
     r"measurements\[0\]\.config\.poi: 'stat_SR' is not a scalar parameter"),
])
def test_malformed_workspaces_name_the_json_path(edit, message):
    with pytest.raises(WorkspaceError, match=message):
        build_model(_broken(edit))


def test_measurement_configuration_fixes_and_bounds_entries():
    spec = copy.deepcopy(SMALL)
    spec["measurements"][0]["config"]["parameters"] += [
        {"name": "bkg_norm", "fixed": True, "inits": [0.5]},
        {"name": "cr_shape", "bounds": [[0.5, 2.0], [0.0, 3.0]]},
    ]
    model = build_model(spec)
    theirs, data = pyhf_model(spec)
    norm, shape = model.variable("bkg_norm"), model.variable("cr_shape")
    assert not norm.free and norm.start == 0.5
    np.testing.assert_array_equal(shape.lower, [0.5, 0.0])
    np.testing.assert_array_equal(shape.upper, [2.0, 3.0])
    best = fit(model)
    assert 2 * best.nll == pytest.approx(pyhf_twice_nll(model, theirs, data, best.values), abs=1e-10)
    assert "bkg_norm" in {c.variable for c in model.constraints}  # its term stays in the likelihood, as in pyhf


def test_patches_and_patchsets():
    workspace = load_workspace(SMALL)
    patch = [{"op": "replace", "path": "/channels/0/samples/0/data", "value": [1.0, 2.0, 3.0]}]
    patched = workspace.patched(patch)
    assert patched.spec["channels"][0]["samples"][0]["data"] == [1.0, 2.0, 3.0]
    assert workspace.spec["channels"][0]["samples"][0]["data"] == [5.0, 8.0, 3.0]
    patchset = {"patches": [{"metadata": {"name": "m500"}, "patch": patch}]}
    assert workspace.patched(patchset, "m500").spec == patched.spec
    with pytest.raises(WorkspaceError, match="no patch named 'm600'; available: \\['m500'\\]"):
        workspace.patched(patchset, "m600")
    with pytest.raises(WorkspaceError, match="patch: cannot apply"):
        workspace.patched([{"op": "replace", "path": "/channels/7/samples", "value": []}])
    bad_length = [{"op": "add", "path": "/channels/0/samples/1/data/-", "value": 1.0}]
    with pytest.raises(WorkspaceError, match=r"channels\[0\]\.samples\[1\]\.data: has 4 bins, expected 3"):
        workspace.patched(bad_length)
