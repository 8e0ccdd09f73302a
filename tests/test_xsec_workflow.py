"""The cross-section workflow (ReMU example 06) against numpy, scipy and ReMU's published fit."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from scipy import special, stats

from bayesfit.datasets.xsec_toy import cross_section_table
from bayesfit.errors import AnalysisFileError, ModelError
from bayesfit.inference import Objective, fit
from bayesfit.model import BinnedModel
from bayesfit.predictors import MatrixPredictor
from bayesfit.workflows import xsec

REMU_DIR = Path("/work/shared/reference/remu-examples")
TRUE_WEIGHTS = np.array([1.0, 1.0, 0.6, 0.8])


@pytest.fixture(scope="module")
def inputs() -> xsec.XsecInputs:
    return xsec.toy_inputs(7, years_simulated=30.0, n_universes=20)


@pytest.fixture(scope="module")
def chain(inputs: xsec.XsecInputs) -> xsec.XsecChain:
    return xsec.build_chain(inputs)


def numpy_expected(inputs: xsec.XsecInputs, weights: np.ndarray, flux: np.ndarray | None = None) -> np.ndarray:
    """``(K, n_reco)`` reco events by plain numpy, from the cross-section functions and the edges.

    ``flux`` ``(K, n_flux)`` defaults to the throws (universe ``k`` pairs throw ``k`` with
    detector universe ``k``).
    """
    flux = inputs.flux_throws if flux is None else flux
    edges = {name: np.asarray(getattr(xsec, name)) for name in
             ("BACKGROUND_X_EDGES", "BACKGROUND_Y_EDGES", "SIGNAL_X_EDGES", "SIGNAL_Y_EDGES")}
    background = cross_section_table("background", edges["BACKGROUND_X_EDGES"], edges["BACKGROUND_Y_EDGES"])
    signal = [cross_section_table(model, edges["SIGNAL_X_EDGES"], edges["SIGNAL_Y_EDGES"]) for model in ("model_A", "model_B")]
    background_events = weights[1] * np.einsum("xye,ke->kxy", background, flux).reshape(len(flux), -1)
    signal_events = sum(w * np.einsum("xye,ke->kxy", table, flux) for w, table in zip(weights[2:], signal))
    truth = np.concatenate(
        [np.full((len(flux), 1), weights[0] * 200.0), background_events, signal_events.reshape(len(flux), -1)], axis=1
    )
    return np.einsum("kit,kt->ki", inputs.response.matrices, truth)


def test_binnings_have_remus_sizes(chain: xsec.XsecChain) -> None:
    assert chain.templates.parameter_binning.size == 1 + 432 + 1080
    assert chain.event_predictor.n_out == 1 + 48 + 120
    assert chain.linearised.matrix.shape == (20, 8, 4)


def test_linearised_chain_equals_full_chain_and_numpy(inputs: xsec.XsecInputs, chain: xsec.XsecChain) -> None:
    rng = np.random.default_rng(3)
    for weights in rng.uniform(0.0, 2.0, size=(3, 4)):
        linear = chain.linearised.evaluate(weights=weights)
        full = chain.full_chain.evaluate(weights=weights)
        np.testing.assert_allclose(linear, full, rtol=1e-10, atol=0)
        np.testing.assert_allclose(linear, numpy_expected(inputs, weights), rtol=1e-10, atol=0)


def test_marginalised_likelihood_is_log_mean_exp_of_poisson(inputs: xsec.XsecInputs, chain: xsec.XsecChain) -> None:
    model = xsec.template_model(inputs, chain)
    objective = Objective(model)
    for weights in (TRUE_WEIGHTS, np.array([1.3, 0.5, 0.1, 1.2])):
        per_universe = stats.poisson.logpmf(inputs.observed, numpy_expected(inputs, weights)).sum(axis=1)
        expected_nll = -(special.logsumexp(per_universe) - np.log(len(per_universe)))
        assert objective(weights) == pytest.approx(expected_nll, rel=1e-12)


def test_fit_recovers_injected_weights_on_asimov_data(inputs: xsec.XsecInputs, chain: xsec.XsecChain) -> None:
    """Asimov counts of one universe (numpy) are fitted exactly by that universe's chain."""
    universe = 5
    asimov = numpy_expected(inputs, TRUE_WEIGHTS)[universe]
    predictor = MatrixPredictor(chain.linearised.matrix[universe], parameter="weights", labels=xsec.TEMPLATE_NAMES)
    result = fit(BinnedModel(predictor, asimov, allow_noninteger=True))
    assert result.converged
    np.testing.assert_allclose(result.values["weights"], TRUE_WEIGHTS, rtol=1e-4)


def test_marginalised_fit_of_asimov_data_is_near_the_injected_weights(
    inputs: xsec.XsecInputs, chain: xsec.XsecChain
) -> None:
    """With the universes marginalised the universe-averaged Asimov counts are not fitted exactly
    (marginalising is not averaging expectations), but far inside the uncertainties."""
    asimov = numpy_expected(inputs, TRUE_WEIGHTS).mean(axis=0)
    result = fit(xsec.template_model(inputs, chain, observed=asimov, allow_noninteger=True))
    assert result.converged
    pulls = (result.values["weights"] - TRUE_WEIGHTS) / result.errors["weights"]
    assert np.all(np.abs(pulls) < 0.5), (result.values["weights"], result.errors["weights"])


def test_flux_nuisance_predictor_equals_chain_at_each_throw(inputs: xsec.XsecInputs, chain: xsec.XsecChain) -> None:
    predictor = xsec.flux_template_predictor(inputs, chain.templates)
    weights = np.array([0.9, 1.1, 0.4, 0.7])
    for k in (0, 13):
        flux = np.broadcast_to(inputs.flux_throws[k], inputs.flux_throws.shape)
        expected = predictor.evaluate(weights=weights, flux=inputs.flux_throws[k])
        np.testing.assert_allclose(expected[k], numpy_expected(inputs, weights, flux)[k], rtol=1e-10)
    model = xsec.template_model(inputs, chain, flux="nuisance")
    assert [p.name for p in model.free_parameters] == ["weights", "flux_throw"]


def test_subsets_of_templates_and_bad_options(inputs: xsec.XsecInputs, chain: xsec.XsecChain) -> None:
    only_b = xsec.select_templates(chain.linearised, ["noise", "background", "model_B"])
    np.testing.assert_allclose(
        only_b.evaluate(weights=[1.0, 0.5, 2.0]), chain.linearised.evaluate(weights=[1.0, 0.5, 0.0, 2.0]), rtol=1e-12
    )
    with pytest.raises(ModelError, match="unknown template"):
        xsec.select_templates(chain.linearised, ["model_C"])
    with pytest.raises(ModelError, match="unknown flux treatment"):
        xsec.template_model(inputs, chain, flux="throws")
    with pytest.raises(ModelError, match="paired one to one"):
        xsec.XsecInputs(**{**inputs.__dict__, "flux_throws": inputs.flux_throws[:5]})
    with pytest.raises(AnalysisFileError, match="does not exist"):
        xsec.remu_inputs("/nonexistent/remu")


@pytest.mark.skipif(not REMU_DIR.exists(), reason="ReMU reference files not available")
def test_remu_reference_inputs_reproduce_remus_fit() -> None:
    """ReMU's example 06 on its own files gives x = [239.8, 0.398, 0.0, 1.08], -ln L = 27.15."""
    inputs = xsec.remu_inputs(REMU_DIR)
    assert inputs.response.matrices.shape == (100, 8, 169)
    assert inputs.observed.sum() == 794
    result = fit(xsec.template_model(inputs, xsec.build_chain(inputs)))
    weights = result.values["weights"]
    assert weights[0] * inputs.noise_events == pytest.approx(239.8, rel=0.03)
    np.testing.assert_allclose(weights[1:], [0.398, 0.0, 1.082], atol=0.03)
    assert result.nll == pytest.approx(27.15, abs=0.1)  # flux throws are random in ReMU and here


@pytest.mark.parametrize("truth, favoured", [("model_A", "A"), ("model_B", "B")])
def test_bayes_factor_prefers_the_generating_model(
    inputs: xsec.XsecInputs, chain: xsec.XsecChain, truth: str, favoured: str
) -> None:
    from bayesfit.inference.bayes_factor import bayes_factor

    weights = np.array([1.0, 1.0, 1.0 * (truth == "model_A"), 1.0 * (truth == "model_B")])
    asimov = numpy_expected(inputs, weights).mean(axis=0) * 3
    priors = {"weights": {"Uniform": {"lower": 0.0, "upper": 3.0}}}
    models = [
        xsec.template_model(inputs, chain, templates=("noise", "background", model), priors=priors,
                            observed=asimov, allow_noninteger=True)
        for model in ("model_A", "model_B")
    ]
    result = bayes_factor(*models, draws=500, chains=2, seed=1)
    ln_bf = result.ln_bayes_factor if favoured == "A" else -result.ln_bayes_factor
    assert ln_bf > 3 * result.error + 1.0, result
