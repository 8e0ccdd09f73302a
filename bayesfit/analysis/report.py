"""Result summaries: the ``summary.json`` content and the table printed on stdout.

``summary.json`` has this shape (more keys are allowed)::

    {"analysis": name,
     "fit": FitResult.to_dict(): {"parameters": {p: {"value": x, "error": e}}, "neg_log_likelihood": v,
                                  "converged": bool, "edm": ..., "minima_agree": bool, ...},
     "profiles", "tests", "hypotests" (HypotestResult.to_dict() by name), "upper_limit"
     (UpperLimitResult.to_dict()), "bayes_factors",
     "posterior": {p: {"mean", "sd", "hdi_3%", "hdi_97%", "r_hat", "ess_bulk"}},
     "sampling": {"chains", "draws", "divergences", "seconds"}, "upper_limit_credible"}

``fit`` is the maximum-likelihood fit (no priors, only bounds; ``-ln L`` includes ``ln k!``);
``posterior`` and ``sampling`` are absent when no posterior was sampled. Vector parameters appear
entry by entry with labels such as ``weights[2]``. Numbers that are not finite are ``null``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any


__all__ = ["format_table", "posterior_summary", "sampling_summary"]

POSTERIOR_COLUMNS = ("mean", "sd", "hdi_3%", "hdi_97%", "r_hat", "ess_bulk")


def posterior_summary(idata: Any, var_names: Sequence[str]) -> dict[str, dict[str, float]]:
    """The ``posterior`` section: ArviZ summary statistics per parameter entry."""
    import arviz as az

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


def _number(value: float | None) -> float:
    """A summary number for printing (``None``, JSON's NaN, prints as ``nan``)."""
    return float("nan") if value is None else float(value)


def format_table(summary: Mapping[str, Any]) -> str:
    """A short human-readable table of the fit and, if present, the posterior."""
    fit = summary["fit"]
    posterior = summary.get("posterior", {})
    names = list(fit["parameters"])
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
    for name, test in summary.get("hypotests", {}).items():
        lines.append(
            f"hypotest {name} ({test['test_statistic']}, {test['poi']} = {_number(test['poi_value']):g}): "
            f"p = {_number(test['p_value']):.4g}, {_number(test['significance']):.2f} sigma"
        )
    if "sampling" in summary:
        s = summary["sampling"]
        lines.append(
            f"NUTS: {s['chains']} chains x {s['draws']} draws, {s['divergences']} divergences, {s['seconds']:.1f} s"
        )
    return "\n".join(lines)
