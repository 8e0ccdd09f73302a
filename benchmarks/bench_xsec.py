"""Cross-section example (ReMU's example 06): logp + gradient with ``K`` universes marginalised.

bayesfit: ``models/xsec_flux.yaml`` (a template analysis: noise events and cross sections per
(truth bin x flux bin), flux throws and the ``(K, 8, 169)`` response, collapsed into one
``(K, 8, 4)`` matrix) on the inputs of ``examples/xsec_inputs.py`` with ``K`` universes, compiled by
:class:`bayesfit.inference.objective.Objective`, which the fits use. References, in numpy from
the raw inputs (not from bayesfit's predictors):

- ReMU's computation per universe: template weights -> true events ``[w_noise noise,
  sum_t w_t sigma_t @ flux_k]`` (169 truth bins) -> one einsum with the response of every
  universe -> Poisson log likelihood per universe -> log-mean-exp over universes, with its
  analytic gradient (the chain rule backwards);
- the same with the chain precomputed into ``(K, 8, 4)`` matrices (ReMU's
  ``ComposedMatrixPredictor``): one einsum per call.
"""

from __future__ import annotations

import functools
import importlib.util
import shutil
import sys
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
from bench_common import Row, interleaved_medians, relative_difference
from scipy import special

ROOT = Path(__file__).resolve().parents[1]
#: The template scales of ``models/xsec_flux.yaml``, in the order of the weight vector.
SCALES = ("noise", "background", "model_A", "model_B")
#: Template weights at which logp + gradient are timed (near the best fit of the toy data).
WEIGHTS = np.array([1.1, 0.9, 1.05, 0.3])
#: The same as a point of the model.
POINT = dict(zip(SCALES, WEIGHTS))


class XsecSetup(NamedTuple):
    """The cross-section example at ``K`` universes: inputs, model and compiled objective."""

    inputs: Any
    model: Any
    objective: Any
    compile_seconds: float


def _example_inputs() -> Any:
    """``examples/xsec_inputs.py`` as a module."""
    spec = importlib.util.spec_from_file_location("xsec_inputs", ROOT / "examples" / "xsec_inputs.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


@functools.cache
def xsec_setup(n_universes: int) -> XsecSetup:
    """Toy inputs with ``n_universes`` flux throws / detector universes, built and compiled once."""
    import time

    from bayesfit.analysis import Analysis
    from bayesfit.inference.objective import Objective

    example = _example_inputs()
    inputs = example.toy_inputs(n_universes=n_universes)
    with tempfile.TemporaryDirectory() as folder:
        example.write_inputs(inputs, Path(folder) / "inputs" / "xsec_flux")
        shutil.copy(ROOT / "models" / "xsec_flux.yaml", folder)
        model = Analysis.from_file(Path(folder) / "xsec_flux.yaml").model
    tick = time.perf_counter()
    objective = Objective(model, "ml")
    return XsecSetup(inputs, model, objective, time.perf_counter() - tick)


def _chain_mu(setup: XsecSetup) -> Callable[[np.ndarray], np.ndarray]:
    """Expected reco events ``(K, n_reco)`` of the numpy chain at template weights ``(4,)``:
    true events ``w_noise noise + sum_t w_t sigma_t @ flux_k`` per universe, then ``R_k @ truth_k``."""
    templates = setup.inputs.templates()
    noise, cross_sections = templates["noise"], np.stack([templates[name] for name in SCALES[1:]])  # (3, n_truth, n_flux)
    response, flux = setup.inputs.response.matrices, setup.inputs.flux_throws  # (K, n_reco, n_truth), (K, n_flux)

    def expected(weights: np.ndarray) -> np.ndarray:
        true_events = weights[0] * noise + np.einsum("t,tje,ke->kj", weights[1:], cross_sections, flux)
        return np.einsum("krt,kt->kr", response, true_events)

    return expected


def _log_mean_exp(
    mu: np.ndarray, counts: np.ndarray, log_weights: np.ndarray, constant: float
) -> tuple[float, np.ndarray]:
    """``ln sum_k w_k L_k`` (normalised weights) and ``d/d mu_kr`` of it, ``(K, n_reco)``."""
    scores = log_weights + np.sum(counts * np.log(mu) - mu, axis=1) - constant
    largest = scores.max()
    shifted = np.exp(scores - largest)
    total = shifted.sum()
    return largest + np.log(total), (shifted / total)[:, None] * (counts / mu - 1.0)


def numpy_chain(setup: XsecSetup, counts: np.ndarray) -> Callable[[np.ndarray], tuple[float, np.ndarray]]:
    """ReMU's per-universe computation: ``f(weights (4,)) -> (ln L, d ln L / d weights)``.

    ``ln L = ln mean_k exp(sum_r n_r ln mu_kr - mu_kr - ln n_r!)`` with ``mu_k = R_k @ truth_k``;
    the gradient runs the chain backwards (response, flux einsums, templates).
    """
    templates = setup.inputs.templates()
    noise, cross_sections = templates["noise"], np.stack([templates[name] for name in SCALES[1:]])
    response, flux = setup.inputs.response.matrices, setup.inputs.flux_throws
    weights_k = setup.inputs.response.weights
    log_weights, constant = np.log(weights_k / weights_k.sum()), special.gammaln(counts + 1).sum()
    expected = _chain_mu(setup)

    def logp_and_grad(weights: np.ndarray) -> tuple[float, np.ndarray]:
        value, dmu = _log_mean_exp(expected(weights), counts, log_weights, constant)
        dtruth = np.einsum("kr,krt->kt", dmu, response)
        gradient = np.concatenate([[dtruth.sum(axis=0) @ noise], np.einsum("kj,tje,ke->t", dtruth, cross_sections, flux)])
        return value, gradient

    return logp_and_grad


def numpy_linear(
    setup: XsecSetup, counts: np.ndarray, *, gradient: bool = True
) -> Callable[[np.ndarray], Any]:
    """The chain precomputed into ``(K, n_reco, 4)`` matrices by numpy (column ``t``: the numpy
    chain at unit weight ``t``), then one matrix product per call: ``f(weights) -> (ln L,
    gradient)``, or ``ln L`` alone with ``gradient=False``."""
    n_templates = len(SCALES)
    expected = _chain_mu(setup)
    matrix = np.stack([expected(unit) for unit in np.eye(n_templates)], axis=2)  # (K, n_reco, T)
    weights_k = setup.inputs.response.weights
    log_weights, constant = np.log(weights_k / weights_k.sum()), special.gammaln(counts + 1).sum()

    def logp_and_grad(weights: np.ndarray) -> Any:
        if not gradient:
            mu = matrix @ weights
            scores = log_weights + np.sum(counts * np.log(mu) - mu, axis=1) - constant
            largest = scores.max()
            return largest + np.log(np.exp(scores - largest).sum())
        value, dmu = _log_mean_exp(matrix @ weights, counts, log_weights, constant)
        return value, np.einsum("kr,krt->t", dmu, matrix)

    return logp_and_grad


def xsec_chain(sizes: Sequence[int]) -> list[Row]:
    """logp + gradient of the cross-section template model vs numpy, per number of universes."""
    rows = []
    for n_universes in sizes:
        setup = xsec_setup(n_universes)
        counts = setup.model.observed
        objective = setup.objective
        x = objective.pack(POINT)
        data = objective.data(counts)

        def ours(x=x, data=data, objective=objective):
            return objective.value_and_grad(x, data)

        chain, linear = numpy_chain(setup, counts), numpy_linear(setup, counts)
        value, gradient = ours()
        ours_output = [-value, -gradient]  # the objective is -ln L
        errors = {name: relative_difference(ours_output, function(WEIGHTS))
                  for name, function in (("chain", chain), ("linear", linear))}
        medians = interleaved_medians([ours, lambda: chain(WEIGHTS), lambda: linear(WEIGHTS)], budget=1.5)
        label = f"bayesfit template model (linearised {n_universes}x8x4), Objective.value_and_grad"
        note = f"objective compile {setup.compile_seconds:.1f} s (once)"
        rows.append(Row("xsec_chain", n_universes, label, medians[0],
                        f"numpy chain per universe (ReMU-style, {n_universes}x8x169 einsum)", medians[1],
                        errors["chain"], note))
        rows.append(Row("xsec_chain", n_universes, label, medians[0],
                        f"numpy precomputed {n_universes}x8x4 (ReMU's ComposedMatrixPredictor)", medians[2],
                        errors["linear"], note))
    return rows
