"""``bayesfit run WORKSPACE.json``: fit and sample a pyhf workspace, write results and figures.

Outputs (in ``results/<workspace file stem>/`` unless ``out`` is given), as for analysis files:

* ``summary.json``: ``fit`` (maximum likelihood, every parameter entry of the workspace, labelled
  like ``staterror_SR1[3]``; ``neg_log_likelihood`` is pyhf's ``twice_nll / 2``), and with
  sampling ``posterior`` (mean, sd, 94% HDI, r-hat, bulk ESS per entry), ``poi`` (posterior mean,
  sd and 95% credible upper limit) and ``sampling``;
* ``posterior.nc``: the ArviZ InferenceData;
* ``channel_<name>.png`` (pre-fit and post-fit counts per channel), ``pulls.png``, and with
  sampling ``corner.png`` (POI and the nuisance parameters most correlated with it) and
  ``traces.png`` (POI).

The fit counts as converged when the estimated distance to the minimum,
``EDM = g^T C g / 2`` over the free parameters off their bounds (``g`` the gradient of ``-ln L``,
``C`` the covariance), is below :data:`EDM_TOLERANCE` and the covariance has a positive diagonal.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from bayesfit.analysis.report import format_table, posterior_summary, sampling_summary
from bayesfit.analysis.run import RunResult
from bayesfit.errors import WorkspaceError
from bayesfit.histfactory.model import HistFactoryModel
from bayesfit.histfactory.workspace import Workspace, load_workspace
from bayesfit.output import ResultFolder, progress_reporter

__all__ = ["EDM_TOLERANCE", "CORNER_NUISANCES", "read_patched_workspace", "run_workspace"]

#: Largest estimated distance to the minimum (in units of ``-ln L``) of a converged fit.
EDM_TOLERANCE = 1e-4
#: Nuisance parameters shown with the POI in the corner plot.
CORNER_NUISANCES = 4
#: Credibility level of the POI's upper limit in ``summary.json``.
CREDIBILITY = 0.95


def read_patched_workspace(path: str | Path, patches: Sequence[str | Path] = ()) -> Workspace:
    """Read the workspace at ``path`` and apply JSON patch files in order.

    A patch is a JSON patch file, or ``PATCHSET.json:NAME`` for the patch ``NAME`` of a pyhf
    patchset (a patchset holding a single patch may be given without the name).
    """
    workspace = load_workspace(path)
    for patch in patches:
        document, name = _read_patch(str(patch))
        if isinstance(document, dict) and name is None and len(document.get("patches", [])) == 1:
            name = document["patches"][0].get("metadata", {}).get("name")
        workspace = workspace.patched(document, name)
    return workspace


def _read_patch(text: str) -> tuple[Any, str | None]:
    path, name = Path(text), None
    if not path.exists() and ":" in text:
        stem, name = text.rsplit(":", 1)
        path = Path(stem)
    try:
        return json.loads(path.read_text()), name
    except OSError as error:
        raise WorkspaceError(f"{path}: cannot read patch: {error.strerror}") from None
    except json.JSONDecodeError as error:
        raise WorkspaceError(f"{path}: not valid JSON (line {error.lineno}, column {error.colno}): {error.msg}") from None


def run_workspace(
    path: str | Path,
    *,
    patches: Sequence[str | Path] = (),
    measurement: str | None = None,
    out: str | Path | None = None,
    sample: bool = True,
    draws: int = 1000,
    tune: int = 1000,
    chains: int = 4,
    seed: int | None = None,
    sampler: str = "auto",
    force: bool = False,
    progress: bool = True,
) -> RunResult:
    """Fit (and sample) the workspace at ``path``; write summary, posterior and figures to ``out``.

    ``sampler`` is ``"auto"`` (nutpie when installed), ``"nutpie"`` or ``"pymc"``. Existing files
    in ``out`` are never overwritten unless ``force``; this is checked before any long work.
    """
    from bayesfit.histfactory.fit import fit

    name = Path(path).stem
    workspace = read_patched_workspace(path, patches)
    folder = ResultFolder(Path(out) if out is not None else Path("results") / name, force=force)
    folder.claim(_planned_files(workspace, sample))
    say = progress_reporter(progress)

    start = time.perf_counter()
    model = HistFactoryModel(workspace, measurement)
    best_fit = fit(model)
    say(f"maximum-likelihood fit of {model.n_parameters} parameters in {time.perf_counter() - start:.1f} s")
    summary: dict[str, Any] = {
        "analysis": name,
        "workspace": {"measurement": model.measurement["name"], "poi": model.poi_name,
                      "channels": model.layout.channel_names, "bins": model.n_bins,
                      "parameters": model.n_parameters, "patches": [str(p) for p in patches]},
        "fit": _fit_section(model, best_fit),
    }

    bayesian = idata = None
    if sample:
        from bayesfit.histfactory.bayes import build_pymc_model, poi_posterior, sample_posterior

        bayesian = build_pymc_model(model)
        say(f"sampling: {chains} chains x ({tune} tune + {draws} draws), {sampler}")
        start = time.perf_counter()
        idata = sample_posterior(bayesian, draws=draws, tune=tune, chains=chains, seed=seed, sampler=sampler,
                                 progressbar=progress)
        seconds = time.perf_counter() - start
        summary["posterior"] = posterior_summary(idata, list(bayesian.var_names))
        poi = poi_posterior(idata, model.poi_name, CREDIBILITY)
        summary["poi"] = {"name": model.poi_name, "mean": poi.mean, "sd": poi.sd,
                          f"upper_limit_{round(100 * CREDIBILITY)}": poi.upper_limit}
        summary["sampling"] = {**sampling_summary(idata, seconds), "sampler": sampler}

    files = [folder.write_json("summary.json", summary)]
    if idata is not None:
        files.append(folder.write("posterior.nc", lambda temporary: idata.to_netcdf(str(temporary))))
    files += _write_figures(folder, model, best_fit, bayesian, idata)
    print(_table(summary, model))
    say(f"results in {folder.path}/")
    return RunResult(summary, folder.path, files)


def _planned_files(workspace: Workspace, sample: bool) -> list[str]:
    names = ["summary.json", "pulls.png"] + [f"channel_{channel}.png" for channel in workspace.channel_names]
    if sample:
        names += ["posterior.nc", "corner.png", "traces.png"]
    return names



def _fit_section(model: HistFactoryModel, best_fit: Any) -> dict[str, Any]:
    """``fit`` of summary.json: value and error of every entry, ``-ln L``, EDM and convergence."""
    inside = _off_bounds(model, best_fit.values)
    edm = _edm(model, best_fit, inside)
    errors = best_fit.errors
    converged = bool(np.isfinite(edm) and edm < EDM_TOLERANCE and np.all(errors[inside] > 0))
    return {
        "parameters": {label: {"value": float(value), "error": float(error)}
                       for label, value, error in zip(model.parameter_names, best_fit.values, errors)},
        "neg_log_likelihood": 0.5 * float(best_fit.twice_nll),
        "converged": converged,
        "edm": edm,
    }


def _off_bounds(model: HistFactoryModel, values: np.ndarray) -> np.ndarray:
    """Free entries not at their bounds (there the gradient need not vanish)."""
    low, high = model.bounds.T
    margin = 1e-6 * (high - low)
    return ~model.fixed & (values > low + margin) & (values < high - margin)


def _edm(model: HistFactoryModel, best_fit: Any, inside: np.ndarray) -> float:
    if best_fit.covariance is None:
        return float("nan")
    gradient = 0.5 * model.twice_nll_and_grad(best_fit.values, model.data)[1]  # of -ln L
    g = gradient[inside]
    return float(0.5 * g @ best_fit.covariance[np.ix_(inside, inside)] @ g)


def _table(summary: dict[str, Any], model: HistFactoryModel) -> str:
    """The printed table: free (unconstrained) parameters only, then the POI posterior and diagnostics."""
    shown = [label for label, constrained in zip(model.parameter_names, _constrained_entries(model))
             if not constrained and label in summary["fit"]["parameters"]]
    short = {**summary, "fit": {**summary["fit"],
                                "parameters": {label: summary["fit"]["parameters"][label] for label in shown}}}
    lines = [format_table(short)]
    lines.append(f"{model.n_parameters - len(shown)} constrained nuisance parameters not shown (see summary.json)")
    if "poi" in summary:
        poi = summary["poi"]
        limit = next(key for key in poi if key.startswith("upper_limit"))
        lines.append(f"{poi['name']}: posterior {poi['mean']:.4g} +- {poi['sd']:.3g}, "
                     f"{limit.removeprefix('upper_limit_')}% credible upper limit {poi[limit]:.4g}")
        rhat = [entry["r_hat"] for entry in summary["posterior"].values() if np.isfinite(entry["r_hat"])]
        ess = [entry["ess_bulk"] for entry in summary["posterior"].values() if np.isfinite(entry["ess_bulk"])]
        if rhat:
            lines.append(f"largest r-hat {max(rhat):.4f}, smallest bulk ESS {min(ess):.0f}")
    return "\n".join(lines)


def _constrained_entries(model: HistFactoryModel) -> np.ndarray:
    return np.concatenate([np.full(p.size, p.constraint is not None) for p in model.parameter_sets])


def _write_figures(folder: ResultFolder, model: HistFactoryModel, best_fit: Any, bayesian: Any,
                   idata: Any) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")

    from bayesfit.histfactory.plots import channel_figures, nuisance_pulls, plot_pulls, sample_rates
    from bayesfit.plots import plot_corner, plot_traces

    priors = model.priors() if bayesian is None else bayesian.priors
    pre_fit, post_fit = sample_rates(model, [model.inits, best_fit.values])
    band = None
    pulls = {"ML fit": nuisance_pulls(model, priors, best_fit.values, best_fit.errors)}
    if idata is not None:
        expected = idata.posterior["expected"].values.reshape(-1, model.n_bins)
        predictive = np.random.default_rng(0).poisson(expected)
        band = tuple(np.quantile(predictive, [0.16, 0.84], axis=0))
        means, sds = _posterior_moments(model, idata, bayesian)
        pulls["posterior"] = nuisance_pulls(model, priors, means, sds)
    files = [folder.write_figure(f"{name}.png", figure) for name, figure in channel_figures(model, pre_fit, post_fit, band).items()]
    files.append(folder.write_figure("pulls.png", plot_pulls(pulls).figure))
    if idata is not None:
        corner = plot_corner(idata, _corner_names(model, idata, bayesian), kind="scatter", marginals=True)
        files.append(folder.write_figure("corner.png", np.ravel(corner)[0].figure))
        traces = plot_traces(idata, [model.poi_name])
        files.append(folder.write_figure("traces.png", np.ravel(traces)[0].figure))
    return files


def _posterior_moments(model: HistFactoryModel, idata: Any, bayesian: Any) -> tuple[np.ndarray, np.ndarray]:
    """Posterior means and sds as flat ``(n_parameters,)`` vectors (constants: value and 0)."""
    means, sds = [], []
    for parameter in model.parameter_sets:
        if parameter.name in bayesian.constants:
            means.append(bayesian.constants[parameter.name])
            sds.append(np.zeros(parameter.size))
            continue
        draws = idata.posterior[parameter.name].values.reshape(-1, parameter.size)
        means.append(draws.mean(axis=0))
        sds.append(draws.std(axis=0, ddof=1))
    return np.concatenate(means), np.concatenate(sds)


def _corner_names(model: HistFactoryModel, idata: Any, bayesian: Any) -> list[str]:
    """The POI and the scalar nuisance parameters most correlated with it in the posterior."""
    poi = idata.posterior[model.poi_name].values.ravel()
    candidates = [name for name in bayesian.var_names
                  if name != model.poi_name and idata.posterior[name].ndim == 2]
    correlation = {name: abs(np.corrcoef(poi, idata.posterior[name].values.ravel())[0, 1]) for name in candidates}
    ranked = sorted(candidates, key=lambda name: -np.nan_to_num(correlation[name]))
    return [model.poi_name, *ranked[:CORNER_NUISANCES]]
