"""``bayesfit run``: fit, sample, scan and plot an analysis file, and write the results.

Outputs (in ``results/<name>/`` unless ``out`` is given): ``summary.json`` (see
:mod:`bayesfit.analysis.report`), ``posterior.nc`` (ArviZ NetCDF), and PNG figures: counts per
continuous axis with the fitted components and the posterior-predictive band, the corner plot,
traces and profile-likelihood scans. Existing files are never overwritten without ``force``.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from bayesfit.analysis.report import fit_summary, format_table, posterior_summary, sampling_summary
from bayesfit.analysis.spec import AnalysisSpec, InferenceSettings, read_analysis
from bayesfit.output import ResultFolder, progress_reporter

__all__ = ["RunOptions", "RunResult", "run_analysis", "run_analysis_file"]


@dataclass(frozen=True)
class RunOptions:
    """Command-line choices; ``None`` keeps the analysis file's ``inference`` setting."""

    out: Path | None = None
    overrides: tuple[str, ...] = ()
    sample: bool = True
    draws: int | None = None
    tune: int | None = None
    chains: int | None = None
    seed: int | None = None
    sampler: str | None = None
    force: bool = False
    progress: bool = True


class RunResult(NamedTuple):
    """What a run produced: the summary dict, the folder and the files written."""

    summary: dict[str, Any]
    folder: Path
    files: list[Path]


def run_analysis_file(path: str | Path, options: RunOptions = RunOptions()) -> RunResult:
    """Run the analysis file at ``path`` (see :func:`run_analysis`)."""
    return run_analysis(read_analysis(path, options.overrides), options)


def run_analysis(spec: AnalysisSpec, options: RunOptions = RunOptions()) -> RunResult:
    """Build the analysis, fit it, sample its posterior, scan profiles, write summary and figures."""
    from bayesfit.analysis.build import Analysis

    settings = _settings(spec.inference, options)
    folder = ResultFolder(options.out or Path("results") / spec.name, force=options.force)
    folder.claim(_planned_files(spec, settings, options.sample))
    say = progress_reporter(options.progress)

    start = time.perf_counter()
    analysis = Analysis(spec)
    say(f"built {analysis!r} in {time.perf_counter() - start:.1f} s")
    start = time.perf_counter()
    best_fit = analysis.fit()
    say(f"maximum-likelihood fit in {time.perf_counter() - start:.1f} s")
    summary: dict[str, Any] = {"analysis": spec.name, "fit": fit_summary(best_fit)}
    summary["data"] = {
        "events": int(analysis.data.n_events),
        "outside_binning": int(analysis.data_histogram.n_outside),
        "likelihood": spec.likelihood,
    }

    scans = {}
    for parameter, grid in settings.profile.items():
        start = time.perf_counter()
        values = np.linspace(grid["start"], grid["stop"], int(grid.get("points", 21)))
        scans[parameter] = analysis.profile(parameter, values, best_fit=best_fit)
        lower, upper = scans[parameter].interval()
        summary.setdefault("profiles", {})[parameter] = {
            "values": values.tolist(),
            "twice_delta_nll": scans[parameter].twice_delta_nll.tolist(),
            "interval_68": [lower, upper],
        }
        say(f"profile of {parameter}: 68% interval [{lower:.4g}, {upper:.4g}] in {time.perf_counter() - start:.1f} s")

    for test_name, test in settings.tests.items():
        start = time.perf_counter()
        n_toys = int(test.get("toys", settings.toys.get("count", 0)))
        outcome = analysis.hypothesis_test(
            test["hypothesis"], n_toys=n_toys, workers=settings.toys.get("workers"), seed=settings.seed, best_fit=best_fit
        )
        entry = {
            "hypothesis": dict(test["hypothesis"]),
            "statistic": float(outcome.wilks.statistic),
            "dof": int(outcome.wilks.dof),
            "p_value_wilks": float(outcome.wilks.p_value),
        }
        if outcome.toys is not None:
            entry.update(
                toys=n_toys,
                p_value_toys=float(outcome.toys.p_value),
                p_value_toys_error=float(outcome.toys.p_value_error),
                failed_toy_fits=int(outcome.toys.n_failed),
            )
        summary.setdefault("tests", {})[test_name] = entry
        toys_text = "" if outcome.toys is None else f", toys {outcome.toys.p_value:.3g} +- {outcome.toys.p_value_error:.2g}"
        say(
            f"test {test_name}: TS = {entry['statistic']:.3f}, p (Wilks) = {entry['p_value_wilks']:.3g}"
            f"{toys_text} in {time.perf_counter() - start:.1f} s"
        )

    idata = None
    if options.sample:
        say(f"sampling: {settings.chains} chains x ({settings.tune} tune + {settings.draws} draws), {settings.sampler}")
        start = time.perf_counter()
        idata = analysis.sample(
            draws=settings.draws,
            tune=settings.tune,
            chains=settings.chains,
            seed=settings.seed,
            sampler=settings.sampler,
            target_accept=settings.target_accept,
            predictive=True,
            progressbar=options.progress,
        )
        seconds = time.perf_counter() - start
        names = [p.name for p in analysis.model.free_parameters]
        summary["posterior"] = posterior_summary(idata, names)
        summary["sampling"] = sampling_summary(idata, seconds)

    files = [folder.write_json("summary.json", summary)]
    if idata is not None:
        files.append(folder.write("posterior.nc", lambda temporary: idata.to_netcdf(str(temporary))))
    files += _write_figures(folder, analysis, best_fit, idata, scans)
    print(format_table(summary))
    say(f"results in {folder.path}/")
    return RunResult(summary, folder.path, files)


def _settings(settings: InferenceSettings, options: RunOptions) -> InferenceSettings:
    chosen = {
        field.name: getattr(options, field.name)
        for field in dataclasses.fields(RunOptions)
        if field.name in {"draws", "tune", "chains", "seed", "sampler"} and getattr(options, field.name) is not None
    }
    return dataclasses.replace(settings, **chosen)


def _planned_files(spec: AnalysisSpec, settings: InferenceSettings, sample: bool) -> list[str]:
    names = ["summary.json"] + [_profile_file(parameter) for parameter in settings.profile]
    if "path" not in spec.binning:  # one counts figure per continuous axis of an inline binning
        names += [f"counts_{variable}.png" for variable, axis in spec.binning.items() if "categories" not in axis]
    if sample:
        names += ["posterior.nc", "corner.png", "traces.png"]
    return names



def _profile_file(parameter: str) -> str:
    """``profile_astro_gamma.png``; an entry label ``weights[2]`` becomes ``profile_weights_2.png``."""
    return "profile_" + parameter.replace("[", "_").replace("]", "") + ".png"


def _write_figures(folder: ResultFolder, analysis: Any, best_fit: Any, idata: Any, scans: dict) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")

    from bayesfit.analysis.figures import CountsToPlot, projection_figures
    from bayesfit.binning import RectilinearBinning
    from bayesfit.plots import plot_corner, plot_profile, plot_traces

    files = []
    if isinstance(analysis.binning, RectilinearBinning):
        predictive = None
        if idata is not None and "posterior_predictive" in idata.groups():
            draws = idata.posterior_predictive["counts"].values
            predictive = draws.reshape(-1, draws.shape[-1])
        counts = CountsToPlot(analysis.observed, analysis.component_expected(best_fit.values), predictive)
        for name, figure in projection_figures(analysis.binning, counts).items():
            files.append(folder.write_figure(f"{name}.png", figure))
    for parameter, scan in scans.items():
        best = float(best_fit.x[analysis.objective.labels().index(parameter)])  # also "weights[2]"
        ax = plot_profile(scan.values, scan.twice_delta_nll, parameter=parameter, best_fit=best)
        files.append(folder.write_figure(_profile_file(parameter), ax.figure))
    if idata is not None:
        names = [p.name for p in analysis.model.free_parameters]
        corner = plot_corner(idata, names)
        files.append(folder.write_figure("corner.png", np.ravel(corner)[0].figure))
        traces = plot_traces(idata, names)
        files.append(folder.write_figure("traces.png", np.ravel(traces)[0].figure))
    return files
