"""Exact linearisation: collapse a predictor that is linear in its inputs into one matrix.

A chain such as templates -> cross sections -> (x flux) -> true events -> (x response) -> reco
events is linear in the template weights, so per universe it *is* a matrix of shape
``(n_out, n_in)`` plus a constant. :func:`linearise` computes that matrix from the graph by
evaluating its compiled graph at zero and at the ``n_in`` unit vectors (the exact columns of a
linear map, no finite-difference step), then checks at random points that the matrix
reproduces the chain, and refuses a chain that is not linear.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import numpy as np

from bayesfit.errors import PredictorError
from bayesfit.predictors.base import Parameter, Predictor
from bayesfit.predictors.matrix import MatrixPredictor

__all__ = ["linearise", "LinearMap", "linear_map"]


class LinearMap(NamedTuple):
    """``expected[k] = matrix[k] @ inputs + constant[k]`` of a linear predictor."""

    matrix: np.ndarray  # (K, n_out, n_in)
    constant: np.ndarray  # (K, n_out)


def linear_map(
    predictor: Predictor, *, check_points: int = 3, rtol: float = 1e-10, seed: int = 0
) -> LinearMap:
    """The matrix and constant of ``predictor``, whose parameters are flattened and concatenated.

    Parameters
    ----------
    predictor:
        Any predictor; it must be linear (affine) in all its parameters.
    check_points:
        Number of random points inside the parameters' support at which the linear map is
        compared with the predictor's graph.
    rtol:
        Tolerance of that comparison, relative to the magnitude ``|M| @ |x| + |c|`` of each bin.
    seed:
        Seed of the random points.

    Raises
    ------
    PredictorError
        If the predictor has no parameters, or differs from its linear map at a random point
        (the message names the point, universe and bin).
    """
    parameters = predictor.parameters
    if not parameters:
        raise PredictorError(f"{predictor.name}: has no parameters to linearise in")
    n_in = sum(p.size for p in parameters)
    rng = np.random.default_rng(seed)
    checks = np.stack([_random_point(parameters, rng) for _ in range(check_points)]).reshape(
        check_points, n_in
    )
    points = np.concatenate([np.zeros((1, n_in)), np.eye(n_in), checks])
    outputs = _evaluate_rows(predictor, points)  # (1 + n_in + check_points, K, n_out)
    constant = outputs[0]
    columns = outputs[1 : n_in + 1] - constant
    # Subtracting the constant leaves rounding noise of order eps * |constant|, which may be
    # slightly negative where a coefficient is zero; such noise is zeroed.
    noise = 8 * np.finfo(float).eps * np.abs(constant)
    columns[(columns < 0) & (columns > -noise)] = 0.0
    matrix = np.ascontiguousarray(np.transpose(columns, (1, 2, 0)))
    _check_linear(predictor, matrix, constant, checks, outputs[n_in + 1 :], rtol)
    return LinearMap(matrix, constant)


def linearise(
    predictor: Predictor,
    *,
    parameter: str = "inputs",
    check_points: int = 3,
    rtol: float = 1e-10,
    seed: int = 0,
    name: str | None = None,
) -> MatrixPredictor:
    """``predictor`` as a :class:`MatrixPredictor` of shape ``(K, n_out, n_in)`` plus constant.

    One parameter keeps its name, support, default, labels and dimension. Several parameters
    are concatenated in order into one vector called ``parameter``, labelled ``"name[i]"``;
    they must share one support. See :func:`linear_map` for the checks.
    """
    parameters = predictor.parameters
    if len(parameters) == 1:
        vector = parameters[0]
        labels = vector.labels if len(vector.shape) == 1 else None
    else:
        supports = {(p.lower, p.upper) for p in parameters}
        if len(supports) > 1:
            raise PredictorError(
                f"{predictor.name}: parameters {list(predictor.parameter_names)} have different "
                f"supports {sorted(supports)}; one linearised vector needs one support"
            )
        vector = Parameter(
            parameter,
            shape=(sum(p.size for p in parameters),),
            lower=parameters[0].lower,
            upper=parameters[0].upper,
            default=np.concatenate([p.default_value().ravel() for p in parameters]),
        )
        labels = tuple(label for p in parameters for label in _flat_labels(p))
    linear = linear_map(predictor, check_points=check_points, rtol=rtol, seed=seed)
    return MatrixPredictor(
        linear.matrix,
        constant=linear.constant if np.any(linear.constant) else None,
        variation_weights=predictor.variation_weights,
        parameter=vector.name,
        lower=vector.lower,
        upper=vector.upper,
        default=vector.default_value().ravel(),
        name=name or f"linearised({predictor.name})",
        labels=labels,
        dim=vector.dim,
    )


def _evaluate_rows(predictor: Predictor, rows: np.ndarray) -> np.ndarray:
    """The predictor's graph at each row of flat inputs ``(B, n_in)``: ``(B, K, n_out)``.

    The graph is compiled once (and cached on the predictor); rows are evaluated one by one,
    which here is much cheaper than vectorising a deep chain's graph over a batch axis.
    Support checks are skipped: unit vectors may lie outside a parameter's support.
    """
    function = predictor._compiled("expected")
    edges = np.cumsum([0] + [p.size for p in predictor.parameters])
    blocks = [(a, b, p.shape) for a, b, p in zip(edges[:-1], edges[1:], predictor.parameters)]
    return np.stack(
        [np.asarray(function(*(row[a:b].reshape(shape) for a, b, shape in blocks))) for row in rows]
    )


def _random_point(parameters: Sequence[Parameter], rng: np.random.Generator) -> np.ndarray:
    """A random flat input inside every parameter's support, of order its default or 1."""
    pieces = []
    for p in parameters:
        scale = 1.0 + np.abs(p.default_value())
        if np.isfinite(p.lower) and np.isfinite(p.upper):
            value = rng.uniform(p.lower, p.upper, p.shape)
        elif np.isfinite(p.lower):
            value = p.lower + rng.exponential(scale, p.shape)
        elif np.isfinite(p.upper):
            value = p.upper - rng.exponential(scale, p.shape)
        else:
            value = rng.normal(p.default_value(), scale, p.shape)
        pieces.append(np.ravel(value))
    return np.concatenate(pieces)


def _flat_labels(parameter: Parameter) -> tuple[str, ...]:
    if parameter.labels is not None:
        return tuple(f"{parameter.name}[{label}]" for label in parameter.labels)
    if parameter.shape == ():
        return (parameter.name,)
    return tuple(f"{parameter.name}[{i}]" for i in range(parameter.size))


def _check_linear(
    predictor: Predictor,
    matrix: np.ndarray,
    constant: np.ndarray,
    points: np.ndarray,
    outputs: np.ndarray,
    rtol: float,
) -> None:
    """Raise if ``matrix @ point + constant`` differs from the graph's ``outputs`` at ``points``."""
    linear = np.einsum("kij,bj->bki", matrix, points) + constant
    scale = np.einsum("kij,bj->bki", np.abs(matrix), np.abs(points)) + np.abs(constant)
    excess = np.abs(linear - outputs) - rtol * scale
    if np.any(excess > 0) or not np.all(np.isfinite(outputs)):
        excess = np.where(np.isfinite(outputs), excess, np.inf)
        point, universe, bin_ = np.unravel_index(np.argmax(excess), excess.shape)
        raise PredictorError(
            f"{predictor.name}: is not linear in its parameters: at random point {point}, universe "
            f"{universe}, bin {bin_} the graph gives {outputs[point, universe, bin_]!r} but its "
            f"linear map {linear[point, universe, bin_]!r} (relative tolerance {rtol:g})"
        )
