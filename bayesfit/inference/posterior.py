"""Posterior sampling with NUTS, and what a physicist needs around it.

:func:`sample_posterior` runs NUTS (nutpie's when it is installed, else PyMC's, see
:func:`resolve_sampler`; a mass matrix adaptation chosen by model size) and returns an
:class:`arviz.InferenceData` with

- ``posterior``: every free variable (natural units), deterministic throw parameters and, with
  marginalised universes, ``universe_probability`` (chain, draw, universes): the posterior
  probability of each universe per draw, ``p_k = w_k L_k / sum_j w_j L_j``;
- ``sample_stats``, ``observed_data`` (``counts``) and ``constant_data``;
- ``log_likelihood``: ``counts`` per bin (chain, draw, bins) when the bins are independent given
  the parameters (``K = 1``). Marginalised universes couple all bins, so there the pointwise
  log likelihood is one joint term per draw (chain, draw): LOO/WAIC then treat the whole data set
  as one observation;
- ``posterior_predictive`` (``counts``) on request, drawn per posterior draw from the likelihood's
  own generative model: a universe picked by its posterior probability, then Poisson counts
  (Gamma-Poisson for the effective likelihood, Poisson of scaled expectations for
  Barlow-Beeston-lite).

Divergences, large r-hat and small effective sample sizes are reported as
:class:`SamplingWarning` in plain words.
"""

from __future__ import annotations

import contextlib
import importlib.util
import logging
import os
import time
import warnings
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, NamedTuple

import numpy as np
import pytensor
import pytensor.tensor as pt
from pytensor.graph.replace import vectorize_graph

from bayesfit.backend import numpy_mode
from bayesfit.errors import InferenceError, ModelError, SamplingInterrupted
from bayesfit.inference.objective import SHARED_FUNCTION_MAX_SIZE
from bayesfit.likelihood import draw_universes, universe_probabilities
from bayesfit.model import OBSERVED_NAME, SCALES_NAME, BinnedModel
from bayesfit.model.pymc_model import constraint_group_names

__all__ = [
    "NUTPIE_C_MAX_SIZE", "SAMPLERS", "SamplingWarning", "arviz_in_numpy", "diagnose", "expected_per_draw",
    "resolve_sampler", "sample_posterior", "sample_prior", "universe_posterior",
]

SAMPLERS = ("auto", "pymc", "nutpie")

#: nutpie's NUTS evaluates PyTensor's C functions of the ``pm.Model`` (from the compile cache,
#: chains in parallel processes; :mod:`bayesfit.inference.nutpie_pytensor`) for models of at most
#: this many free entries, and its own numba translation above, which compiles at every run (about
#: 7 s on 4 entries, 24 s on 131) but runs the chains of one process in parallel threads.
#: Measured on 2 cores, warm cache, 4 chains (benchmarks/RESULTS.md, cases sampler_by_size and
#: run_hese): HESE (4 entries), 1000 + 1000 draws per chain: 2.3 s with the C functions against
#: 7 s numba compilation + 0.8 s sampling and 5.6 s for PyMC's NUTS (sampler compile
#: included); the ATLAS workspace (131) 39 s with numba against 388 s for PyMC. Up to this size
#: the fits' compiled function serves NUTS as well (see
#: :data:`~bayesfit.inference.objective.SHARED_FUNCTION_MAX_SIZE`).
NUTPIE_C_MAX_SIZE = SHARED_FUNCTION_MAX_SIZE

#: Models with at most this many free scalars get a dense (or low-rank) mass matrix.
DENSE_MASS_MATRIX_MAX_SIZE = 20

logger = logging.getLogger(__name__)


class SamplingWarning(UserWarning):
    """The sampler's output should not be trusted as it is (divergences, r-hat, small ESS)."""


def resolve_sampler(sampler: str) -> str:
    """``"pymc"`` or ``"nutpie"`` from a user's choice: ``"auto"`` is nutpie when it is
    installed (``pip install bayesfit[fast]``), else PyMC."""
    if sampler not in SAMPLERS:
        raise ModelError(f"unknown sampler {sampler!r}; valid: {list(SAMPLERS)}")
    installed = importlib.util.find_spec("nutpie") is not None
    if sampler == "auto":
        return "nutpie" if installed else "pymc"
    if sampler == "nutpie" and not installed:
        raise InferenceError("sampler='nutpie' but nutpie is not installed: pip install nutpie")
    return sampler


def sample_posterior(
    model: BinnedModel,
    *,
    draws: int = 1000,
    tune: int = 1000,
    chains: int = 4,
    cores: int | None = None,
    seed: int | None = None,
    sampler: str = "auto",
    predictive: bool = False,
    progressbar: bool = True,
    target_accept: float | None = None,
    sampler_kwargs: Mapping[str, Any] | None = None,
) -> Any:
    """Sample the posterior of ``model`` with NUTS and return :class:`arviz.InferenceData`.

    Parameters
    ----------
    sampler:
        ``"nutpie"``, ``"pymc"`` or ``"auto"`` (nutpie when installed, :func:`resolve_sampler`).
        nutpie evaluates PyTensor's compiled C functions for models of at most
        :data:`NUTPIE_C_MAX_SIZE` free entries, its own numba translation of them above.
    predictive:
        Also draw posterior predictive counts.
    target_accept:
        Default 0.9, and 0.98 for models with auxiliary measurements: the Poisson terms of bins
        with many events correlate constrained nuisances through the bins they share, and make
        some directions narrow and curved (on the ATLAS workspace 1 in 20 transitions diverged at
        0.8, 1 in 4000 at 0.95, none in 24000 at 0.98, at the same cost per draw).
    sampler_kwargs:
        Passed on to ``nutpie.sample`` or ``pm.sample`` (overrides the defaults chosen here).

    The mass matrix is dense (PyMC) or diagonal plus low rank (nutpie) for models of at most
    :data:`DENSE_MASS_MATRIX_MAX_SIZE` free entries and, with nutpie, for models with auxiliary
    measurements. Constraint groups start every chain from a prior draw, the other variables at
    the model's start (jittered, unless the model has constraint groups).
    """
    size = sum(p.n_free for p in model.free_parameters)
    sampler = resolve_sampler(sampler)
    cores = cores or min(chains, os.cpu_count() or 1)
    constrained = bool(model.constraints)  # constraint groups exist only with auxiliary measurements
    if target_accept is None:
        target_accept = 0.98 if constrained else 0.9
    dense = size <= DENSE_MASS_MATRIX_MAX_SIZE
    logger.debug("NUTS (%s) of %d free entries: %s mass matrix, target_accept %g", sampler, size,
                 "dense" if dense else "low-rank" if sampler == "nutpie" and constrained else "diagonal",
                 target_accept)
    if sampler == "nutpie":
        options = {"low_rank_modified_mass_matrix": dense or constrained, **(sampler_kwargs or {})}
        idata = _sample_nutpie(model, draws=draws, tune=tune, chains=chains, cores=cores, seed=seed,
                               target_accept=target_accept, progressbar=progressbar, options=options,
                               numba=size > NUTPIE_C_MAX_SIZE)
    else:
        import pymc as pm

        pymc_model = model.pymc_model
        jitter = "" if constraint_group_names(pymc_model) else "jitter+"
        arguments: dict[str, Any] = dict(
            draws=draws, tune=tune, chains=chains, cores=cores, random_seed=seed, progressbar=progressbar,
            target_accept=target_accept, init=f"{jitter}adapt_full" if dense else f"{jitter}adapt_diag",
        )
        arguments.update(sampler_kwargs or {})
        with pymc_model, warnings.catch_warnings():
            # the dense adaptation is chosen on purpose for small models (see the module notes)
            warnings.filterwarnings("ignore", "QuadPotentialFullAdapt is an experimental feature")
            try:
                idata = pm.sample(**arguments)
            except ValueError as error:  # PyMC stops on an interrupt and finds no draw to return
                if "Not enough samples to build a trace" not in str(error):
                    raise
                raise SamplingInterrupted("sampling stopped before its first draw (interrupted?); "
                                          "no posterior is returned") from None
    _check_complete(idata, chains, draws)
    _add_pointwise_results(model, idata, predictive, np.random.default_rng(seed))
    for message in diagnose(idata, [p.name for p in model.free_parameters]):
        warnings.warn(message, SamplingWarning, stacklevel=2)
    return idata


def _sample_nutpie(model: BinnedModel, *, draws: int, tune: int, chains: int, cores: int, seed: int | None,
                   target_accept: float, progressbar: bool, options: Mapping[str, Any], numba: bool) -> Any:
    """nutpie's NUTS on nutpie's numba compilation of the ``pm.Model`` (``numba``) or on
    PyTensor's C functions (:mod:`~bayesfit.inference.nutpie_pytensor`): of the MAP objective
    where it is the density the ``pm.Model`` samples, else of the ``pm.Model``. Constraint groups
    start from prior draws without jitter, the other variables from their start values with
    PyMC's jitter."""
    import nutpie

    from bayesfit.inference.nutpie_pytensor import (
        objective_nutpie_model,
        pytensor_nutpie_model,
        sample_chains,
        samples_natural_entries,
    )

    settings = dict(draws=draws, tune=tune, target_accept=target_accept, **options)
    if not numba and samples_natural_entries(model):
        from bayesfit.inference.objective import objective_for

        compiled = objective_nutpie_model(objective_for(model, "map"))
        return sample_chains(compiled, chains=chains, cores=cores, seed=seed, settings=settings)
    pymc_model = model.pymc_model
    groups = set(constraint_group_names(pymc_model))
    jitter = {rv for rv in pymc_model.free_RVs if rv.name not in groups}
    if not numba:
        return sample_chains(pytensor_nutpie_model(pymc_model, jitter), chains=chains, cores=cores, seed=seed,
                             settings=settings)
    compiled = nutpie.compile_pymc_model(pymc_model, jitter_rvs=jitter)
    start = time.perf_counter()
    idata = nutpie.sample(compiled, chains=chains, cores=cores, seed=seed, progress_bar=progressbar, **settings)
    idata.posterior.attrs["sampling_time"] = time.perf_counter() - start
    return idata  # observed data are added by _add_pointwise_results


def sample_prior(model: BinnedModel, *, draws: int = 2000, seed: int | None = 0) -> Any:
    """Draws of the model's priors in natural units: an ArviZ InferenceData with a ``prior`` group
    holding every free variable whose prior is proper (flat priors have no draws)."""
    import pymc as pm

    names = [v.name for v in model.free_parameters if not all(prior.is_flat for prior in v.priors)]
    if not names:
        return None
    # PyMC logs the variables it draws ("Sampling: [...]") at INFO, past bayesfit's --quiet
    forward_logger = logging.getLogger("pymc.sampling.forward")
    level = forward_logger.level
    forward_logger.setLevel(logging.WARNING)
    try:
        with model.pymc_model, warnings.catch_warnings():
            # the likelihood is a Potential: prior draws rightly ignore it
            warnings.filterwarnings("ignore", "The effect of Potentials on other parameters is ignored")
            # one call: the ops' numpy implementations, no C compilation (seconds with an empty cache)
            return pm.sample_prior_predictive(draws=draws, var_names=names, random_seed=seed,
                                              compile_kwargs={"mode": numpy_mode()})
    finally:
        forward_logger.setLevel(level)


def _check_complete(idata: Any, chains: int, draws: int) -> None:
    """A sampler that returns fewer chains or draws than asked for (an interrupt) is an error."""
    posterior = getattr(idata, "posterior", None)
    got = (0, 0) if posterior is None else (posterior.sizes.get("chain", 0), posterior.sizes.get("draw", 0))
    if got != (chains, draws):
        raise SamplingInterrupted(
            f"sampling returned {got[0]} chain(s) x {got[1]} draw(s), {chains} x {draws} were asked for "
            "(interrupted?); no posterior is returned"
        )


@contextlib.contextmanager
def arviz_in_numpy() -> Iterator[None]:
    """ArviZ's statistics (r-hat, ESS, summaries) computed in numpy inside the block: with numba
    installed ArviZ compiles a numba kernel at each process's first r-hat (0.2-0.4 s), for
    arrays of a few thousand draws that numpy handles in microseconds. The setting is restored
    on leaving."""
    import arviz as az

    enabled = az.Numba.numba_flag
    az.Numba.numba_flag = False
    try:
        yield
    finally:
        az.Numba.numba_flag = enabled


def diagnose(idata: Any, var_names: Sequence[str], max_rhat: float = 1.01, min_ess: float = 400) -> list[str]:
    """Plain-word problems of a NUTS run: divergences, r-hat above ``max_rhat``, bulk/tail ESS below ``min_ess``."""
    with arviz_in_numpy():
        return _problems(idata, var_names, max_rhat, min_ess)


def _problems(idata: Any, var_names: Sequence[str], max_rhat: float, min_ess: float) -> list[str]:
    import arviz as az

    messages = []
    stats = idata.sample_stats
    if "diverging" in stats:
        n_divergent = int(stats["diverging"].sum())
        if n_divergent:
            messages.append(
                f"{n_divergent} of {stats['diverging'].size} transitions diverged: the sampler missed parts of "
                "the posterior. Raise target_accept (e.g. 0.95), or reparametrise (e.g. a pivot energy for "
                "power laws, non-centred hierarchical priors)."
            )
    n_chains = idata.posterior.sizes["chain"]
    if n_chains > 1:
        rhat = az.rhat(idata, var_names=list(var_names))
        for name in var_names:
            worst = float(np.nanmax(rhat[name].values))
            if worst > max_rhat:
                messages.append(
                    f"chains disagree for {name!r} (r-hat {worst:.3f} > {max_rhat}): they have not mixed; "
                    "tune and draw longer, or check for several modes."
                )
    for method in ("bulk", "tail"):
        ess = az.ess(idata, var_names=list(var_names), method=method)
        for name in var_names:
            worst = float(np.nanmin(ess[name].values))
            if worst < min_ess:
                messages.append(
                    f"only {worst:.0f} effective {method} samples for {name!r} (fewer than {min_ess:.0f}): "
                    "means and intervals are imprecise; draw more."
                )
    return messages


def universe_posterior(idata: Any) -> np.ndarray:
    """Marginal posterior probability of every universe, ``(K,)``: the mean of
    ``universe_probability`` over all draws (needs ``systematics="marginalise"``)."""
    if "universe_probability" not in idata.posterior:
        raise InferenceError("no universe_probability in the posterior: the model has no marginalised universes")
    return idata.posterior["universe_probability"].mean(("chain", "draw")).values


# ---------------------------------------------------------------------- post-processing
#: Most posterior draws evaluated together after sampling.
POINTWISE_CHUNK = 500
#: Draws of a chunk times the elements of the largest array in one draw's graph, at most (bounds
#: the memory of intermediate results: 16 MB of float64 per array).
POINTWISE_ELEMENTS = 2_000_000
#: One draw's graphs whose largest array has more elements than this (per-event simulation) are
#: compiled to C, where evaluating, not compiling, is the cost; smaller ones run the ops' numpy
#: implementations.
POINTWISE_C_ELEMENTS = 50_000


def _pointwise_function(model: BinnedModel) -> tuple[pytensor.compile.Function, int]:
    """Map from a chunk of draws to their per-universe and per-bin log likelihoods, marginal log
    likelihood, expectations and (when the likelihood uses them) sumw2, leading axis the draws,
    and the number of draws per chunk: the graph of one draw vectorised over draws. Built once
    per model.

    Graphs of small arrays (compressed simulation, templates) run the ops' numpy implementations
    (``FAST_COMPILE``: a few calls per sampling, so a C compilation, seconds with an empty compile
    cache, would not pay); graphs of large ones (above :data:`POINTWISE_C_ELEMENTS`) are compiled
    to C. Chunks hold :data:`POINTWISE_ELEMENTS` elements of the largest array, at most
    :data:`POINTWISE_CHUNK` draws."""
    if "pointwise" not in model.cache:
        model.cache["pointwise"] = _build_pointwise_function(model)
    return model.cache["pointwise"]


def _build_pointwise_function(model: BinnedModel) -> tuple[pytensor.compile.Function, int]:
    try:
        from pytensor.graph.traversal import ancestors
    except ImportError:  # older PyTensor
        from pytensor.graph.basic import ancestors
    from pytensor.tensor.variable import TensorConstant

    point = {p.name: pt.tensor(name=p.name, shape=p.shape, dtype="float64") for p in model.free_parameters}
    scales = pt.vector(SCALES_NAME, dtype="float64")
    values = model.predictor_values(point)
    observed = pt.as_tensor_variable(model.observed)
    sampled_scales = scales if model.likelihood == "barlow-beeston-sampled" else None
    terms = model.log_likelihood(values, observed, sampled_scales)
    expected = model.predictor.expected(values)
    sumw2 = [model.predictor.expected_sumw2(values)] if model.sumw2_needed else []
    one_draw = [terms.per_universe, terms.per_bin, terms.total, expected, *sumw2]
    largest = max((v.data.size for v in ancestors(one_draw) if isinstance(v, TensorConstant)), default=1)
    batched = {name: pt.tensor(name=name, shape=(None, *variable.type.shape), dtype="float64")
               for name, variable in point.items()}
    batched_scales = pt.matrix(SCALES_NAME, dtype="float64")
    replace = {point[name]: batched[name] for name in point} | {scales: batched_scales}
    outputs = vectorize_graph(one_draw, replace=replace)
    mode = "FAST_RUN" if largest > POINTWISE_C_ELEMENTS else numpy_mode()
    function = pytensor.function([*batched.values(), batched_scales], outputs, on_unused_input="ignore", mode=mode)
    return function, int(np.clip(POINTWISE_ELEMENTS // largest, 1, POINTWISE_CHUNK))


class _Pointwise(NamedTuple):
    """Per-draw results, flattened over (chain, draw)."""

    per_universe: np.ndarray  # (S, K) log likelihood of each universe
    per_bin: np.ndarray  # (S, n) per-bin log likelihood of universe 0
    total: np.ndarray  # (S,) marginal log likelihood
    counts: np.ndarray | None  # (S, n) predictive counts


def _chunks(model: BinnedModel, posterior: Any, scales: np.ndarray) -> Iterator[tuple[slice, list[np.ndarray]]]:
    """The draws of ``posterior`` (flattened over chain and draw) in chunks, each with the outputs
    of :func:`_pointwise_function` there (``scales`` ``(S, n_bins)``: the sampled Barlow-Beeston
    scales, or ones)."""
    n_samples = posterior.sizes["chain"] * posterior.sizes["draw"]
    names = [p.name for p in model.free_parameters]
    draws = {name: posterior[name].values.reshape(n_samples, *_free_shape(model, name)) for name in names}
    function, chunk_size = _pointwise_function(model)
    for first in range(0, n_samples, chunk_size):
        chunk = slice(first, min(first + chunk_size, n_samples))
        yield chunk, function(*(draws[n][chunk] for n in names), scales[chunk])


def _evaluate_draws(model: BinnedModel, posterior: Any, predictive: bool, rng: np.random.Generator) -> _Pointwise:
    """Evaluate the likelihood (and draw predictive counts) at every posterior draw, in chunks
    (see :func:`_pointwise_function`)."""
    n_samples = posterior.sizes["chain"] * posterior.sizes["draw"]
    n_bins, n_variations = model.predictor.n_out, model.predictor.n_variations
    if SCALES_NAME in posterior:
        scales = posterior[SCALES_NAME].values.reshape(n_samples, n_bins)
    else:
        scales = np.ones((n_samples, n_bins))
    weights = model.predictor.variation_weights
    result = _Pointwise(
        np.empty((n_samples, n_variations)), np.empty((n_samples, n_bins)), np.empty(n_samples),
        np.empty((n_samples, n_bins)) if predictive else None,
    )
    for chunk, (universe, bins, total, expected, *sumw2) in _chunks(model, posterior, scales):
        sumw2 = sumw2[0] if sumw2 else np.zeros_like(expected)
        result.per_universe[chunk], result.per_bin[chunk], result.total[chunk] = universe, bins[:, 0], total
        if result.counts is not None:
            picked = np.zeros(len(universe), dtype=int)
            if n_variations > 1:  # a universe per draw, by its posterior probability
                picked = draw_universes(universe_probabilities(universe, weights), rng)
            rows = np.arange(len(universe))
            result.counts[chunk] = _draw_counts(model, expected[rows, picked], sumw2[rows, picked], scales[chunk], rng)
    return result


def expected_per_draw(model: BinnedModel, posterior: Any, universes: np.ndarray) -> np.ndarray:
    """Expected counts ``(S, n_bins)`` at every draw of ``posterior`` (an ArviZ posterior
    dataset holding every free variable of ``model``), of universe ``universes[s]`` at draw
    ``s`` (``(S,)`` integers), in chunks (see :func:`_pointwise_function`)."""
    n_samples = posterior.sizes["chain"] * posterior.sizes["draw"]
    expected = np.empty((n_samples, model.predictor.n_out))
    scales = np.ones((n_samples, model.predictor.n_out))
    for chunk, outputs in _chunks(model, posterior, scales):
        per_universe = outputs[3]
        expected[chunk] = per_universe[np.arange(len(per_universe)), universes[chunk]]
    return expected


def _add_pointwise_results(model: BinnedModel, idata: Any, predictive: bool, rng: np.random.Generator) -> None:
    import arviz as az

    posterior = idata.posterior
    n_chains, n_draws = posterior.sizes["chain"], posterior.sizes["draw"]
    n_bins, n_variations = model.predictor.n_out, model.predictor.n_variations
    weights = model.predictor.variation_weights
    per_universe, per_bin, total, counts = _evaluate_draws(model, posterior, predictive, rng)
    shape = (n_chains, n_draws)
    marginalised = model.systematics == "marginalise"
    log_likelihood = total.reshape(shape) if marginalised else per_bin.reshape(*shape, n_bins)
    per_bin_groups: dict[str, Any] = {"observed_data": {OBSERVED_NAME: model.observed}}
    if counts is not None:
        per_bin_groups["posterior_predictive"] = {OBSERVED_NAME: counts.reshape(*shape, n_bins)}
    if not marginalised:
        per_bin_groups["log_likelihood"] = {OBSERVED_NAME: log_likelihood}
    coords = {"bins": np.arange(n_bins)}
    # join="right" replaces PyMC's own observed_data
    idata.extend(az.from_dict(**per_bin_groups, dims={OBSERVED_NAME: ["bins"]}, coords=coords), join="right")
    if marginalised:  # one joint term per draw: universes couple the bins
        idata.extend(az.from_dict(log_likelihood={OBSERVED_NAME: log_likelihood}), join="right")
    if marginalised:
        probabilities = universe_probabilities(per_universe, weights).reshape(*shape, n_variations)
        idata.posterior["universe_probability"] = (("chain", "draw", "universes"), probabilities)
        idata.posterior = idata.posterior.assign_coords(universes=np.arange(n_variations))


def _free_shape(model: BinnedModel, name: str) -> tuple[int, ...]:
    return next(p.shape for p in model.free_parameters if p.name == name)


def _draw_counts(
    model: BinnedModel, expected: np.ndarray, sumw2: np.ndarray, scales: np.ndarray, rng: np.random.Generator
) -> np.ndarray:
    """One predictive draw of counts in every bin from the likelihood's generative model."""
    usable = (sumw2 > 0) & (expected > 0)
    safe_sumw2 = np.where(usable, sumw2, 1.0)
    rate = expected
    if model.likelihood == "effective":
        alpha = expected**2 / safe_sumw2 + 1.0
        beta = expected / safe_sumw2
        rate = np.where(usable, rng.gamma(alpha, 1.0 / np.where(usable, beta, 1.0)), expected)
    elif model.likelihood == "barlow-beeston-lite":
        sigma = np.sqrt(safe_sumw2) / np.where(usable, expected, 1.0)
        scale = 1.0 + sigma * rng.standard_normal(expected.shape)
        while np.any(bad := scale <= 0):  # truncate the constraint at zero
            scale[bad] = 1.0 + sigma[bad] * rng.standard_normal(int(bad.sum()))
        rate = np.where(usable, scale * expected, expected)
    elif model.likelihood == "barlow-beeston-sampled":
        rate = np.where(usable, scales * expected, expected)
    return rng.poisson(rate).astype(float)
