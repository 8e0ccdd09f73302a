"""Template, matrix and einsum predictors against independent numpy computations."""

from __future__ import annotations

import numpy as np
import pytensor
import pytensor.tensor as pt
import pytest

from bayesfit.errors import PredictorError
from bayesfit.predictors.einsum import LinearEinsumPredictor
from bayesfit.predictors.matrix import MatrixPredictor
from bayesfit.predictors.template import TemplatePredictor

RNG = np.random.default_rng(20261123)
K, T, N_OUT, N_TRUTH, N_FLUX = 3, 4, 6, 5, 7

TEMPLATES = RNG.uniform(0.0, 5.0, (K, T, N_OUT))
MATRIX = RNG.uniform(0.0, 1.0, (K, N_OUT, N_TRUTH))
CONSTANT = RNG.uniform(0.0, 2.0, (K, N_OUT))
FLUX = RNG.uniform(0.5, 2.0, (K, N_FLUX))
WEIGHTS = np.array([0.2, 0.3, 0.5])


def central_gradient(function, x: np.ndarray, step: float = 1e-6) -> np.ndarray:
    """Central finite differences of a scalar numpy function."""
    gradient = np.empty_like(x)
    for i in range(x.size):
        shift = np.zeros_like(x)
        shift[i] = step * max(1.0, abs(x[i]))
        gradient[i] = (function(x + shift) - function(x - shift)) / (2 * shift[i])
    return gradient


def compiled_value_and_gradient(predictor, projection: np.ndarray):
    """``x -> (expected, d/dx sum(projection * expected))`` for a one-parameter predictor."""
    symbols = predictor.symbols()
    (name,) = symbols
    expected = predictor.expected(symbols)
    gradient = pytensor.grad(pt.sum(expected * projection), symbols[name])
    return pytensor.function([symbols[name]], [expected, gradient])


def compiled_per_variation(predictor):
    (parameter,) = predictor.parameters
    batch = pt.matrix("batch", dtype="float64")
    return pytensor.function([batch], predictor.expected_per_variation({parameter.name: batch}))


# ---------------------------------------------------------------- predictors and numpy twins
CASES = {
    "template": (
        lambda: TemplatePredictor(
            TEMPLATES, constant=CONSTANT[0], variation_weights=WEIGHTS,
            labels=["noise", "background", "model_A", "model_B"],
        ),
        lambda x: np.einsum("t,ktn->kn", x, TEMPLATES) + CONSTANT[0],
        lambda xs: np.einsum("kt,ktn->kn", xs, TEMPLATES) + CONSTANT[0],
        T,
    ),
    "matrix": (
        lambda: MatrixPredictor(MATRIX, constant=CONSTANT, variation_weights=WEIGHTS),
        lambda x: np.einsum("kij,j->ki", MATRIX, x) + CONSTANT,
        lambda xs: np.einsum("kij,kj->ki", MATRIX, xs) + CONSTANT,
        N_TRUTH,
    ),
    "einsum": (
        # ReMU's subscripts with the flux throws given an explicit length-1 axis "k"
        lambda: LinearEinsumPredictor(
            "ij,...kj->...ik", FLUX[:, None, :], parameter_shape=(N_TRUTH, N_FLUX), parameter="xsec"
        ),
        lambda x: np.einsum(
            "ij,...kj->...ik", x.reshape(N_TRUTH, N_FLUX), FLUX[:, None, :]
        ).reshape(K, -1),
        lambda xs: np.einsum("bij,bj->bi", xs.reshape(K, N_TRUTH, N_FLUX), FLUX),
        N_TRUTH * N_FLUX,
    ),
}


@pytest.fixture(scope="module", params=sorted(CASES))
def case(request):
    build, reference, reference_per_variation, n_in = CASES[request.param]
    predictor = build()
    projection = RNG.normal(size=(predictor.n_variations, predictor.n_out))
    return {
        "predictor": predictor,
        "reference": reference,
        "reference_per_variation": reference_per_variation,
        "n_in": n_in,
        "projection": projection,
        "value_and_gradient": compiled_value_and_gradient(predictor, projection),
        "per_variation": compiled_per_variation(predictor),
    }


def test_values_match_numpy_at_several_points(case):
    predictor = case["predictor"]
    assert predictor.n_variations == K
    for _ in range(3):
        x = RNG.uniform(0.0, 3.0, case["n_in"])
        expected, _ = case["value_and_gradient"](x)
        np.testing.assert_allclose(expected, case["reference"](x), rtol=1e-13)
    np.testing.assert_allclose(
        predictor.evaluate({predictor.parameters[0].name: x}), case["reference"](x), rtol=1e-13
    )


def test_gradient_matches_finite_differences_of_numpy(case):
    x = RNG.uniform(0.5, 3.0, case["n_in"])
    _, gradient = case["value_and_gradient"](x)
    numeric = central_gradient(lambda v: np.sum(case["projection"] * case["reference"](v)), x)
    np.testing.assert_allclose(gradient, numeric, rtol=1e-6, atol=1e-8)


def test_expected_per_variation_matches_numpy(case):
    xs = RNG.uniform(0.0, 3.0, (K, case["n_in"]))
    np.testing.assert_allclose(
        case["per_variation"](xs), case["reference_per_variation"](xs), rtol=1e-13
    )


def test_template_declares_remu_parameter():
    predictor = CASES["template"][0]()
    (weights,) = predictor.parameters
    declared = (weights.name, weights.shape, weights.lower, weights.upper)
    assert declared == ("weights", (T,), 0.0, np.inf)
    assert weights.labels == ("noise", "background", "model_A", "model_B")
    np.testing.assert_array_equal(predictor.variation_weights, WEIGHTS)
    np.testing.assert_array_equal(predictor.templates, TEMPLATES)


def test_single_universe_broadcasts_in_per_variation():
    predictor = MatrixPredictor(MATRIX[0])
    assert predictor.n_variations == 1
    xs = RNG.uniform(0.0, 1.0, (4, N_TRUTH))
    np.testing.assert_allclose(
        compiled_per_variation(predictor)(xs), xs @ MATRIX[0].T, rtol=1e-13
    )


def test_einsum_without_variations_and_inferred_shape():
    coefficients = RNG.uniform(0.0, 1.0, (N_OUT, N_TRUTH))
    predictor = LinearEinsumPredictor("j,ij->i", coefficients)
    x = RNG.uniform(0.0, 1.0, N_TRUTH)
    assert predictor.parameters[0].shape == (N_TRUTH,)
    np.testing.assert_allclose(
        predictor.evaluate(parameters=x), (coefficients @ x)[None], rtol=1e-13
    )


# ---------------------------------------------------------------- bad input
BAD_CONSTRUCTIONS = [
    (
        lambda: TemplatePredictor(np.array([[1.0, -0.5]]), name="tpl"),
        r"tpl: templates has 1 negative entry, first at index \(0, 1\)",
    ),
    (
        lambda: MatrixPredictor(np.array([[1.0, np.nan]])),
        r"matrix: matrix has 1 NaN or infinite entry",
    ),
    (
        lambda: MatrixPredictor(MATRIX, constant=np.ones(N_OUT + 1)),
        r"constant has shape \(7,\), expected \(6,\) or \(3, 6\)",
    ),
    (
        lambda: MatrixPredictor(MATRIX, variation_weights=np.ones(2)),
        r"variation_weights has shape \(2,\), expected \(3,\)",
    ),
    (lambda: MatrixPredictor(np.ones(3)), r"matrix must have shape \(n_out, n_in\)"),
    (lambda: TemplatePredictor(TEMPLATES, labels=["a"]), r"1 labels for 4 templates"),
    (
        lambda: LinearEinsumPredictor("i2,...j->...i", FLUX),
        r"unknown subscript\(s\) \['2'\]",
    ),
    (
        lambda: LinearEinsumPredictor("ij,...j->...z", FLUX, parameter_shape=(2, N_FLUX)),
        r"\['z'\] appear in no operand",
    ),
    (
        lambda: LinearEinsumPredictor("ij,...j->i", FLUX, parameter_shape=(2, N_FLUX)),
        r"must lead both",
    ),
    (
        lambda: LinearEinsumPredictor("ij,...j->...i", FLUX, parameter_shape=(2, 3)),
        r"parameter axis 'j' has length 3, the coefficients' axis 'j' has 7",
    ),
    (lambda: LinearEinsumPredictor("ij,...j->...i", FLUX), r"give parameter_shape"),
    (
        lambda: LinearEinsumPredictor("ij,j->i", FLUX, parameter_shape=(2, 7)),
        r"coefficients have shape \(3, 7\), expected 1 axes",
    ),
]


@pytest.mark.parametrize(("build", "message"), BAD_CONSTRUCTIONS)
def test_bad_construction_is_refused(build, message):
    with pytest.raises(PredictorError, match=message):
        build()


def test_evaluate_refuses_values_outside_support_and_wrong_shapes():
    predictor = MatrixPredictor(MATRIX[0], name="response")
    bad = np.ones(N_TRUTH)
    bad[2] = -1.0
    outside = r"response: parameter 'truth' = -1 is outside its support \[0, inf\]"
    with pytest.raises(PredictorError, match=outside):
        predictor.evaluate(truth=bad)
    with pytest.raises(PredictorError, match=r"expects shape \(5,\), got \(4,\)"):
        predictor.evaluate(truth=np.ones(4))
    with pytest.raises(PredictorError, match=r"1 non-finite"):
        predictor.evaluate(truth=np.where(np.arange(N_TRUTH) == 0, np.nan, 1.0))
