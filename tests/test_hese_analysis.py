"""The HESE diffuse fit end to end through the analysis file, against a plain-numpy notebook fit."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from reference_data import HESE_NOTEBOOK, REFERENCE
from scipy import optimize, special

from bayesfit.analysis import Analysis
from bayesfit.errors import AnalysisFileError

MODELS = Path(__file__).resolve().parents[1] / "models"
SMALL = REFERENCE / "hese" / "synthetic-small"
ON_SMALL = [f"data.path={SMALL / 'hese_toy_data.json'}", f"simulation.path={SMALL / 'hese_toy_simulation.json'}",
            *HESE_NOTEBOOK]


def notebook_fit(data_file: Path, simulation_file: Path) -> optimize.OptimizeResult:
    """The seed notebook in numpy: masks per bin, weight_event, Poisson llh, L-BFGS-B from (1, 8, 2.5)."""

    def load(path: Path) -> tuple[dict[str, int], np.ndarray]:
        content = json.loads(path.read_text())
        return content["mapping"], np.array(content["events"])

    sim_map, simulation = load(simulation_file)
    data_map, data = load(data_file)
    energy_bins = np.logspace(np.log10(60.0e3), np.log10(1.0e7), 20 + 1)
    zenith_bins = np.arccos(np.linspace(-1, 1, 10 + 1))[::-1]
    topology_bins = np.linspace(0, 2, 2 + 1)

    def masks(energies, zeniths, topologies):
        e = np.digitize(energies, energy_bins) - 1
        z = np.digitize(zeniths, zenith_bins) - 1
        t = np.digitize(topologies, topology_bins) - 1
        return np.array([(t == i) & (z == j) & (e == k) for i in range(2) for j in range(10) for k in range(20)])

    column = lambda table, mapping, name: table[:, mapping[name]]  # noqa: E731
    bin_masks = masks(*(column(simulation, sim_map, n) for n in ("energy", "zenith", "topology")))
    counts = masks(*(column(data, data_map, n) for n in ("energy", "zenith", "topology"))).sum(axis=1)
    astro, atmo, primary = (column(simulation, sim_map, n) for n in ("astroWeight", "atmoWeight", "primaryEnergy"))

    def llh(parameters):
        atmo_norm, astro_norm, astro_gamma = parameters
        weights = atmo * atmo_norm + astro * astro_norm * (primary / 1e5) ** -(astro_gamma - 2.5)
        expected = bin_masks @ weights
        terms = -(counts * np.log(np.where(expected > 0, expected, 1.0)) - expected - special.gammaln(counts + 1))
        return float(np.sum(np.where((counts == 0) & (expected == 0), 0.0, terms)))

    return optimize.minimize(
        llh, [1.0, 8.0, 2.5], method="L-BFGS-B", bounds=[[0, None], [0, None], [None, None]],
        options={"ftol": 1e-15, "gtol": 1e-10, "eps": 1e-9, "maxiter": 10_000},
    )


@pytest.fixture(scope="module")
def small_analysis() -> Analysis:
    return Analysis.from_file(MODELS / "hese_diffuse.yaml", ON_SMALL)


def test_ml_fit_through_the_analysis_file_equals_the_notebook(small_analysis):
    reference = notebook_fit(SMALL / "hese_toy_data.json", SMALL / "hese_toy_simulation.json")
    result = small_analysis.fit()
    assert result.converged
    ours = np.array([result.values[name] for name in ("atmo_norm", "astro_norm", "astro_gamma")])
    np.testing.assert_allclose(ours, reference.x, rtol=1e-4)
    assert result.nll == pytest.approx(reference.fun, abs=1e-6)
    assert result.nll <= reference.fun + 1e-9  # exact gradients reach the minimum at least as well


@pytest.mark.slow
def test_posterior_mean_within_one_sd_of_the_ml_value(small_analysis):
    result = small_analysis.fit()
    idata = small_analysis.sample(draws=500, tune=500, chains=2, cores=1, seed=3, progressbar=False)
    for name in ("atmo_norm", "astro_norm", "astro_gamma"):
        draws = idata.posterior[name].values.ravel()
        assert abs(draws.mean() - float(result.values[name])) < draws.std()


def test_analysis_errors_name_the_key_and_line(tmp_path):
    text = (MODELS / "hese_diffuse.yaml").read_text()
    broken = text.replace("astro_gamma: {prior", "astro_gama: {prior")
    path = tmp_path / "broken.yaml"
    path.write_text(broken)
    line = next(i for i, row in enumerate(broken.splitlines(), 1) if row.strip().startswith("astro_gama:"))
    with pytest.raises(AnalysisFileError, match=rf"line {line}: parameters\.astro_gama: parameter 'astro_gama' is not used"):
        Analysis.from_file(path, ON_SMALL)
    path.write_text(text.replace("{path: inputs/hese/data.npz}", "{path: missing.json}", 1))
    with pytest.raises(AnalysisFileError, match=r"line \d+: data\.path: .*missing\.json"):
        Analysis.from_file(path)


def test_effective_likelihood_widens_intervals_on_sparse_simulation(small_analysis):
    """Finite simulation statistics (16k rows) must make the astro_gamma interval wider, not narrower."""
    effective = Analysis.from_file(MODELS / "hese_diffuse_effective.yaml", ON_SMALL[:2])
    values = np.linspace(2.4, 3.6, 25)
    poisson_low, poisson_high = small_analysis.profile("astro_gamma", values).interval()
    effective_low, effective_high = effective.profile("astro_gamma", values).interval()
    # measured: 0.2601 vs 0.2578 (the simulation is sparse only where few data events fall)
    assert effective_high - effective_low > 1.005 * (poisson_high - poisson_low)


def test_data_entirely_outside_the_binning_is_an_error(tmp_path):
    data = tmp_path / "data.csv"
    data.write_text("energy,zenith,topology\n10.0,1.0,0\n20.0,2.0,1\n")  # GeV typed as TeV: below 60 TeV
    with pytest.raises(AnalysisFileError, match=r"line \d+: data: all 2 data events fall outside the binning"):
        Analysis.from_file(MODELS / "hese_diffuse.yaml", [f"data.path={data}", ON_SMALL[1]])


def test_the_file_reports_the_prompt_limit_and_discovery_as_the_python_api(tmp_path):
    """``bayesfit run models/hese_diffuse.yaml`` and the same analysis written with the Python API
    (binning, reweighted-MC predictor, BinnedModel with the prompt index held fixed) agree."""
    from bayesfit.analysis.run import RunOptions, run_analysis_file
    from bayesfit.binning import Binning, CategoryAxis, CosAxis, Log10Axis
    from bayesfit.datasets import generate_hese_toy
    from bayesfit.inference import hypotest, upper_limit
    from bayesfit.model import BinnedModel
    from bayesfit.predictors import Component, PowerLaw, ReweightedMCPredictor

    summary = run_analysis_file(
        MODELS / "hese_diffuse.yaml",
        RunOptions(out=tmp_path, sample=False, progress=False, overrides=("inference.profile={}",)),
    ).summary

    toy = generate_hese_toy(n_generated=100_000, seed=20131122)
    binning = Binning([CategoryAxis("topology", (0, 1)), CosAxis("zenith", 10), Log10Axis("energy", 6e4, 1e7, 20)])
    predictor = ReweightedMCPredictor(toy.simulation, binning.bin_index(toy.simulation), binning.size, components=[
        Component("atmoWeight", norm="atmo_norm"),
        Component("astroWeight", norm="astro_norm",
                  spectrum=PowerLaw("primaryEnergy", index="astro_gamma", pivot=1e5, generated_index=2.5)),
        Component("atmoWeight", norm="prompt_norm",
                  spectrum=PowerLaw("primaryEnergy", index="prompt_gamma", pivot=1e6, generated_index=3.7)),
    ])
    model = BinnedModel(
        predictor, binning.fill(toy.data).entries, poi="prompt_norm",
        starts={"atmo_norm": 1.0, "astro_norm": 8.0, "astro_gamma": 2.5, "prompt_norm": 0.5},
        bounds={"prompt_norm": (0.0, 20.0)}, fixed={"prompt_gamma": 2.7},
    )
    discovery = hypotest(model, 0.0, test_statistic="q0")
    limit = upper_limit(model)
    reported = summary["hypotests"]["prompt_discovery"]
    assert reported["p_value"] == pytest.approx(discovery.p_value, abs=1e-6)
    assert reported["significance"] == pytest.approx(discovery.significance, abs=1e-5)
    assert summary["upper_limit"]["observed"] == pytest.approx(limit.observed, rel=1e-5)
    expected = list(summary["upper_limit"]["expected"].values())
    np.testing.assert_allclose(expected, limit.expected, rtol=1e-5)
    assert np.all(np.diff(limit.expected) > 0) and limit.observed > 0
    assert summary["fit"]["parameters"]["prompt_norm"]["value"] >= 0.0


def test_committed_hese_inputs_are_the_example_toy(tmp_path: Path) -> None:
    """models/inputs/hese/ is what examples/model_inputs.py writes: the toy generator's output,
    float64 column for column (the models read files; the generator is example code)."""
    from reference_data import example_module

    from bayesfit.datasets import generate_hese_toy

    toy = generate_hese_toy()
    written = example_module("model_inputs").write_hese_inputs(tmp_path)
    for path, columns in zip(written, (toy.simulation, toy.data)):
        with np.load(path) as new, np.load(MODELS / "inputs" / "hese" / path.name) as committed:
            assert sorted(new.files) == sorted(committed.files)
            for name in committed.files:
                assert committed[name].dtype == np.float64
                np.testing.assert_array_equal(committed[name], new[name])
                np.testing.assert_array_equal(committed[name], columns[name])
