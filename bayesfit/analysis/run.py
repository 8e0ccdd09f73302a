"""``bayesfit run``: fit, sample, scan and plot an analysis file, and write the results.

Outputs (in ``results/<name>/`` unless ``out`` is given): ``summary.json`` (see
:mod:`bayesfit.analysis.report`), ``posterior.nc`` (ArviZ NetCDF; the summary, provenance
included, is also its posterior group's ``bayesfit_summary`` attribute), for a workspace with a
patchset ``patchset_limits.csv`` (the limit of every patch, keyed by its values) and
``exclusion.png`` (over the first two labels), and PNG figures: counts per
continuous axis with the fitted components and the posterior-predictive band, the corner plot,
traces, profile-likelihood scans with their Wilks p-values, and the flux throws of a template
analysis with a flux. The folder is complete or absent (see
:class:`~bayesfit.output.ResultFolder`): an error or an interrupt at any phase leaves the target as
it was, and an existing result folder is replaced as a whole, only with ``force``.
"""

from __future__ import annotations

import dataclasses
import gc
import io
import json
import os
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from bayesfit.analysis.provenance import provenance
from bayesfit.analysis.report import posterior_summary, sampling_summary, validate_summary
from bayesfit.analysis.spec import AnalysisSpec, InferenceSettings, read_analysis
from bayesfit.errors import LimitNotFoundError
from bayesfit.output import ResultFolder, progress_reporter, safe_file_name, strict_json

__all__ = ["CORNER_ENTRIES", "PhaseTimer", "RunOptions", "RunResult", "corner_names", "run_analysis", "run_analysis_file"]


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
    """Build the analysis, fit it, run the file's profiles, tests, limits and Bayes factors, sample
    its posterior, and write ``summary.json``, ``posterior.nc`` and the figures."""
    from bayesfit.analysis.build import Analysis
    from bayesfit.inference.posterior import resolve_sampler, sample_prior

    settings = _settings(spec.inference, options)
    say = progress_reporter(options.progress)
    timing = PhaseTimer(say)

    folder = ResultFolder(options.out or Path("results") / safe_file_name(spec.name), force=options.force)
    with folder:  # complete or absent: staged beside the target, which it replaces at the end
        with timing("build"):
            analysis = Analysis(spec)
        say(f"built {analysis!r}")
        with timing("fit"):
            best_fit = analysis.fit()
        summary: dict[str, Any] = {
            "analysis": spec.name,
            "model": _model_summary(analysis),
            "data": analysis.data_summary(),
            "fit": best_fit.to_dict(),
        }

        scans = {}
        for parameter, grid in settings.profile.items():
            with timing("profiles"):
                values = np.linspace(grid["start"], grid["stop"], int(grid.get("points", 21)))
                fixed = dict(grid.get("fixed", {}))
                scans[parameter] = analysis.profile(parameter, values, best_fit=None if fixed else best_fit, fixed=fixed)
            lower, upper = scans[parameter].interval()
            summary.setdefault("profiles", {})[parameter] = {
                "values": values.tolist(),
                "fixed": fixed,
                "twice_delta_nll": scans[parameter].twice_delta_nll.tolist(),
                "p_value_wilks": scans[parameter].p_values().tolist(),
                "interval_68": [lower, upper],
                "interval_68_ends": list(scans[parameter].interval_ends()),
            }
            say(f"profile of {parameter}: 68% interval [{lower:.4g}, {upper:.4g}]")

        for test_name, test in settings.tests.items():
            n_toys = int(test.get("toys", settings.toys.get("count", 0)))
            statistic = test.get("statistic", "likelihood_ratio")
            with timing("tests"):
                outcome = analysis.hypothesis_test(
                    test["hypothesis"], n_toys=n_toys, workers=settings.toys.get("workers"), seed=settings.seed,
                    best_fit=best_fit, statistic=statistic,
                )
            entry = {
                "hypothesis": dict(test["hypothesis"]),
                "statistic": float(outcome.wilks.statistic),
                "dof": int(outcome.wilks.dof),
                "p_value_wilks": float(outcome.wilks.p_value),
            }
            if outcome.toys is not None:
                entry.update(
                    toy_statistic=statistic,
                    observed_toy_statistic=float(outcome.toys.statistic),
                    toys=n_toys,
                    p_value_toys=float(outcome.toys.p_value),
                    p_value_toys_error=float(outcome.toys.p_value_error),
                    p_value_toys_upper_limit=outcome.toys.p_value_upper_limit,
                    failed_toy_fits=int(outcome.toys.toys.n_failed),
                )
            summary.setdefault("tests", {})[test_name] = entry
            toys_text = "" if outcome.toys is None else f", toys {outcome.toys.p_value:.3g} +- {outcome.toys.p_value_error:.2g}"
            say(f"test {test_name}: TS = {entry['statistic']:.3f}, p (Wilks) = {entry['p_value_wilks']:.3g}{toys_text}")

        for factor_name, hypotheses in settings.bayes_factors.items():
            with timing("bayes_factors"):
                factor = analysis.bayes_factor(
                    hypotheses["numerator"], hypotheses["denominator"], draws=int(hypotheses.get("draws", 1000)),
                    chains=int(hypotheses.get("chains", 2)), seed=settings.seed,
                )
            summary.setdefault("bayes_factors", {})[factor_name] = {
                "numerator": dict(hypotheses["numerator"]),
                "denominator": dict(hypotheses["denominator"]),
                **factor.to_dict(),
            }
            say(f"Bayes factor {factor_name}: ln BF = {factor.ln_bayes_factor:.3f} +- {factor.error:.3f}")

        for test_name, test in settings.hypotests.items():
            with timing("hypotests"):
                result = analysis.hypotest(
                    float(test["poi_value"]), poi=test.get("poi"), test_statistic=test.get("test_statistic", "qmu_tilde"),
                    calculator=test.get("calculator", "asymptotic"), n_toys=int(test.get("toys", 1000)),
                    seed=settings.seed, n_workers=settings.toys.get("workers"),
                )
            summary.setdefault("hypotests", {})[test_name] = result.to_dict()
            say(
                f"hypotest {test_name} ({result.test_statistic}, {result.poi} = {result.poi_value:g}): "
                f"CLs = {result.cls:.4g}, p = {result.p_value:.4g} ({result.significance:.2f} sigma)"
            )

        figure_results: dict[str, Any] = {}
        limit_settings = dict(settings.upper_limit or {})
        patchset = getattr(analysis, "hypotheses", None) is not None
        if limit_settings and patchset:  # the file's limit, for every patch of the patchset
            scan = limit_settings.get("scan")
            with timing("patchset_limits"):
                scanned = analysis.patchset_limits(
                    poi=limit_settings.get("poi"), level=float(limit_settings.get("level", 0.95)),
                    test_statistic=limit_settings.get("test_statistic", "qmu_tilde"),
                    calculator=limit_settings.get("calculator", "asymptotic"),
                    scan=None if scan is None else np.linspace(scan["start"], scan["stop"], int(scan.get("points", 11))),
                    n_toys=int(limit_settings.get("toys", 1000)), seed=settings.seed,
                    credible=bool(limit_settings.get("credible")) and options.sample,
                    sampling=dict(draws=settings.draws, tune=settings.tune, chains=settings.chains, seed=settings.seed),
                    n_workers=settings.toys.get("workers"),
                )
            summary["patchset_limits"] = scanned.to_dict()
            figure_results["patchset_limits"] = scanned
            say(f"{round(100 * (scanned.level or 0.95))}% CLs upper limits of {len(scanned.names)} patches, "
                f"{len(scanned.failures)} not found")
        elif limit_settings:
            scan = limit_settings.get("scan")
            limit_options = dict(
                poi=limit_settings.get("poi"), level=float(limit_settings.get("level", 0.95)),
                test_statistic=limit_settings.get("test_statistic", "qmu_tilde"),
                calculator=limit_settings.get("calculator", "asymptotic"),
                n_toys=int(limit_settings.get("toys", 1000)), seed=settings.seed, n_workers=settings.toys.get("workers"),
            )
            try:
                with timing("upper_limit"):
                    limit = analysis.upper_limit(
                        scan=None if scan is None else np.linspace(scan["start"], scan["stop"], int(scan.get("points", 11))),
                        **limit_options,
                    )
            except LimitNotFoundError as error:  # e.g. CLs never falls to 5% within the POI's bounds
                say(f"no CLs upper limit: {error}")
            else:
                summary["upper_limit"] = limit.to_dict()
                say(
                    f"{round(100 * limit.level)}% CLs upper limit on {limit.poi}: {limit.observed:.4g} "
                    f"(expected {limit.expected[2]:.4g})"
                )
                if limit.scan is None:  # the CLs curve of the figure, around the limits found as roots
                    with timing("upper_limit"):
                        curve = analysis.upper_limit(scan=_figure_scan(analysis.model, limit), **limit_options)
                    limit = dataclasses.replace(limit, scan=curve.scan, cls_observed=curve.cls_observed,
                                                cls_expected=curve.cls_expected)
                figure_results["cls_scan"] = limit

        if settings.ranking:
            with timing("ranking"):
                figure_results["ranking"] = analysis.ranking(best_fit=best_fit)
            summary["ranking"] = figure_results["ranking"].to_dict()
            say(f"ranking of {len(figure_results['ranking'].labels)} constrained entries")

        idata = None
        if options.sample:
            sampler = resolve_sampler(settings.sampler)
            say(f"sampling: {settings.chains} chains x ({settings.tune} tune + {settings.draws} draws), {sampler}")
            with timing("sampling"):
                idata = analysis.sample(
                    draws=settings.draws,
                    tune=settings.tune,
                    chains=settings.chains,
                    seed=settings.seed,
                    sampler=sampler,
                    target_accept=settings.target_accept,
                    predictive=True,
                    progressbar=options.progress,
                )
            names = [p.name for p in analysis.model.free_parameters]
            summary["posterior"] = posterior_summary(idata, names)
            summary["sampling"] = {**sampling_summary(idata, timing.seconds["sampling"]), "sampler": sampler}
            if limit_settings.get("credible") and not patchset:
                credible = analysis.upper_limit(method="credible", poi=limit_settings.get("poi"),
                                                level=float(limit_settings.get("level", 0.95)), idata=idata)
                summary["upper_limit_credible"] = credible.to_dict()
                say(f"{round(100 * credible.level)}% credible upper limit on {credible.poi}: {credible.observed:.4g}")
            with timing("sampling"):
                figure_results["prior"] = sample_prior(analysis.model, seed=settings.seed)

        summary["provenance"] = provenance(spec, options.overrides, settings.seed)
        with timing("figures"):
            files = _write_figures(folder, analysis, best_fit, idata, scans, settings.profile, figure_results)
        summary["timing"] = timing.summary()
        summary = strict_json(summary)
        validate_summary(summary)
        if idata is not None:  # the posterior with everything else the run computed, and where it came from
            idata.posterior.attrs["bayesfit_summary"] = json.dumps(summary)
            files.insert(0, folder.write("posterior.nc", lambda temporary: idata.to_netcdf(str(temporary))))
        files.insert(0, folder.write_json("summary.json", summary))
    say(f"results in {folder.path}/")
    return RunResult(summary, folder.path, files)


class PhaseTimer:
    """Wall time per phase of a run (``with timer("fit"): ...``; repeated phases add up)."""

    def __init__(self, say: Callable[[str], None]) -> None:
        self.say = say
        self.seconds: dict[str, float] = {}
        self._start = time.perf_counter()

    @contextmanager
    def __call__(self, phase: str) -> Iterator[None]:
        start = time.perf_counter()
        try:
            yield
        finally:
            elapsed = time.perf_counter() - start
            self.seconds[phase] = self.seconds.get(phase, 0.0) + elapsed
            self.say(f"{phase}: {elapsed:.1f} s")

    def summary(self) -> dict[str, float]:
        """Seconds per phase and the ``total`` since the timer started, rounded to 10 ms."""
        return {**{k: round(v, 2) for k, v in self.seconds.items()}, "total": round(time.perf_counter() - self._start, 2)}


def _model_summary(analysis: Any) -> dict[str, Any]:
    """The ``model`` section: kind, size, POI and which entries are constrained nuisances."""
    model = analysis.model
    constrained = [
        label for variable in model.free_parameters
        for label, is_constrained in zip(variable.labels, np.ravel(variable.constrained)) if is_constrained
    ]
    return {
        "kind": type(analysis).__name__,
        "bins": int(model.predictor.n_out),
        "entries": int(sum(v.size for v in model.free_parameters)),
        "poi": model.poi,
        "likelihood": analysis.spec.likelihood,
        "constrained": constrained,
    }


def _settings(settings: InferenceSettings, options: RunOptions) -> InferenceSettings:
    chosen = {
        field.name: getattr(options, field.name)
        for field in dataclasses.fields(RunOptions)
        if field.name in {"draws", "tune", "chains", "seed", "sampler"} and getattr(options, field.name) is not None
    }
    return dataclasses.replace(settings, **chosen)


def _profile_file(parameter: str) -> str:
    """``profile_astro_gamma.png``; an entry label ``weights[2]`` becomes ``profile_weights_2.png``."""
    return "profile_" + parameter.replace("[", "_").replace("]", "") + ".png"


def _scan_label(parameter: str, fixed: Mapping[str, float]) -> str:
    """``"model_A (model_B = 0)"``: a scanned parameter and the values held during its scan."""
    held = ", ".join(f"{name} = {value:g}" for name, value in fixed.items())
    return f"{parameter} ({held})" if held else parameter


def _write_figures(
    folder: ResultFolder,
    analysis: Any,
    best_fit: Any,
    idata: Any,
    scans: dict[str, Any],
    grids: Mapping[str, Mapping[str, Any]],
    results: Mapping[str, Any],
) -> list[Path]:
    """Write the analysis's own figures, then the generic ones: profiles and their p-values, the
    correlation matrix, the CLs scan with the Brazil band, the ranking, the pulls and constraints of
    the constrained entries (fit, and posterior when sampled), and with a posterior the corner plot,
    traces and posterior against prior. The figures are drawn in worker processes
    (:func:`_rendered`); the files are written here, in this order."""
    import matplotlib

    matplotlib.use("Agg")

    from bayesfit.inference.ranking import constrained_entries, pulls
    from bayesfit.plots import (
        plot_cls_scan,
        plot_corner,
        plot_correlation,
        plot_exclusion,
        plot_posterior_vs_prior,
        plot_profile,
        plot_pulls,
        plot_pvalue_scan,
        plot_ranking,
        plot_traces,
    )

    model = analysis.model
    files = []
    jobs: list[_FigureJob] = [lambda: analysis.figures(best_fit, idata)]
    if len(best_fit.labels) >= 2 and np.all(np.isfinite(best_fit.covariance)):
        jobs.append(lambda: {"correlation.png": plot_correlation(best_fit)})
    if "cls_scan" in results:
        jobs.append(lambda: {"cls_scan.png": plot_cls_scan(results["cls_scan"])})
    if "patchset_limits" in results:
        scanned = results["patchset_limits"]
        files.append(folder.write("patchset_limits.csv", scanned.to_csv))
        if len(scanned.labels) >= 2 and len(scanned.names) >= 3:
            jobs.append(lambda: {"exclusion.png": plot_exclusion(scanned)})
    if "ranking" in results and results["ranking"].labels:
        jobs.append(lambda: {"ranking.png": plot_ranking(results["ranking"])})
    if constrained_entries(model):
        estimates = {"ML fit": pulls(model, best_fit.values, best_fit.errors)}
        if idata is not None:
            estimates["posterior"] = pulls(model, *_posterior_moments(model, idata))
        jobs.append(lambda: {"pulls.png": plot_pulls(estimates)})
    for parameter, scan in scans.items():
        best = scan.best_fit.value(scan.parameter)
        jobs.append(lambda scan=scan, parameter=parameter, best=best: {_profile_file(parameter): plot_profile(
            scan.values, scan.twice_delta_nll, parameter=parameter, best_fit=best).figure})
    if scans:
        labels = {parameter: _scan_label(parameter, grids[parameter].get("fixed", {})) for parameter in scans}
        jobs.append(lambda: {"pvalue_scans.png": plot_pvalue_scan(
            {labels[parameter]: scan.values for parameter, scan in scans.items()},
            {labels[parameter]: scan.p_values() for parameter, scan in scans.items()},
            xlabel="scanned value (Wilks)",
        ).figure})
    if idata is not None:
        names = corner_names(model, idata)
        jobs.append(lambda: {"corner.png": plot_corner(idata, names, best_fit=best_fit.values)})
        jobs.append(lambda: {"traces.png": np.ravel(plot_traces(idata, names))[0].figure})
        jobs.append(lambda: {"posterior_prior.png": plot_posterior_vs_prior(idata, results.get("prior"), names)})
    for rendered in _rendered(jobs):
        files.extend(folder.write(name, lambda temporary, png=png: temporary.write_bytes(png))
                     for name, png in rendered.items())
    return files


#: Draws figures: ``{file name: matplotlib Figure}``.
_FigureJob = Callable[[], Mapping[str, Any]]
#: Resolution of the figures' PNG files, dots per inch.
_FIGURE_DPI = 110
#: The jobs of :func:`_rendered` while it runs; forked workers inherit them (nothing is pickled).
_JOBS: list[_FigureJob] = []


def _rendered(jobs: list[_FigureJob]) -> list[dict[str, bytes]]:
    """The PNG files of every job's figures, ``[{file name: bytes}, ...]`` in the order of ``jobs``.

    With more than one CPU and ``fork`` (Linux), the jobs run in a pool of forked worker processes,
    one per CPU, which inherit the jobs and return only the PNG bytes: they never write files, and
    they ignore SIGINT, so an interrupt reaches this process alone, which stops them before the
    result folder is discarded. Otherwise (one CPU, no ``fork``, or in a daemonic process, which
    may not have children) the jobs run here, one by one.
    """
    from bayesfit.forking import forked_imap

    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    _JOBS[:] = jobs
    # the garbage collections while drawing skip (and in forked workers do not copy) the objects
    # the run made before: over a million after a HESE run, whose walks were a fifth of the drawing
    gc.freeze()
    try:
        return list(forked_imap(_render_job, range(len(jobs)), cpus))
    finally:
        gc.unfreeze()
        _JOBS.clear()


def _render_job(index: int) -> dict[str, bytes]:
    """Draw the figures of ``_JOBS[index]`` and return them as PNG bytes (the figures are closed)."""
    import matplotlib.pyplot as plt

    from bayesfit.plots import compact_minor_ticks

    rendered = {}
    for name, figure in _JOBS[index]().items():
        try:
            buffer = io.BytesIO()
            compact_minor_ticks(figure).savefig(buffer, dpi=_FIGURE_DPI, format="png")
            rendered[name] = buffer.getvalue()
        finally:
            plt.close(figure)
    return rendered


def _posterior_moments(model: Any, idata: Any) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
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


#: Points of the CLs curve drawn when the limit itself came from root finding.
FIGURE_SCAN_POINTS = 15


def _figure_scan(model: Any, limit: Any) -> np.ndarray:
    """POI values above its lower bound (or 0) up to 1.3 times the largest finite limit of ``limit``."""
    variable, entry = model.entry(limit.poi)
    lower = float(np.ravel(variable.lower)[entry]) if np.isfinite(np.ravel(variable.lower)[entry]) else 0.0
    limits = np.asarray([limit.observed, *np.asarray(limit.expected)], dtype=float)
    top = 1.3 * float(np.nanmax(np.where(np.isfinite(limits), limits, np.nan)))
    upper = float(np.ravel(variable.upper)[entry])
    return np.linspace(lower, min(top, upper), FIGURE_SCAN_POINTS + 1)[1:]  # the bound is the alternative


#: Largest number of parameter entries in the corner plot and the traces.
CORNER_ENTRIES = 5


def corner_names(model: Any, idata: Any) -> list[str]:
    """The variables of the corner plot and the traces: every free variable that no auxiliary
    measurement constrains when they have 2 to :data:`CORNER_ENTRIES` entries; otherwise the POI
    (or the first such variable) and the scalar variables most correlated with it."""
    sampled = [v for v in model.free_parameters if v.name in idata.posterior]
    unconstrained = [v for v in sampled if not np.all(v.constrained)]
    if 2 <= sum(v.size for v in unconstrained) <= CORNER_ENTRIES or len(sampled) == 1:
        return [v.name for v in unconstrained or sampled]
    lead = model.entry(model.poi)[0] if model.poi is not None else (unconstrained or sampled)[0]
    lead_draws = idata.posterior[lead.name].values.reshape(-1, lead.size)[:, 0]
    candidates = [v.name for v in sampled if v.name != lead.name and v.shape == ()]
    correlation = {name: abs(np.corrcoef(lead_draws, idata.posterior[name].values.ravel())[0, 1]) for name in candidates}
    ranked = sorted(candidates, key=lambda name: -np.nan_to_num(correlation[name]))
    return [lead.name, *ranked[: CORNER_ENTRIES - 1]]
