"""Composition and exact linearisation of predictors, against independent numpy computations."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pytensor
import pytensor.tensor as pt
import pytest

from reference_data import REFERENCE
from bayesfit.errors import PredictorError
from bayesfit.predictors.base import Parameter, Predictor
from bayesfit.predictors.compose import (
    ComposedPredictor,
    ConcatenatedPredictor,
    FixedParameters,
    RenamedParameters,
    SplitParameter,
    SumPredictor,
    compose,
)
from bayesfit.predictors.einsum import LinearEinsumPredictor
from bayesfit.predictors.linearise import linear_map, linearise
from bayesfit.predictors.matrix import MatrixPredictor
from bayesfit.predictors.template import TemplatePredictor

RNG = np.random.default_rng(7)
RESPONSE_FILE = REFERENCE / "remu-examples" / "05" / "response_matrix.npz"


def central_gradient(function, x: np.ndarray, step: float = 1e-6) -> np.ndarray:
    """Central finite differences of a scalar numpy function."""
    gradient = np.empty_like(x)
    for i in range(x.size):
        shift = np.zeros_like(x)
        shift[i] = step * max(1.0, abs(x[i]))
        gradient[i] = (function(x + shift) - function(x - shift)) / (2 * shift[i])
    return gradient


# ---------------------------------------------------------------- small building blocks
TPL_A = RNG.uniform(0.0, 2.0, (2, 3, 4))  # K=2 universes, 3 templates, 4 bins
TPL_B = RNG.uniform(0.0, 2.0, (3, 2, 5))  # K=3, 2 templates, 5 bins
TPL_C = RNG.uniform(0.0, 2.0, (2, 4))  # K=1, 2 templates, 4 bins
WEIGHTS_A, WEIGHTS_B = np.array([1.0, 3.0]), np.array([0.5, 0.25, 0.25])


def template_a():
    return TemplatePredictor(TPL_A, variation_weights=WEIGHTS_A, parameter="a", name="A")


def template_b():
    return TemplatePredictor(TPL_B, variation_weights=WEIGHTS_B, parameter="b", name="B")


def template_c():
    return TemplatePredictor(TPL_C, parameter="c", name="C")


def test_concatenated_same_broadcasts_single_universe():
    predictor = ConcatenatedPredictor([template_a(), template_c()], combine="same")
    a, c = RNG.uniform(0, 2, 3), RNG.uniform(0, 2, 2)
    reference = np.concatenate(
        [np.einsum("t,ktn->kn", a, TPL_A), np.broadcast_to(c @ TPL_C, (2, 4))], axis=1
    )
    np.testing.assert_allclose(predictor.evaluate(a=a, c=c), reference, rtol=1e-13)
    np.testing.assert_array_equal(predictor.variation_weights, WEIGHTS_A)
    assert predictor.output_slices == (slice(0, 4), slice(4, 8))


def test_concatenated_cartesian_is_first_major_with_multiplied_weights():
    predictor = ConcatenatedPredictor([template_a(), template_b()], combine="cartesian")
    a, b = RNG.uniform(0, 2, 3), RNG.uniform(0, 2, 2)
    out_a, out_b = np.einsum("t,ktn->kn", a, TPL_A), np.einsum("t,ktn->kn", b, TPL_B)
    reference = np.array([np.concatenate([out_a[i], out_b[j]]) for i in range(2) for j in range(3)])
    np.testing.assert_allclose(predictor.evaluate(a=a, b=b), reference, rtol=1e-13)
    np.testing.assert_allclose(
        predictor.variation_weights, [wa * wb for wa in WEIGHTS_A for wb in WEIGHTS_B]
    )


def test_same_with_different_variation_counts_is_refused():
    with pytest.raises(PredictorError, match=r"'A' has K=2, 'B' has K=3"):
        ConcatenatedPredictor([template_a(), template_b()], combine="same", name="both")
    with pytest.raises(PredictorError, match=r"combine must be 'same' or 'cartesian'"):
        SumPredictor([template_a(), template_c()], combine="diagonal")


def test_sum_shares_parameters_by_name():
    shared = TemplatePredictor(TPL_C, parameter="a", name="C")  # a differently shaped 'a'
    declared = r"parameter 'a' is declared differently by 'A' \(shape \(3,\)"
    with pytest.raises(PredictorError, match=declared):
        SumPredictor([template_a(), shared])
    same_a = TemplatePredictor(TPL_A[0], parameter="a", name="A0")
    predictor = SumPredictor([template_a(), same_a])
    assert predictor.parameter_names == ("a",)
    a = RNG.uniform(0, 2, 3)
    np.testing.assert_allclose(
        predictor.evaluate(a=a), np.einsum("t,ktn->kn", a, TPL_A) + a @ TPL_A[0], rtol=1e-13
    )
    with pytest.raises(PredictorError, match=r"cannot sum 'B' with 5 bins and 'A' with 4 bins"):
        SumPredictor([template_a(), template_b()], combine="cartesian")


class _Scaled(Predictor):
    """``scale * counts`` with ``scale`` of support [lower, upper], and sums of squared weights ``w2``."""

    def __init__(self, counts, lower, upper, w2=None, name="scaled"):
        self.name, self.counts, self.w2 = name, np.asarray(counts, dtype=float), w2
        self.n_out, self.variation_weights = self.counts.size, np.ones(1)
        self.parameters = (Parameter("scale", lower=lower, upper=upper, default=1.0),)

    def expected(self, params):
        return (pt.as_tensor_variable(params["scale"]) * self.counts)[None, :]

    def expected_sumw2(self, params):
        return None if self.w2 is None else (pt.as_tensor_variable(params["scale"]) ** 2 * np.asarray(self.w2))[None, :]


def test_concatenated_supports_intersect_when_asked_and_sumw2_is_concatenated():
    wide, narrow = _Scaled([1.0, 2.0], 0.0, np.inf, w2=[0.1, 0.2], name="wide"), _Scaled([3.0], -1.0, 10.0, w2=[0.3], name="narrow")
    with pytest.raises(PredictorError, match=r"parameter 'scale' is declared differently"):
        ConcatenatedPredictor([wide, narrow])
    both = ConcatenatedPredictor([wide, narrow], supports="intersect")
    (scale,) = both.parameters
    assert (scale.lower, scale.upper, scale.default) == (0.0, 10.0, 1.0)
    np.testing.assert_allclose(both.evaluate(scale=2.0), [[2.0, 4.0, 6.0]])
    np.testing.assert_allclose(both.evaluate_sumw2(scale=2.0), [[0.4, 0.8, 1.2]])
    assert ConcatenatedPredictor([wide, _Scaled([3.0], 0.0, 1.0)], supports="intersect").expected_sumw2({"scale": 1.0}) is None
    with pytest.raises(PredictorError, match=r"supports \[0.0, inf\] and \[-3.0, -1.0\], which do not overlap"):
        ConcatenatedPredictor([wide, _Scaled([3.0], -3.0, -1.0, name="negative")], supports="intersect")


def test_renamed_and_fixed_parameters():
    renamed = RenamedParameters(TemplatePredictor(TPL_A[0], parameter="a", name="A0"), {"a": "a0"})
    predictor = SumPredictor([template_a(), renamed])
    assert predictor.parameter_names == ("a", "a0")
    fixed = FixedParameters(predictor, {"a0": [1.0, 0.0, 2.0]})
    assert fixed.parameter_names == ("a",)
    a = RNG.uniform(0, 2, 3)
    reference = np.einsum("t,ktn->kn", a, TPL_A) + np.array([1.0, 0.0, 2.0]) @ TPL_A[0]
    np.testing.assert_allclose(fixed.evaluate(a=a), reference, rtol=1e-13)
    with pytest.raises(PredictorError, match=r"cannot fix unknown parameter\(s\) \['x'\]"):
        FixedParameters(predictor, {"x": 1.0})
    with pytest.raises(PredictorError, match=r"parameter 'a0' = -1 is outside its support"):
        FixedParameters(predictor, {"a0": -1.0})
    with pytest.raises(PredictorError, match=r"cannot rename unknown parameter\(s\) \['z'\]"):
        RenamedParameters(template_a(), {"z": "y"})



def test_split_parameter_gives_each_template_its_own_scalar():
    split = SplitParameter(template_a(), "a", ["noise", "signal", "background"])
    assert split.parameter_names == ("noise", "signal", "background")
    assert all(p.shape == () and p.lower == 0.0 for p in split.parameters)
    a = RNG.uniform(0, 2, 3)
    reference = np.einsum("t,ktn->kn", a, TPL_A)
    np.testing.assert_allclose(split.evaluate(noise=a[0], signal=a[1], background=a[2]), reference, rtol=1e-13)
    # as the outer part of a "same" chain (per-variation graph): universe k feeds its own t0
    outer = SplitParameter(MatrixPredictor(MATRIX_OUT[:2], parameter="truth"), "truth", ["t0", "t1", "t2", "t3"])
    chain = compose(outer, TemplatePredictor(TPL_A[:, :, :1], parameter="a"), into="t0", combine="same")
    assert chain.parameter_names == ("t1", "t2", "t3", "a")
    truth = np.column_stack([TPL_A[:, :, 0] @ a, np.broadcast_to([0.5, 1.5, 2.5], (2, 3))])  # (K, 4)
    np.testing.assert_allclose(
        chain.evaluate(a=a, t1=0.5, t2=1.5, t3=2.5), np.einsum("kij,kj->ki", MATRIX_OUT[:2], truth), rtol=1e-13
    )
    with pytest.raises(PredictorError, match=r"cannot split parameter 'a' of shape \(3,\) into 2 scalars"):
        SplitParameter(template_a(), "a", ["x", "y"])
    with pytest.raises(PredictorError, match="repeat or clash"):
        SplitParameter(SumPredictor([template_a(), template_c()]), "a", ["c", "y", "z"])


# ---------------------------------------------------------------- chains with gradients
MATRIX_OUT = RNG.uniform(0.0, 1.0, (3, 6, 4))  # K=3 response: 4 -> 6 bins
SCALE = RNG.uniform(0.5, 1.5, 6)


def chain_reference(a: np.ndarray, scale: np.ndarray, combine: str) -> np.ndarray:
    """numpy twin of compose(response with extra parameter, template_a): (K, 6)."""
    inner = np.einsum("t,ktn->kn", a, TPL_A)  # (2, 4)
    if combine == "cartesian":
        out = np.einsum("kij,lj->kli", MATRIX_OUT, inner).reshape(6, 6)
    else:
        out = np.einsum("kij,kj->ki", MATRIX_OUT[:2], inner)
    return out * scale


class ScaledMatrix(Predictor):
    """A test predictor with two parameters: ``scale * (M @ truth)``, bilinear on purpose."""

    def __init__(self, matrix: np.ndarray) -> None:
        self.name, self.matrix, self.n_out = "scaled", matrix, matrix.shape[1]
        self.variation_weights = np.ones(len(matrix))
        self.parameters = (
            Parameter("truth", (matrix.shape[2],), lower=0.0),
            Parameter("scale", (self.n_out,), lower=0.0),
        )

    def expected(self, params: Mapping) -> pt.TensorVariable:
        return pt.dot(pt.constant(self.matrix), params["truth"]) * params["scale"]


@pytest.mark.parametrize("combine", ["same", "cartesian"])
def test_composed_values_and_gradient(combine):
    matrix = MATRIX_OUT if combine == "cartesian" else MATRIX_OUT[:2]
    predictor = compose(ScaledMatrix(matrix), template_a(), into="truth", combine=combine)
    assert predictor.parameter_names == ("scale", "a")
    assert predictor.n_variations == (6 if combine == "cartesian" else 2)
    symbols = predictor.symbols()
    projection = RNG.normal(size=(predictor.n_variations, 6))
    expected = predictor.expected(symbols)
    gradient = pytensor.grad(pt.sum(projection * expected), [symbols["a"], symbols["scale"]])
    function = pytensor.function([symbols["a"], symbols["scale"]], [expected, *gradient])
    a = RNG.uniform(0.2, 2, 3)
    values, grad_a, grad_scale = function(a, SCALE)
    np.testing.assert_allclose(values, chain_reference(a, SCALE, combine), rtol=1e-13)
    numeric_a = central_gradient(
        lambda v: np.sum(projection * chain_reference(v, SCALE, combine)), a
    )
    numeric_scale = central_gradient(
        lambda v: np.sum(projection * chain_reference(a, v, combine)), SCALE
    )
    np.testing.assert_allclose(grad_a, numeric_a, rtol=1e-6)
    np.testing.assert_allclose(grad_scale, numeric_scale, rtol=1e-6)


def test_compose_size_mismatch_and_nonlinear_chain_is_refused():
    mismatch = r"inner 'B' gives 5 bins but outer 'scaled' takes 4 into 'truth': 4"
    with pytest.raises(PredictorError, match=mismatch):
        ComposedPredictor(ScaledMatrix(MATRIX_OUT), template_b(), into="truth", combine="cartesian")
    bilinear = compose(ScaledMatrix(MATRIX_OUT[:2]), template_a(), into="truth")
    with pytest.raises(PredictorError, match=r"is not linear in its parameters: at random point"):
        linearise(bilinear)
    # fixing the scale makes the chain linear again, and the matrix exact
    fixed = FixedParameters(bilinear, {"scale": SCALE})
    linear = linear_map(fixed)
    np.testing.assert_allclose(
        linear.matrix, np.einsum("kij,ktj->kit", MATRIX_OUT[:2], TPL_A) * SCALE[:, None], rtol=1e-13
    )
    np.testing.assert_array_equal(linear.constant, 0.0)


def test_linearise_keeps_constant_and_concatenates_parameters():
    constant = RNG.uniform(1.0, 2.0, (3, 6))
    response = MatrixPredictor(MATRIX_OUT, constant=constant, variation_weights=WEIGHTS_B)
    events = ConcatenatedPredictor(
        [TemplatePredictor(TPL_C[:, :2]), TemplatePredictor(TPL_C[:, 2:], parameter="c")],
        name="events",
    )
    linear = linearise(compose(response, events, into="truth"))
    assert linear.parameters[0].name == "inputs"
    assert linear.parameters[0].labels == ("weights[0]", "weights[1]", "c[0]", "c[1]")
    np.testing.assert_array_equal(linear.variation_weights, WEIGHTS_B)
    inputs_to_truth = np.zeros((4, 4))  # truth bins x (weights, c)
    inputs_to_truth[:2, :2], inputs_to_truth[2:, 2:] = TPL_C[:, :2].T, TPL_C[:, 2:].T
    np.testing.assert_allclose(linear.matrix, MATRIX_OUT @ inputs_to_truth, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(linear.constant, constant, rtol=1e-15)


def seed_chain(response_matrices: np.ndarray, response_weights: np.ndarray):
    """The ReMU example-06 chain and a numpy twin of it, with random flux and cross sections."""
    n_universes, n_flux, n_bg, n_signal = 100, 9, 48, 120
    flux = RNG.uniform(0.0, 0.3, (n_universes, n_flux))
    noise = TemplatePredictor(np.ones((n_universes, 1, 1)), parameter="noise", name="noise")
    background = LinearEinsumPredictor(
        "ij,...j->...i", flux, parameter_shape=(n_bg, n_flux), parameter="xsec_bg", name="bg"
    )
    signal = LinearEinsumPredictor(
        "ij,...j->...i", flux, parameter_shape=(n_signal, n_flux), parameter="xsec_signal"
    )
    events = ConcatenatedPredictor([noise, background, signal], combine="same", name="events")
    response = MatrixPredictor(response_matrices, variation_weights=response_weights)
    data = compose(response, events, into="truth", combine="same")
    n_parameters = 1 + (n_bg + n_signal) * n_flux
    sparse = RNG.uniform(size=(4, n_parameters)) < 0.5
    templates = RNG.uniform(0.0, 10.0, (4, n_parameters)) * sparse
    xsec_templates = TemplatePredictor(
        templates, labels=["noise", "background", "model_A", "model_B"], name="xsec_templates"
    )
    into = ["noise", "xsec_bg", "xsec_signal"]
    chain = compose(data, xsec_templates, into=into, combine="cartesian")

    def reference(weights: np.ndarray) -> np.ndarray:
        xsec = weights @ templates
        truth = np.concatenate(
            [
                np.broadcast_to(xsec[:1], (n_universes, 1)),
                np.einsum("ij,kj->ki", xsec[1 : 1 + n_bg * n_flux].reshape(n_bg, n_flux), flux),
                np.einsum("ij,kj->ki", xsec[1 + n_bg * n_flux :].reshape(n_signal, n_flux), flux),
            ],
            axis=1,
        )
        return np.einsum("kij,kj->ki", response_matrices, truth)

    return chain, reference


def test_seed_chain_linearises_exactly():
    npz = np.load(RESPONSE_FILE)
    chain, reference = seed_chain(npz["matrices"], npz["weights"])
    assert (chain.n_variations, chain.n_out, chain.parameter_names) == (100, 8, ("weights",))
    linear = linearise(chain)
    assert linear.matrix.shape == (100, 8, 4)
    assert linear.parameters[0].labels == ("noise", "background", "model_A", "model_B")
    np.testing.assert_array_equal(linear.variation_weights, npz["weights"])
    for _ in range(3):
        weights = RNG.uniform(0.0, 2.0, 4) * [200.0, 1.0, 1.0, 1.0]
        full = chain.evaluate(weights=weights)
        np.testing.assert_allclose(full, reference(weights), rtol=1e-12)
        np.testing.assert_allclose(linear.evaluate(weights=weights), full, rtol=1e-10)


def test_nested_same_chains_use_per_variation_graphs():
    """A "same" chain as outer of another "same" chain, with renamed and fixed parameters."""
    response = MatrixPredictor(MATRIX_OUT[:2], name="response")
    renamed = RenamedParameters(template_a(), {"a": "truth_weights"})
    middle = compose(response, renamed, into="truth")
    extra = TemplatePredictor(TPL_C[:, :3], parameter="c", name="extra")  # K=1, 2 -> 3 bins
    background = MatrixPredictor(MATRIX_OUT[:2], parameter="bg")
    fixed_middle = FixedParameters(SumPredictor([middle, background]), {"bg": np.ones(4)})
    chain = compose(fixed_middle, extra, into="truth_weights", combine="same")
    cartesian = compose(fixed_middle, extra, into="truth_weights", combine="cartesian")
    assert chain.parameter_names == ("c",)
    c = RNG.uniform(0, 2, 2)
    truth = np.einsum("t,ktn->kn", c @ TPL_C[:, :3], TPL_A)  # (2, 4): per universe of template A
    reference = np.einsum("kij,kj->ki", MATRIX_OUT[:2], truth) + MATRIX_OUT[:2].sum(axis=2)
    np.testing.assert_allclose(chain.evaluate(c=c), reference, rtol=1e-13)
    np.testing.assert_allclose(cartesian.evaluate(c=c), reference, rtol=1e-13)  # K=1 inner


def test_cartesian_outer_in_same_chain_takes_the_diagonal():
    outer = ConcatenatedPredictor(
        [MatrixPredictor(MATRIX_OUT[:2], name="varied"), MatrixPredictor(MATRIX_OUT[2])],
        combine="cartesian",
    )
    chain = compose(outer, template_a(), into="truth", combine="same")
    a = RNG.uniform(0, 2, 3)
    truth = np.einsum("t,ktn->kn", a, TPL_A)
    reference = np.concatenate(
        [np.einsum("kij,kj->ki", MATRIX_OUT[:2], truth), truth @ MATRIX_OUT[2].T], axis=1
    )
    np.testing.assert_allclose(chain.evaluate(a=a), reference, rtol=1e-13)
