"""Files with several channels (models/combined.yaml and small files written here): the combined
-ln L against pyhf plus numpy and against the single-channel files, the combined fit against scipy,
the universes' combination rule, and the error messages."""

from __future__ import annotations

import json
import textwrap
from functools import cache
from pathlib import Path

import numpy as np
import pytest
from scipy import optimize, special, stats

from reference_data import example_module
from bayesfit.analysis import Analysis
from bayesfit.analysis.report import validate_summary
from bayesfit.analysis.run import RunOptions, run_analysis_file
from bayesfit.errors import AnalysisFileError

MODELS = Path(__file__).resolve().parents[1] / "models"
COMBINED = MODELS / "combined.yaml"
INPUTS = MODELS / "inputs" / "combined"
SHORT = ("inference.draws=100", "inference.tune=100", "inference.chains=2")

model_inputs = example_module("model_inputs")


def test_committed_inputs_are_what_the_example_script_writes(tmp_path: Path) -> None:
    for path in model_inputs.write_combined_inputs(tmp_path):
        assert path.read_text() == (INPUTS / path.name).read_text(), path.name


@cache
def combined() -> Analysis:
    return Analysis.from_file(COMBINED)


class Independent:
    """-ln L of models/combined.yaml from pyhf (the workspace channel, its constraints included)
    plus numpy and scipy (the reweighted-MC channel: weighted histograms, Poisson terms)."""

    def __init__(self) -> None:
        pyhf = pytest.importorskip("pyhf")
        workspace = pyhf.Workspace(json.loads((INPUTS / "counting.json").read_text()))
        self.pyhf_model = workspace.model()
        self.pyhf_data = np.asarray(workspace.data(self.pyhf_model))
        simulation = np.genfromtxt(INPUTS / "simulation.csv", delimiter=",", names=True)
        data = np.genfromtxt(INPUTS / "data.csv", delimiter=",", names=True)
        edges = 10.0 ** np.linspace(3.0, 6.0, 13)
        self.signal = np.histogram(simulation["energy"], edges, weights=simulation["signal_weight"])[0]
        self.background = np.histogram(simulation["energy"], edges, weights=simulation["background_weight"])[0]
        self.counts = np.histogram(np.atleast_1d(data["energy"]), edges)[0]
        self.order = self.pyhf_model.config.par_order  # mu, bkg_norm, staterror_SR (4 entries), in pyhf's order

    def pyhf_parameters(self, values: dict) -> np.ndarray:
        pars = np.zeros(self.pyhf_model.config.npars)
        for name in self.order:
            pars[self.pyhf_model.config.par_slice(name)] = np.ravel(values[name])
        return pars

    def spectrum_nll(self, mu: float, background_norm: float) -> float:
        return -float(np.sum(stats.poisson.logpmf(self.counts, mu * self.signal + background_norm * self.background)))

    def counting_nll(self, values: dict) -> float:
        return -float(self.pyhf_model.logpdf(self.pyhf_parameters(values), self.pyhf_data)[0])

    def nll(self, values: dict) -> float:
        return self.counting_nll(values) + self.spectrum_nll(float(values["mu"]), float(values["background_norm"]))


def _points(rng: np.random.Generator, n: int) -> list[dict]:
    return [
        {"mu": rng.uniform(0.2, 3.0), "bkg_norm": rng.normal(0, 1), "staterror_SR": rng.uniform(0.9, 1.1, 4),
         "background_norm": rng.uniform(0.7, 1.4)}
        for _ in range(n)
    ]


def test_combined_nll_is_the_sum_of_the_channels_from_pyhf_and_numpy(tmp_path: Path) -> None:
    independent = Independent()
    analysis = combined()
    # the single-channel files of the two channels, as a user would write them
    alone = tmp_path / "spectrum.yaml"
    alone.write_text(textwrap.dedent(f"""\
        name: spectrum
        binning: {{energy: {{log10: {{start: 1.0e3, stop: 1.0e6, bins: 12}}}}}}
        data:       {{path: {INPUTS / 'data.csv'}}}
        simulation: {{path: {INPUTS / 'simulation.csv'}}}
        components:
          signal:     {{weight: signal_weight, scale: mu}}
          background: {{weight: background_weight, scale: background_norm}}
        parameters:
          mu:              {{prior: flat, start: 1.0}}
          background_norm: {{prior: flat, start: 1.0, bounds: [0.1, 10]}}
        """))
    spectrum = Analysis.from_file(alone).objective
    counting = Analysis.from_file(INPUTS / "counting.json").objective
    objective = analysis.objective
    for point in _points(np.random.default_rng(7), 4):
        total = objective(objective.pack(point))
        assert total == pytest.approx(independent.nll(point), rel=1e-10)
        assert total == pytest.approx(counting(counting.pack(point)) + spectrum(spectrum.pack(point)), rel=1e-10)
        assert spectrum(spectrum.pack(point)) == pytest.approx(independent.spectrum_nll(point["mu"], point["background_norm"]), rel=1e-10)


def test_combined_fit_equals_scipy_on_the_sum() -> None:
    independent = Independent()
    result = combined().fit()
    names = ["mu", "bkg_norm", *[f"staterror_SR[{i}]" for i in range(4)], "background_norm"]

    def nll(x: np.ndarray) -> float:
        return independent.nll({"mu": x[0], "bkg_norm": x[1], "staterror_SR": x[2:6], "background_norm": x[6]})

    start = np.array([1.0, 0.0, 1.0, 1.0, 1.0, 1.0, 1.0])
    bounds = [(0.0, 10.0), (-5.0, 5.0), *[(1e-10, 10.0)] * 4, (0.1, 10.0)]
    reference = optimize.minimize(nll, start, bounds=bounds, method="L-BFGS-B", options={"ftol": 1e-15, "gtol": 1e-10})
    assert result.converged
    assert result.nll == pytest.approx(reference.fun, abs=1e-6)
    fitted = np.concatenate([np.ravel(result.values[name]) for name in ["mu", "bkg_norm", "staterror_SR", "background_norm"]])
    np.testing.assert_allclose(fitted, reference.x, atol=2e-3)
    assert sorted(result.labels) == sorted(names)


def test_the_combined_model_file_runs_and_its_summary_validates(tmp_path: Path) -> None:
    result = run_analysis_file(COMBINED, RunOptions(out=tmp_path, overrides=SHORT, progress=False))
    summary = json.loads((tmp_path / "summary.json").read_text())
    validate_summary(summary)
    assert summary["model"]["kind"] == "ChannelsAnalysis" and summary["fit"]["converged"]
    assert summary["model"]["poi"] == "mu" and summary["model"]["bins"] == 16
    channels = summary["data"]["channels"]
    assert channels["counting"]["bins"] == [0, 4] and channels["spectrum"]["bins"] == [4, 16]
    assert summary["data"]["events"] == channels["counting"]["events"] + channels["spectrum"]["events"]
    files = {path.name for path in result.files}
    assert {"counting_channel_SR.png", "pulls.png", "spectrum_counts_energy.png", "posterior.nc"} <= files
    assert summary["upper_limit"]["observed"] > summary["fit"]["parameters"]["mu"]["value"]
    inputs = set(summary["provenance"]["inputs"])
    assert {str(INPUTS / name) for name in ("counting.json", "data.csv", "simulation.csv")} <= inputs


# ---------------------------------------------------------------------- universes
def _template_channel(observed: list[float], matrices: list, weights: list | None = None) -> str:
    weights_entry = "" if weights is None else f", weights: {weights}"
    return (
        f"    binning: {{x: {{linear: {{start: 0, stop: 2, bins: 2}}}}}}\n"
        f"    observed: {observed}\n"
        f"    response: {{matrices: {matrices}{weights_entry}}}\n"
        f"    components: {{signal: {{template: [10.0], scale: mu}}}}\n"
    )


A = _template_channel([6, 3], [[[0.8], [0.2]], [[0.6], [0.3]]])                      # K = 2
B = _template_channel([4, 5], [[[0.5], [0.4]], [[0.3], [0.5]], [[0.4], [0.4]]])      # K = 3
C = _template_channel([4, 5], [[[0.5], [0.4]], [[0.3], [0.5]]], weights=[1.0, 3.0])  # K = 2, other weights


def _channels_file(tmp_path: Path, channels: dict[str, str], extra: str = "") -> Path:
    body = "".join(f"  {name}:\n" + textwrap.indent(text, "  ") for name, text in channels.items())
    path = tmp_path / "channels.yaml"
    path.write_text(f"name: universes\nchannels:\n{body}parameters:\n  mu: {{prior: flat, start: 1.0}}\n{extra}")
    return path


def _marginal_nll(observed: list[float], matrices: list, mu: float, weights: list | None = None) -> float:
    """-ln of the weighted mean over universes of the Poisson likelihood (numpy, scipy)."""
    expected = mu * 10.0 * np.asarray(matrices)[:, :, 0]
    per_universe = stats.poisson.logpmf(np.asarray(observed), expected).sum(axis=1)
    w = np.ones(len(matrices)) if weights is None else np.asarray(weights, dtype=float)
    return -float(special.logsumexp(per_universe, b=w / w.sum()))


def test_several_varying_channels_need_a_stated_combination(tmp_path: Path) -> None:
    with pytest.raises(AnalysisFileError, match=r"channels\.yaml line 2: channels: several channels have universes.*systematics"):
        Analysis.from_file(_channels_file(tmp_path, {"a": A, "b": B}))
    with pytest.raises(AnalysisFileError, match=r"systematics\.combine: combine: same pairs universe k.*differ"):
        Analysis.from_file(_channels_file(tmp_path, {"a": A, "b": B}, "systematics: {combine: same}\n"))
    with pytest.raises(AnalysisFileError, match=r"combine: same pairs universe k.*differ"):  # equal K, other weights
        Analysis.from_file(_channels_file(tmp_path, {"a": A, "c": C}, "systematics: {combine: same}\n"))


def test_cartesian_universes_give_the_product_of_the_channel_marginals(tmp_path: Path) -> None:
    analysis = Analysis.from_file(_channels_file(tmp_path, {"a": A, "b": B}, "systematics: {combine: cartesian}\n"))
    assert analysis.predictor.n_variations == 6 and analysis.data_summary()["combine"] == "cartesian"
    objective = analysis.objective
    a = [[[0.8], [0.2]], [[0.6], [0.3]]]
    b = [[[0.5], [0.4]], [[0.3], [0.5]], [[0.4], [0.4]]]
    for mu in (0.5, 1.0, 1.7):
        expected = _marginal_nll([6, 3], a, mu) + _marginal_nll([4, 5], b, mu)
        assert objective(objective.pack({"mu": mu})) == pytest.approx(expected, rel=1e-10)


def test_same_universes_are_one_joint_variation_and_one_varying_channel_needs_no_rule(tmp_path: Path) -> None:
    a = [[[0.8], [0.2]], [[0.6], [0.3]]]
    d = [[[0.5], [0.4]], [[0.3], [0.5]]]
    same = Analysis.from_file(_channels_file(tmp_path, {"a": A, "d": _template_channel([4, 5], d)}, "systematics: {combine: same}\n"))
    joint = np.concatenate([np.asarray(a), np.asarray(d)], axis=1)  # universe k of both channels together
    objective = same.objective
    assert objective(objective.pack({"mu": 1.3})) == pytest.approx(_marginal_nll([6, 3, 4, 5], joint.tolist(), 1.3), rel=1e-10)
    fixed = _template_channel([4, 5], [[[0.5], [0.4]]])  # K = 1: serves every universe
    one = Analysis.from_file(_channels_file(tmp_path, {"a": A, "f": fixed})).objective
    expected = _marginal_nll([6, 3], a, 1.3) + _marginal_nll([4, 5], [[[0.5], [0.4]]], 1.3)
    assert one(one.pack({"mu": 1.3})) == pytest.approx(expected, rel=1e-10)


# ---------------------------------------------------------------------- errors
@pytest.mark.parametrize(
    "extra, channels, message",
    [
        ("  unused: {prior: flat, start: 1.0}\n", None,
         r"line \d+: parameters\.unused: parameter 'unused' is not used by any channel"),
        ("binning: {x: {linear: {start: 0, stop: 1, bins: 1}}}\n", None,
         r"line \d+: binning: a file with channels: gives 'binning' inside each channel"),
        ("", {"a": A.replace("observed: [6, 3]", "observed: [6, 3, 1]")},
         r"line \d+: channels\.a\.observed: observed counts have shape \(3,\), the binning has 2 bins"),
        ("", {"a": A.replace("    observed: [6, 3]\n", "    observed: [6, 3]\n    data: {path: x.csv}\n")},
         r"line \d+: channels\.a\.data: a template analysis has observed counts"),
    ],
)
def test_channel_errors_name_file_line_and_key(tmp_path: Path, extra: str, channels: dict | None, message: str) -> None:
    path = _channels_file(tmp_path, channels or {"a": _template_channel([6, 3], [[[0.8], [0.2]]])})
    text = path.read_text()
    if extra.startswith("  "):
        text = text.replace("  mu: {prior: flat, start: 1.0}\n", "  mu: {prior: flat, start: 1.0}\n" + extra)
    else:
        text += extra
    path.write_text(text)
    with pytest.raises(AnalysisFileError, match=message):
        Analysis.from_file(path)


def test_a_missing_events_file_of_a_channel_names_the_channel(tmp_path: Path) -> None:
    text = COMBINED.read_text().replace("inputs/combined/data.csv", "missing.csv")
    (tmp_path / "combined.yaml").write_text(text.replace("inputs/", f"{INPUTS.parent}/"))
    with pytest.raises(AnalysisFileError, match=r"line \d+: channels\.spectrum\.data\.path: .*missing\.csv"):
        Analysis.from_file(tmp_path / "combined.yaml")


def test_set_reaches_a_channel_and_its_paths_are_relative_to_the_working_directory(tmp_path: Path, monkeypatch) -> None:
    from bayesfit.analysis import read_analysis

    monkeypatch.chdir(tmp_path)
    spec = read_analysis(COMBINED, ["channels.spectrum.data.path=mine.csv", "channels.counting.workspace.path=ws.json"])
    assert spec.channels["spectrum"].data.path == tmp_path / "mine.csv"
    assert spec.channels["spectrum"].simulation.path == INPUTS / "simulation.csv"
    assert spec.channels["counting"].workspace["path"] == tmp_path / "ws.json"
    assert spec.channels["spectrum"].where("data", "path").endswith("channels.spectrum.data.path")
    assert spec.channels["spectrum"].where("parameters", "mu").endswith(": parameters.mu")
