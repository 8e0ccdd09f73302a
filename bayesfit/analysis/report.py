"""Result summaries: the ``summary.json`` content, its JSON Schema, and the table printed on stdout.

``summary.json`` follows the JSON Schema shipped with the package
(``bayesfit/schemas/summary.schema.json``, :func:`summary_schema`), the same for every kind of
model (reweighted simulation, templates, pyhf workspaces)::

    {"analysis": name,
     "model": {"kind", "bins", "entries", "poi", "likelihood", "constrained": [labels]},
     "data": {"events", "likelihood", ...what the data are for this kind of model},
     "fit": FitResult.to_dict(): {"parameters": {label: {"value", "error"}}, "neg_log_likelihood",
                                  "converged", "edm", "minima_agree", "starts", ...},
     "profiles", "tests", "hypotests" (HypotestResult.to_dict() by name), "upper_limit"
     (UpperLimitResult.to_dict()), "bayes_factors",
     "posterior": {label: {"mean", "sd", "hdi_3%", "hdi_97%", "r_hat", "ess_bulk"}},
     "sampling": {"chains", "draws", "divergences", "seconds", "sampler"}, "upper_limit_credible",
     "patchset_limits" (LimitScanResult.to_dict(): "labels", "poi", "level", "points": [{"name",
     "values", "observed", "expected", "credible", "failure"}]),
     "provenance": {"versions", "analysis_file", "overrides", "resolved_analysis", "seed", "inputs"},
     "timing": {phase: seconds, "total": seconds}}

``fit`` is the maximum-likelihood fit (no priors, only bounds; ``-ln L`` includes ``ln k!``);
``posterior`` and ``sampling`` are absent when no posterior was sampled. Vector parameters appear
entry by entry with labels such as ``weights[2]``. Numbers that are not finite are ``null``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema

from bayesfit.errors import BayesfitError

__all__ = ["format_table", "posterior_summary", "read_summary", "sampling_summary", "summary_schema", "validate_summary"]

POSTERIOR_COLUMNS = ("mean", "sd", "hdi_3%", "hdi_97%", "r_hat", "ess_bulk")


def posterior_summary(idata: Any, var_names: Sequence[str]) -> dict[str, dict[str, float]]:
    """The ``posterior`` section: ArviZ summary statistics per parameter entry."""
    import arviz as az

    from bayesfit.inference.posterior import arviz_in_numpy

    with arviz_in_numpy():
        table = az.summary(idata, var_names=list(var_names), hdi_prob=0.94, round_to="none")
    return {
        str(label): {column: float(table.loc[label, column]) for column in POSTERIOR_COLUMNS}
        for label in table.index
    }


def sampling_summary(idata: Any, seconds: float) -> dict[str, Any]:
    """The ``sampling`` section: chains, draws per chain, divergences, wall time."""
    posterior = idata.posterior
    stats = idata.sample_stats
    divergences = int(stats["diverging"].sum()) if "diverging" in stats else 0
    return {
        "chains": int(posterior.sizes["chain"]),
        "draws": int(posterior.sizes["draw"]),
        "divergences": divergences,
        "seconds": round(float(seconds), 2),
    }


@cache
def summary_schema() -> dict[str, Any]:
    """The JSON Schema of ``summary.json``."""
    return json.loads(resources.files("bayesfit").joinpath("schemas", "summary.schema.json").read_text())


def validate_summary(summary: Mapping[str, Any]) -> None:
    """Check a summary (as written, strict JSON) against :func:`summary_schema`.

    Raises
    ------
    BayesfitError
        Naming the first key that does not follow the schema.
    """
    from bayesfit.output import strict_json

    validator = jsonschema.Draft202012Validator(summary_schema())
    error = next(iter(sorted(validator.iter_errors(strict_json(summary)), key=lambda e: list(e.absolute_path))), None)
    if error is not None:
        where = ".".join(map(str, error.absolute_path)) or "the summary"
        raise BayesfitError(f"summary.json does not follow its schema at {where}: {error.message}")


def read_summary(folder: str | Path) -> dict[str, Any]:
    """The ``summary.json`` of a results folder, checked against the schema."""
    path = Path(folder) / "summary.json" if Path(folder).is_dir() else Path(folder)
    try:
        summary = json.loads(path.read_text())
    except OSError as error:
        raise BayesfitError(f"{path}: cannot read the run's summary: {error.strerror}") from None
    except json.JSONDecodeError as error:
        raise BayesfitError(f"{path}: not valid JSON (line {error.lineno}): {error.msg}") from None
    validate_summary(summary)
    return summary


def _number(value: float | None) -> float:
    """A summary number for printing (``None``, JSON's NaN, prints as ``nan``)."""
    return float("nan") if value is None else float(value)


def format_table(summary: Mapping[str, Any]) -> str:
    """A short human-readable table of the fit and, if present, the posterior."""
    fit = summary["fit"]
    posterior = summary.get("posterior", {})
    constrained = set(summary.get("model", {}).get("constrained", []))
    names = [name for name in fit["parameters"] if name not in constrained]
    width = max(len("parameter"), *(len(n) for n in names))
    header = f"{'parameter':<{width}}  {'ML value':>12} {'ML error':>10}"
    if posterior:
        header += f"  {'post. mean':>11} {'post. sd':>9} {'94% HDI':>21} {'r_hat':>6} {'ESS':>6}"
    lines = [f"analysis {summary['analysis']}", header, "-" * len(header)]
    for name in names:
        entry = fit["parameters"][name]
        line = f"{name:<{width}}  {_number(entry['value']):>12.5g} {_number(entry['error']):>10.3g}"
        if name in posterior:
            p = posterior[name]
            interval = f"[{p['hdi_3%']:.4g}, {p['hdi_97%']:.4g}]"
            line += f"  {p['mean']:>11.5g} {p['sd']:>9.3g} {interval:>21} {p['r_hat']:>6.3f} {p['ess_bulk']:>6.0f}"
        lines.append(line)
    hidden = len(fit["parameters"]) - len(names)
    if hidden:
        lines.append(f"{hidden} constrained nuisance parameter entries not shown (see summary.json)")
    status = "converged" if fit["converged"] else "NOT converged"
    lines.append(f"-ln L at the maximum = {_number(fit['neg_log_likelihood']):.5f} ({status})")
    if "upper_limit" in summary:
        limit = summary["upper_limit"]
        expected = limit["expected"] or {}
        lines.append(
            f"{round(100 * limit['level'])}% CLs upper limit on {limit['poi']}: {_number(limit['observed']):.4g} "
            f"(expected {_number(expected.get('median')):.4g}, 68% band [{_number(expected.get('-1sigma')):.4g}, "
            f"{_number(expected.get('+1sigma')):.4g}])"
        )
    if "patchset_limits" in summary:
        scanned = summary["patchset_limits"]
        observed = [point["observed"] for point in scanned["points"] if point["observed"] is not None]
        excluded = sum(limit < 1.0 for limit in observed)
        lines.append(
            f"{round(100 * (scanned['level'] or 0.95))}% CLs upper limits on {scanned['poi']} of "
            f"{len(scanned['points'])} patches over {', '.join(scanned['labels'])}: {excluded} excluded (limit < 1), "
            f"{len(scanned['points']) - len(observed)} without a limit (see patchset_limits.csv)"
        )
    for name, test in summary.get("hypotests", {}).items():
        lines.append(
            f"hypotest {name} ({test['test_statistic']}, {test['poi']} = {_number(test['poi_value']):g}): "
            f"p = {_number(test['p_value']):.4g}, {_number(test['significance']):.2f} sigma"
        )
    if "upper_limit_credible" in summary:
        limit = summary["upper_limit_credible"]
        lines.append(f"{round(100 * limit['level'])}% credible upper limit on {limit['poi']}: {_number(limit['observed']):.4g}")
    if "sampling" in summary:
        s = summary["sampling"]
        lines.append(
            f"NUTS: {s['chains']} chains x {s['draws']} draws, {s['divergences']} divergences, {s['seconds']:.1f} s"
        )
        if hidden:
            rhat = [entry["r_hat"] for entry in posterior.values() if entry["r_hat"] is not None]
            ess = [entry["ess_bulk"] for entry in posterior.values() if entry["ess_bulk"] is not None]
            if rhat and ess:
                lines.append(f"all entries: largest r-hat {max(rhat):.4f}, smallest bulk ESS {min(ess):.0f}")
    if "timing" in summary:
        phases = ", ".join(f"{phase} {seconds:.1f} s" for phase, seconds in summary["timing"].items() if phase != "total")
        lines.append(f"time: {phases}; total {summary['timing']['total']:.1f} s")
    return "\n".join(lines)
