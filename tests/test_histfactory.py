"""HistFactory workspaces: likelihood, fits and CLs against pyhf; validation errors; priors."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

from reference_data import REFERENCE
from bayesfit.errors import WorkspaceError
from bayesfit.histfactory import HistFactoryModel, load_workspace
from bayesfit.histfactory.fit import AsymptoticCLs, fit, profile_poi, upper_limit

PYHF_REFERENCE = REFERENCE / "pyhf"

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


def pyhf_model(spec, normsys_code="4", histosys_code="4p"):
    pyhf = pytest.importorskip("pyhf")
    pyhf.set_backend("numpy")
    workspace = pyhf.Workspace(spec)
    settings = {"normsys": {"interpcode": f"code{normsys_code}"}, "histosys": {"interpcode": f"code{histosys_code}"}}
    model = workspace.model(modifier_settings=settings)
    return model, workspace.data(model)


def to_pyhf(ours: HistFactoryModel, theirs, theta: np.ndarray) -> np.ndarray:
    """Reorder our flat parameter vector into pyhf's order, by parameter name."""
    result = np.zeros(theirs.config.npars)
    for parameter in ours.parameter_sets:
        result[theirs.config.par_slice(parameter.name)] = theta[parameter.slice]
    return result


def random_points(model: HistFactoryModel, n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    low = np.maximum(model.bounds[:, 0], model.inits - 2.0)
    high = np.minimum(model.bounds[:, 1], model.inits + 2.0)
    points = rng.uniform(low, high, size=(n, model.n_parameters))
    return np.where(model.fixed, model.inits, points)


@pytest.mark.parametrize("normsys_code, histosys_code", [("4", "4p"), ("1", "0")])
def test_logpdf_matches_pyhf_for_every_modifier_and_code(normsys_code, histosys_code):
    model = HistFactoryModel(SMALL, normsys_code=normsys_code, histosys_code=histosys_code)
    theirs, data = pyhf_model(SMALL, normsys_code, histosys_code)
    assert model.n_parameters == theirs.config.npars
    np.testing.assert_array_equal(to_pyhf(model, theirs, model.fixed.astype(float)).astype(bool),
                                  theirs.config.suggested_fixed())
    np.testing.assert_allclose(to_pyhf(model, theirs, model.inits), theirs.config.suggested_init())
    for theta in random_points(model, 5, seed=7):
        expected = theirs.logpdf(to_pyhf(model, theirs, theta), data)[0]
        assert model.logpdf(theta) == pytest.approx(expected, abs=1e-10, rel=1e-13)
        np.testing.assert_allclose(model.predictor.evaluate(_named(model, theta))[0],
                                   theirs.expected_actualdata(to_pyhf(model, theirs, theta)), rtol=1e-12)


def _named(model: HistFactoryModel, theta: np.ndarray) -> dict[str, np.ndarray]:
    return {p.name: theta[p.slice] if not p.is_scalar else theta[p.offset] for p in model.parameter_sets}


def test_fit_cls_and_errors_match_pyhf_on_small_workspace():
    pyhf = pytest.importorskip("pyhf")
    model = HistFactoryModel(SMALL)
    theirs, data = pyhf_model(SMALL)
    result = fit(model)
    their_values, their_twice_nll = pyhf.infer.mle.fit(data, theirs, return_fitted_val=True)
    poi = theirs.config.poi_index
    assert result.poi == pytest.approx(their_values[poi], rel=1e-4)
    assert result.twice_nll == pytest.approx(float(their_twice_nll), abs=1e-6)
    # Hessian errors against central differences of pyhf's -2 log L, over the free parameters
    free = np.flatnonzero(~model.fixed)
    step = 1e-4
    twice_nll = lambda theta: -2.0 * theirs.logpdf(to_pyhf(model, theirs, theta), data)[0]
    hessian = np.empty((len(free), len(free)))
    for a, i in enumerate(free):
        for b, j in enumerate(free):
            shifts = [np.zeros(model.n_parameters) for _ in range(4)]
            for shift, (si, sj) in zip(shifts, [(1, 1), (1, -1), (-1, 1), (-1, -1)]):
                shift[i] += si * step
                shift[j] += sj * step
            values = [twice_nll(result.values + shift) for shift in shifts]
            hessian[a, b] = (values[0] - values[1] - values[2] + values[3]) / (4 * step**2)
    numeric_errors = np.sqrt(np.diag(2.0 * np.linalg.inv(hessian)))
    np.testing.assert_allclose(result.errors[free], numeric_errors, rtol=1e-4)

    calculator = AsymptoticCLs(model)
    for poi_value in (1.0, 2.5):
        ours = calculator(poi_value)
        cls, expected = pyhf.infer.hypotest(poi_value, data, theirs, test_stat="qtilde", return_expected_set=True)
        assert ours.cls == pytest.approx(float(cls), abs=1e-4)
        np.testing.assert_allclose(ours.cls_expected, np.ravel(expected), atol=1e-4)


def test_profile_is_a_parabola_near_the_minimum_and_limit_solves_cls():
    model = HistFactoryModel(SMALL)
    best = fit(model)
    offsets = np.array([-0.1, 0.0, 0.1]) * best.poi_error
    profile = profile_poi(model, best.poi + offsets)
    # Wilks/Wald: -2 Delta log L = (mu - mu_hat)^2 / sigma^2 close to the minimum
    np.testing.assert_allclose(profile.twice_delta_nll, (offsets / best.poi_error) ** 2, atol=1e-4)
    limit = upper_limit(model)
    calculator = AsymptoticCLs(model)
    assert calculator(limit.observed).cls == pytest.approx(0.05, abs=1e-5)
    assert calculator.expected_cls(limit.expected[2])[2] == pytest.approx(0.05, abs=1e-5)
    assert np.all(np.diff(limit.expected) > 0)  # ordered as pyhf: -2 sigma band first


def test_counting_workspace_matches_pyhf():
    pyhf = pytest.importorskip("pyhf")
    spec = json.loads((PYHF_REFERENCE / "sr-ee-mm-em-counting.json").read_text())
    model = HistFactoryModel(spec)
    theirs, data = pyhf_model(spec)
    result = fit(model, errors=False)
    their_values, their_twice_nll = pyhf.infer.mle.fit(data, theirs, return_fitted_val=True)
    assert result.poi == pytest.approx(their_values[theirs.config.poi_index], rel=1e-4, abs=1e-8)
    assert result.twice_nll == pytest.approx(float(their_twice_nll), abs=1e-6)
    ours = AsymptoticCLs(model)(1.0)
    cls, expected = pyhf.infer.hypotest(1.0, data, theirs, test_stat="qtilde", return_expected_set=True)
    assert ours.cls == pytest.approx(float(cls), abs=1e-4)
    np.testing.assert_allclose(ours.cls_expected, np.ravel(expected), atol=1e-4)


ATLAS = PYHF_REFERENCE / "atlas-ttbar-ljets-xsec-inclusive-pruned.json"


@pytest.fixture(scope="module")
def atlas():
    """The ATLAS workspace: our model, pyhf's model and data, and our ML fit (about 10 s)."""
    spec = json.loads(ATLAS.read_text())
    model = HistFactoryModel(spec)
    theirs, data = pyhf_model(spec)
    return model, theirs, data, fit(model)


def pyhf_twice_nll(ours: HistFactoryModel, theirs, data, theta: np.ndarray) -> float:
    """pyhf's -2 log L at our flat parameter vector ``theta``."""
    return -2.0 * float(theirs.logpdf(to_pyhf(ours, theirs, theta), data)[0])


def test_atlas_likelihood_and_minimum_agree_with_pyhf(atlas):
    model, theirs, data, best = atlas
    for theta in random_points(model, 3, seed=3):
        expected = theirs.logpdf(to_pyhf(model, theirs, theta), data)[0]
        assert model.logpdf(theta) == pytest.approx(expected, rel=1e-12)
    assert pyhf_twice_nll(model, theirs, data, best.values) == pytest.approx(best.twice_nll, abs=1e-6)
    # Quality of the minimum with pyhf's likelihood: from central differences of pyhf's -2 log L
    # (steps of 1e-3 Hesse errors), its minimum lies g.C.g/4 below our point (C the covariance,
    # -2 log L quadratic near the minimum); no free parameter is at a bound here.
    free = np.flatnonzero(~model.fixed)
    assert np.all((best.values[free] > model.bounds[free, 0]) & (best.values[free] < model.bounds[free, 1]))
    gradient = np.empty(len(free))
    for k, i in enumerate(free):
        step = np.zeros(model.n_parameters)
        step[i] = 1e-3 * best.errors[i]
        gradient[k] = (pyhf_twice_nll(model, theirs, data, best.values + step)
                       - pyhf_twice_nll(model, theirs, data, best.values - step)) / (2 * step[i])
    distance = 0.25 * gradient @ best.covariance[np.ix_(free, free)] @ gradient
    assert 0.0 <= distance < 1e-6  # measured 4.6e-7


@pytest.mark.slow
def test_atlas_fit_and_cls_match_converged_pyhf(atlas):
    """Against pyhf with Minuit, strategy 1 and tolerance 1e-3: pyhf's default SLSQP fit stops 0.195
    above the minimum in -2 log L here, Minuit with strategy 0 6e-4 above, with strategy 1 and
    tolerance 1e-2 1.6e-6 above. About 5-8 minutes: pyhf's numpy backend differentiates numerically."""
    pyhf = pytest.importorskip("pyhf")
    from pyhf.infer.calculators import AsymptoticCalculator, AsymptoticTestStatDistribution
    from pyhf.infer.test_statistics import qmu_tilde

    model, theirs, data, best = atlas
    pyhf.set_backend("numpy", pyhf.optimize.minuit_optimizer(strategy=1, tolerance=1e-3))
    try:
        their_best, their_twice_nll = pyhf.infer.mle.fit(data, theirs, return_fitted_val=True)
        q_observed = float(qmu_tilde(1.0, data, theirs, their_best.tolist(), theirs.config.suggested_bounds(),
                                     theirs.config.suggested_fixed()))
    finally:
        pyhf.set_backend("numpy")
    assert best.poi == pytest.approx(their_best[theirs.config.poi_index], rel=1e-4)  # measured 2.5e-5
    assert best.twice_nll == pytest.approx(float(their_twice_nll), abs=1e-6)  # measured 4.7e-7
    assert best.twice_nll <= float(their_twice_nll)
    ours_at_theirs = np.empty(model.n_parameters)
    for parameter in model.parameter_sets:
        ours_at_theirs[parameter.slice] = their_best[theirs.config.par_slice(parameter.name)]
    assert -2.0 * model.logpdf(ours_at_theirs) == pytest.approx(float(their_twice_nll), abs=1e-6)

    # CLs at POI = 1. pyhf cannot give the Asimov part here: with Minuit its background-only
    # (POI = 0) fit ends 134 above ours in -2 log L and its free fit to the Asimov data of that
    # point is invalid; with SLSQP it returns CLs = 1. Our q~_A(1) = 5902 makes CL_b = 1 and the
    # expected band 0 to double precision for any q~_A above about 40, so pyhf's p-values are
    # evaluated with ours.
    ours = AsymptoticCLs(model)(1.0)
    assert q_observed == pytest.approx(ours.q_tilde, abs=1e-5)  # measured 2.9e-7
    sqrt_q, sqrt_qa = np.sqrt(q_observed), np.sqrt(ours.q_tilde_asimov)
    assert sqrt_q <= sqrt_qa and sqrt_qa > 40.0
    signal, background = (AsymptoticTestStatDistribution(shift, -sqrt_qa) for shift in (-sqrt_qa, 0.0))
    calculator = AsymptoticCalculator(data, theirs, test_stat="qtilde")
    _, _, their_cls = calculator.pvalues(sqrt_q - sqrt_qa, signal, background)
    _, _, their_expected = calculator.expected_pvalues(signal, background)
    assert ours.cls == pytest.approx(float(their_cls), abs=1e-4)  # 0.44587
    np.testing.assert_allclose(ours.cls_expected, np.ravel(their_expected), atol=1e-4)


def test_bayesian_reading_of_the_constraints():
    model = HistFactoryModel(SMALL)
    priors = model.priors(free_priors={"cr_shape": ("lognormal", {"mu": 0.0, "sigma": 0.5})})
    assert priors["mu"].family == "uniform"
    np.testing.assert_array_equal(priors["mu"].parameters["upper"], [10.0])
    assert priors["lumi"].family == "normal" and priors["lumi"].parameters["sigma"][0] == 0.02
    assert priors["jes"].family == "normal" and priors["jes"].parameters["mu"][0] == 0.0
    # staterror: sqrt(sum of squared uncertainties) / summed nominal, per bin
    np.testing.assert_allclose(priors["stat_SR"].parameters["sigma"],
                               np.hypot([0.5, 0.8, 0.3], [2.0, 1.5, 1.2]) / np.array([55.0, 48.0, 33.0]))
    # shapesys: Gamma(alpha = tau + 1, beta = tau), tau = (nominal / uncertainty)^2
    gamma = priors["bkg_shape"]
    assert gamma.family == "gamma"
    np.testing.assert_allclose(gamma.parameters["beta"][[0, 2]], [(50 / 3) ** 2, (30 / 2) ** 2])
    np.testing.assert_allclose(gamma.parameters["alpha"], gamma.parameters["beta"] + 1)
    # that Gamma is the posterior of the Poisson auxiliary measurement under a flat prior
    tau = gamma.parameters["beta"][0]
    grid = np.linspace(0.5, 1.5, 2001)
    log_likelihood = tau * np.log(tau * grid) - tau * grid  # Poisson(aux = tau | tau * gamma)
    likelihood = np.exp(log_likelihood - log_likelihood.max())
    posterior = likelihood / np.trapezoid(likelihood, grid)
    np.testing.assert_allclose(posterior, stats.gamma.pdf(grid, tau + 1, scale=1 / tau), rtol=1e-6, atol=1e-9)
    np.testing.assert_array_equal(gamma.fixed, [False, True, False])  # zero uncertainty: fixed bin
    np.testing.assert_array_equal(priors["stat_CR"].fixed, [True, False])
    assert priors["cr_shape"].family == "lognormal"
    with pytest.raises(WorkspaceError, match="constrained"):
        model.priors(free_priors={"lumi": ("normal", {"mu": 1.0, "sigma": 0.1})})


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
])
def test_malformed_workspaces_name_the_json_path(edit, message):
    with pytest.raises(WorkspaceError, match=message):
        HistFactoryModel(_broken(edit))


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
