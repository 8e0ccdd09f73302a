"""Response matrices: filling from events, ReMU files, and the matrix predictor they make."""

from __future__ import annotations


import numpy as np
import pytensor
import pytensor.tensor as pt
import pytest
from scipy import special

from reference_data import REFERENCE
from bayesfit.errors import EventsError, PredictorError
from bayesfit.predictors.response import ResponseMatrix

REMU_05 = REFERENCE / "remu-examples" / "05" / "response_matrix.npz"
needs_remu = pytest.mark.skipif(not REMU_05.is_file(), reason="ReMU reference data not available")


@pytest.fixture(scope="module")
def simulation():
    rng = np.random.default_rng(11)
    n_events, n_truth, n_reco, n_universes = 4000, 6, 4, 5
    truth = rng.integers(0, n_truth, n_events)
    reco = rng.integers(-1, n_reco, n_events)
    weights = rng.uniform(0.1, 2.0, n_events)
    universe_weights = weights[:, None] * rng.uniform(0.5, 1.5, (n_events, n_universes))
    universe_reco = np.where(rng.uniform(size=(n_events, n_universes)) < 0.2,
                             rng.integers(-1, n_reco, (n_events, n_universes)), reco[:, None])
    return truth, reco, weights, universe_weights, universe_reco, n_truth, n_reco


def histogram_response(truth, reco, weights, n_truth, n_reco, noise=()):
    """One universe, with numpy histograms (independent of the bincount-based filling)."""
    edges_truth, edges_reco = np.arange(n_truth + 1) - 0.5, np.arange(n_reco + 1) - 0.5
    sumw = np.histogram2d(reco, truth, bins=(edges_reco, edges_truth), weights=weights)[0]
    sumw2 = np.histogram2d(reco, truth, bins=(edges_reco, edges_truth), weights=weights**2)[0]
    generated = np.histogram(truth, bins=edges_truth, weights=weights)[0]
    for column in noise:
        generated[column] = sumw[:, column].sum()
    return sumw / generated, sumw, sumw2, generated


def test_from_events_single_universe(simulation):
    truth, reco, weights, _, _, n_truth, n_reco = simulation
    response = ResponseMatrix.from_events(truth, reco, weights=weights, n_truth=n_truth,
                                          n_reco=n_reco, noise_bins=[2])
    matrix, sumw, sumw2, generated = histogram_response(truth, reco, weights, n_truth, n_reco, [2])
    assert response.matrices.shape == (1, n_reco, n_truth) and response.noise_bins == (2,)
    np.testing.assert_allclose(response.matrices[0], matrix, rtol=1e-12)
    np.testing.assert_allclose(response.sumw[0], sumw, rtol=1e-12)
    np.testing.assert_allclose(response.sumw2[0], sumw2, rtol=1e-12)
    np.testing.assert_array_equal(response.truth_entries, np.bincount(truth, minlength=n_truth))
    efficiency = response.efficiency[0]
    assert efficiency[2] == pytest.approx(1.0, rel=1e-14)  # noise bin: always reconstructed
    not_noise = np.arange(n_truth) != 2
    assert np.all(efficiency[not_noise] < 0.9)  # about 3/4 of events are reconstructed
    np.testing.assert_array_equal(response.weights, [1.0])


def test_from_events_universes(simulation):
    truth, _, _, universe_weights, universe_reco, n_truth, n_reco = simulation
    response = ResponseMatrix.from_events(
        truth, None, universe_weights=universe_weights, universe_reco_index=universe_reco,
        n_truth=n_truth, n_reco=n_reco, variation_weights=np.arange(1.0, 6.0),
    )
    assert response.matrices.shape == (5, n_reco, n_truth)
    np.testing.assert_array_equal(response.weights, np.arange(1.0, 6.0))
    for k in range(5):
        matrix, sumw, sumw2, generated = histogram_response(
            truth, universe_reco[:, k], universe_weights[:, k], n_truth, n_reco
        )
        np.testing.assert_allclose(response.matrices[k], matrix, rtol=1e-12)
        np.testing.assert_allclose(response.sumw2[k], sumw2, rtol=1e-12)
        np.testing.assert_allclose(response.truth_sumw[k], generated, rtol=1e-12)


def test_from_events_alternative_reco_only(simulation):
    truth, _, weights, _, universe_reco, n_truth, n_reco = simulation
    response = ResponseMatrix.from_events(truth, None, weights=weights, universe_reco_index=universe_reco,
                                          n_truth=n_truth, n_reco=n_reco)
    matrix = histogram_response(truth, universe_reco[:, 3], weights, n_truth, n_reco)[0]
    np.testing.assert_allclose(response.matrices[3], matrix, rtol=1e-12)


@needs_remu
def test_remu_npz_and_predictor_chain():
    stored = np.load(REMU_05)
    response = ResponseMatrix.from_remu_npz(REMU_05)
    assert response.matrices.shape == (100, 8, 169)
    np.testing.assert_array_equal(response.weights, stored["weights"])
    np.testing.assert_array_equal(response.truth_entries, stored["truth_entries"])
    predictor = response.predictor(name="remu05")
    assert predictor.n_variations == 100 and predictor.n_out == 8
    rng = np.random.default_rng(5)
    matrices = np.zeros((100, 8, 169))
    matrices[:, :, stored["sparse_indices"]] = stored["matrices"]
    truths = [rng.uniform(0, 50, 169), rng.exponential(100, 169)]
    for truth in truths:
        expected = predictor.evaluate(truth=truth)
        for k in (0, 17, 99):
            np.testing.assert_allclose(expected[k], matrices[k] @ truth, rtol=1e-12)

    # Poisson per universe, marginalised by log-mean-exp: value and gradient vs numpy
    data = rng.poisson(matrices[0] @ truths[0]).astype(float)
    inputs = predictor.symbols()
    counts = predictor.expected(inputs)  # (100, 8)
    per_universe = pt.sum(data * pt.log(counts) - counts - special.gammaln(data + 1), axis=1)
    logp = pt.logsumexp(per_universe) - np.log(100)
    function = pytensor.function([inputs["truth"]], [logp, pytensor.grad(logp, inputs["truth"])])

    def numpy_logp(truth):
        mu = np.einsum("kij,j->ki", matrices, truth)
        return special.logsumexp((data * np.log(mu) - mu - special.gammaln(data + 1)).sum(1)) - np.log(100)

    value, gradient = function(truths[0])
    np.testing.assert_allclose(value, numpy_logp(truths[0]), rtol=1e-12)
    # analytic: sum_k p_k sum_i (n_i / mu_ki - 1) R_kij, with p_k the universe posterior weights
    mu = np.einsum("kij,j->ki", matrices, truths[0])
    per_universe_numpy = (data * np.log(mu) - mu - special.gammaln(data + 1)).sum(1)
    posterior = np.exp(per_universe_numpy - special.logsumexp(per_universe_numpy))
    analytic = np.einsum("k,ki,kij->j", posterior, data / mu - 1, matrices)
    np.testing.assert_allclose(gradient, analytic, rtol=1e-9, atol=1e-12)
    step = 1e-3  # einsum rounding makes smaller steps noisy
    for j in (0, 1, 60, 168):
        shift = np.zeros(169)
        shift[j] = step
        numeric = (numpy_logp(truths[0] + shift) - numpy_logp(truths[0] - shift)) / (2 * step)
        np.testing.assert_allclose(gradient[j], numeric, rtol=1e-6)


def test_remu_sparse_columns(tmp_path):
    path = tmp_path / "sparse.npz"
    stored = np.array([[[0.5, 0.1], [0.2, 0.3]]])
    np.savez(path, matrices=stored, truth_entries=np.array([5, 0, 7, 0]),
             sparse_indices=np.array([2, 0]), is_sparse=True)
    response = ResponseMatrix.from_remu_npz(path)
    np.testing.assert_array_equal(response.matrices[0], [[0.1, 0, 0.5, 0], [0.3, 0, 0.2, 0]])
    np.testing.assert_array_equal(response.weights, [1.0])


# ---------------------------------------------------------------------- bad input
def test_bad_events_are_named():
    truth, reco = np.array([0, 1, 1]), np.array([0, -1, 1])
    fill = lambda **kwargs: ResponseMatrix.from_events(  # noqa: E731
        **{"truth_index": truth, "reco_index": reco, "n_truth": 2, "n_reco": 2, **kwargs}
    )
    with pytest.raises(EventsError, match=r"truth_index\[1\] = 1 is outside \[0, 0\]"):
        fill(n_truth=1)
    with pytest.raises(EventsError, match=r"reco_index\[2\] = 1 is outside \[-1, 0\]"):
        fill(n_reco=1)
    with pytest.raises(EventsError, match=r"weights has shape \(2,\), expected \(3,\)"):
        fill(weights=np.ones(2))
    with pytest.raises(EventsError, match=r"entry \(1, 0\) is nan"):
        fill(weights=np.array([1.0, np.nan, 1.0]))
    with pytest.raises(EventsError, match=r"universe_reco_index has 2 universes, the other .* 3"):
        fill(universe_weights=np.ones((3, 3)), universe_reco_index=np.zeros((3, 2), int))
    with pytest.raises(PredictorError, match=r"noise bins \[5\] are outside the 2 truth bins"):
        fill(noise_bins=[5])


def test_bad_matrices_are_named(tmp_path):
    with pytest.raises(PredictorError, match=r"truth bin 1 in universe 0 sums to 1.2, an efficiency above 1"):
        ResponseMatrix(matrices=[[0.5, 0.6], [0.1, 0.6]], weights=[1.0])
    with pytest.raises(PredictorError, match=r"weights have shape \(2,\), expected \(1,\)"):
        ResponseMatrix(matrices=[[0.5]], weights=[1.0, 1.0])
    with pytest.raises(PredictorError, match=r"matrices must be finite and non-negative; entry \(0, 0, 0\) is -0.1"):
        ResponseMatrix(matrices=[[-0.1]], weights=[1.0])
    path = tmp_path / "bad.npz"
    np.savez(path, matrices=np.zeros((1, 2, 2)))
    with pytest.raises(PredictorError, match=r"has no key 'truth_entries'"):
        ResponseMatrix.from_remu_npz(path)
    np.savez(path, matrices=np.zeros((1, 2, 2)), truth_entries=np.ones(3), sparse_indices=[0, 3],
             is_sparse=True)
    with pytest.raises(PredictorError, match=r"'sparse_indices' must list 2 distinct truth bins in \[0, 3\)"):
        ResponseMatrix.from_remu_npz(path)
    with pytest.raises(PredictorError, match=r"cannot read response matrix file"):
        ResponseMatrix.from_remu_npz(tmp_path / "missing.npz")
