"""``bayesfit run WORKSPACE.json``: fit and sample a pyhf workspace, write results and figures.

The workspace becomes a :class:`~bayesfit.model.BinnedModel` (:func:`~bayesfit.histfactory.build_model`)
and everything runs through :mod:`bayesfit.inference`. Outputs (in ``results/<workspace file
stem>/`` unless ``out`` is given), as for analysis files:

* ``summary.json``: ``workspace`` (measurement, POI, channels, sizes, patches); ``fit`` (the
  maximum-likelihood :class:`~bayesfit.inference.results.FitResult` as ``to_dict()``: every
  parameter entry of the workspace, labelled like ``staterror_SR1[3]``, ``neg_log_likelihood`` =
  pyhf's ``twice_nll / 2``, ``converged`` by the estimated distance to the minimum);
  ``upper_limit`` (the asymptotic CLs upper limit of the POI at 95%, ``q~_mu``, with the expected
  band) when it can be computed; with sampling ``posterior`` (mean, sd, 94% HDI, r-hat, bulk ESS
  per entry), ``poi`` (posterior mean, sd and the 95% credible upper limit) and ``sampling``;
* ``posterior.nc``: the ArviZ InferenceData;
* ``channel_<name>.png`` (pre-fit and post-fit counts per channel), ``pulls.png``, and with
  sampling ``corner.png`` (POI and the nuisance parameters most correlated with it) and
  ``traces.png`` (POI).
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
from bayesfit.errors import BayesfitError, WorkspaceError
from bayesfit.histfactory.build import build_model
from bayesfit.histfactory.workspace import Workspace, load_workspace
from bayesfit.model import BinnedModel
from bayesfit.output import ResultFolder, progress_reporter

__all__ = ["CORNER_NUISANCES", "CREDIBILITY", "read_patched_workspace", "run_workspace"]

#: Nuisance parameters shown with the POI in the corner plot.
CORNER_NUISANCES = 4
#: Level of the POI's upper limits (CLs and credible) in ``summary.json``.
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
    from bayesfit.inference import fit, sample_posterior, upper_limit

    name = Path(path).stem
    workspace = read_patched_workspace(path, patches)
    folder = ResultFolder(Path(out) if out is not None else Path("results") / name, force=force)
    folder.claim(_planned_files(workspace, sample))
    say = progress_reporter(progress)

    start = time.perf_counter()
    model = build_model(workspace, measurement)
    best_fit = fit(model)
    n_parameters = sum(v.size for v in model.parameters)
    say(f"maximum-likelihood fit of {n_parameters} parameters in {time.perf_counter() - start:.1f} s")
    summary: dict[str, Any] = {
        "analysis": name,
        "workspace": {"measurement": workspace.measurement(measurement)["name"], "poi": model.poi,
                      "channels": workspace.channel_names, "bins": int(model.predictor.n_out),
                      "parameters": n_parameters, "patches": [str(p) for p in patches]},
        "fit": best_fit.to_dict(),
    }
    start = time.perf_counter()
    try:
        limit = upper_limit(model, level=CREDIBILITY)
    except BayesfitError as error:  # e.g. CLs never falls to 5% within the POI's bounds
        say(f"no CLs upper limit on {model.poi}: {error}")
    else:
        summary["upper_limit"] = limit.to_dict()
        say(f"{round(100 * CREDIBILITY)}% CLs upper limit on {model.poi} in {time.perf_counter() - start:.1f} s")

    idata = None
    if sample:
        say(f"sampling: {chains} chains x ({tune} tune + {draws} draws), {sampler}")
        start = time.perf_counter()
        idata = sample_posterior(model, draws=draws, tune=tune, chains=chains, seed=seed, sampler=sampler,
                                 predictive=True, progressbar=progress)
        seconds = time.perf_counter() - start
        summary["posterior"] = posterior_summary(idata, [v.name for v in model.free_parameters])
        variable, entry = model.entry(model.poi)
        draws_poi = idata.posterior[variable.name].values.reshape(-1, variable.size)[:, entry]
        credible = upper_limit(model, method="credible", level=CREDIBILITY, idata=idata)
        summary["poi"] = {"name": model.poi, "mean": float(draws_poi.mean()), "sd": float(draws_poi.std(ddof=1)),
                          f"upper_limit_{round(100 * CREDIBILITY)}": credible.observed}
        summary["sampling"] = {**sampling_summary(idata, seconds), "sampler": sampler}

    files = [folder.write_json("summary.json", summary)]
    if idata is not None:
        files.append(folder.write("posterior.nc", lambda temporary: idata.to_netcdf(str(temporary))))
    files += _write_figures(folder, model, best_fit, idata)
    print(_table(summary, model))
    say(f"results in {folder.path}/")
    return RunResult(summary, folder.path, files)


def _planned_files(workspace: Workspace, sample: bool) -> list[str]:
    names = ["summary.json", "pulls.png"] + [f"channel_{channel}.png" for channel in workspace.channel_names]
    if sample:
        names += ["posterior.nc", "corner.png", "traces.png"]
    return names


def _table(summary: dict[str, Any], model: BinnedModel) -> str:
    """The printed table: free (unconstrained) parameters only, then the POI posterior and diagnostics."""
    shown = [label for variable in model.parameters for label, constrained in
             zip(variable.labels, variable.constrained.ravel()) if not constrained]
    short = {**summary, "fit": {**summary["fit"], "parameters": {
        label: summary["fit"]["parameters"][label] for label in shown if label in summary["fit"]["parameters"]}}}
    lines = [format_table(short)]
    n_entries = len(summary["fit"]["parameters"])
    lines.append(f"{n_entries - len(short['fit']['parameters'])} constrained nuisance parameters not shown "
                 "(see summary.json)")
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


def _write_figures(folder: ResultFolder, model: BinnedModel, best_fit: Any, idata: Any) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")

    from bayesfit.histfactory.plots import channel_figures, nuisance_pulls, plot_pulls, sample_rates
    from bayesfit.plots import plot_corner, plot_traces

    pre_fit, post_fit = sample_rates(model, [model.start_point(), best_fit.values])
    band = None
    pulls = {"ML fit": nuisance_pulls(model, best_fit.values, best_fit.errors)}
    if idata is not None:
        counts = idata.posterior_predictive["counts"].values.reshape(-1, model.predictor.n_out)
        band = tuple(np.quantile(counts, [0.16, 0.84], axis=0))
        means, sds = _posterior_moments(model, idata)
        pulls["posterior"] = nuisance_pulls(model, means, sds)
    figures = channel_figures(model, pre_fit, post_fit, band)
    files = [folder.write_figure(f"{name}.png", figure) for name, figure in figures.items()]
    files.append(folder.write_figure("pulls.png", plot_pulls(pulls).figure))
    if idata is not None:
        corner = plot_corner(idata, _corner_names(model, idata), kind="scatter", marginals=True)
        files.append(folder.write_figure("corner.png", np.ravel(corner)[0].figure))
        traces = plot_traces(idata, [model.entry(model.poi)[0].name])
        files.append(folder.write_figure("traces.png", np.ravel(traces)[0].figure))
    return files


def _posterior_moments(model: BinnedModel, idata: Any) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Posterior means and sds of every variable, full shapes (fixed variables: value and 0)."""
    means, sds = {}, {}
    for variable in model.parameters:
        if variable.name not in idata.posterior:
            means[variable.name], sds[variable.name] = variable.start.astype(float), np.zeros(variable.shape)
            continue
        draws = idata.posterior[variable.name].values.reshape(-1, variable.size)
        means[variable.name] = draws.mean(axis=0).reshape(variable.shape)
        sds[variable.name] = draws.std(axis=0, ddof=1).reshape(variable.shape)
    return means, sds


def _corner_names(model: BinnedModel, idata: Any) -> list[str]:
    """The POI and the scalar nuisance parameters most correlated with it in the posterior."""
    poi_name = model.entry(model.poi)[0].name
    poi = idata.posterior[poi_name].values.ravel()
    candidates = [v.name for v in model.free_parameters
                  if v.name != poi_name and v.shape == () and v.name in idata.posterior]
    correlation = {name: abs(np.corrcoef(poi, idata.posterior[name].values.ravel())[0, 1]) for name in candidates}
    ranked = sorted(candidates, key=lambda name: -np.nan_to_num(correlation[name]))
    return [poi_name, *ranked[:CORNER_NUISANCES]]
