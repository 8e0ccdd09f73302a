"""Round trips (save -> load -> identical) and determinism (same seed -> bit-identical results)."""

from __future__ import annotations

import dataclasses
import json
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from reference_data import REFERENCE

from bayesfit.analysis.spec import read_analysis
from bayesfit.binning import (
    Binning,
    CategoryAxis,
    CosAxis,
    HierarchicalBinning,
    Histogram,
    Log10Axis,
    RectilinearBinning,
    RegularAxis,
    VariableAxis,
)
from bayesfit.model import BinnedModel
from bayesfit.predictors import TemplatePredictor

MODELS = Path(__file__).resolve().parents[1] / "models"
SMALL = REFERENCE / "hese" / "synthetic-small"
TEMPLATES = np.array([[30.0, 20.0, 10.0, 5.0], [4.0, 6.0, 8.0, 10.0]])
COUNTS = np.array([33, 27, 19, 14])


# ---------------------------------------------------------------------- binnings (property tests)
finite = st.floats(-1e6, 1e6, allow_nan=False, allow_infinity=False, width=64)
names = st.sampled_from(["x", "y", "z", "energy", "cos_zenith"])


@st.composite
def axes(draw: st.DrawFn, variable: str):
    kind = draw(st.sampled_from(["regular", "log10", "cos", "variable", "category"]))
    bins = draw(st.integers(1, 6))
    if kind == "regular":
        start = draw(finite)
        width = draw(st.floats(1e-3, 1e3))
        return RegularAxis(variable, start, start + width, bins)
    if kind == "log10":
        start = draw(st.floats(1e-3, 1e3))
        return Log10Axis(variable, start, start * draw(st.floats(1.5, 1e4)), bins)
    if kind == "cos":
        return CosAxis(variable, bins)
    if kind == "variable":
        edges = sorted(draw(st.lists(finite, min_size=2, max_size=8, unique=True)))
        return VariableAxis(variable, tuple(edges), include_upper=draw(st.booleans()))
    return CategoryAxis(variable, tuple(sorted(draw(st.sets(st.integers(-5, 20), min_size=1, max_size=5)))))


@st.composite
def binnings(draw: st.DrawFn) -> Binning:
    variables = draw(st.lists(names, min_size=1, max_size=3, unique=True))
    top = RectilinearBinning([draw(axes(v)) for v in variables])
    if draw(st.booleans()):
        return top
    bin_index = draw(st.integers(0, top.size - 1))
    return HierarchicalBinning(top, {bin_index: RectilinearBinning([draw(axes("w"))])})


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(binning=binnings(), seed=st.integers(0, 2**32 - 1))
def test_binning_yaml_round_trip_is_identical(tmp_path_factory, binning, seed):
    path = tmp_path_factory.mktemp("binning") / "binning.yml"
    binning.to_yaml(path)
    loaded = Binning.from_yaml(path)
    assert loaded.to_dict() == binning.to_dict()
    assert loaded.to_yaml() == binning.to_yaml()
    # the reloaded binning puts the same events in the same bins (events spread over every axis)
    rng = np.random.default_rng(seed)
    events = {}
    for variable in (*binning.variables,):
        events[variable] = rng.choice([-1e6, -1.0, 0.0, 0.3, 1.0, 2.0, 10.0, 1e3, 1e6], size=50) * rng.uniform(0.5, 1.5, 50)
    np.testing.assert_array_equal(loaded.bin_index(events), binning.bin_index(events))


def test_histogram_round_trip_is_identical(tmp_path):
    binning = RectilinearBinning([CategoryAxis("topology", (0, 1)), Log10Axis("energy", 6e4, 1e7, 5)])
    rng = np.random.default_rng(3)
    events = {"topology": rng.integers(0, 3, 200), "energy": 10 ** rng.uniform(4.5, 7.5, 200)}
    histogram = binning.fill(events, weights=rng.exponential(size=200))
    path = tmp_path / "histogram.yml"
    histogram.to_yaml(path)
    loaded = Histogram.from_yaml(path)
    assert loaded.binning == binning and loaded.n_outside == histogram.n_outside > 0
    for field in ("sumw", "sumw2", "entries"):
        np.testing.assert_array_equal(getattr(loaded, field), getattr(histogram, field))


# ---------------------------------------------------------------------- analysis files
def test_analysis_file_round_trip_is_identical(tmp_path):
    original = MODELS / "hese_diffuse.yaml"
    spec = read_analysis(original)
    document = yaml.safe_load(original.read_text())
    copy = tmp_path / "copy.yaml"
    copy.write_text(yaml.safe_dump(document, sort_keys=False))

    def relative(read, folder):  # event paths are relative to the file's folder
        events = {key: dataclasses.replace(getattr(read, key), path=getattr(read, key).path.relative_to(folder))
                  for key in ("data", "simulation")}
        return dataclasses.replace(read, **events)

    assert relative(read_analysis(copy), tmp_path) == relative(spec, MODELS)
    assert yaml.safe_load(copy.read_text()) == document


# ---------------------------------------------------------------------- results and determinism
@pytest.fixture(scope="module")
def model() -> BinnedModel:
    return BinnedModel(
        TemplatePredictor(TEMPLATES), COUNTS, priors={"weights": {"Gamma": {"alpha": 2.0, "beta": 1.0}}}
    )


@pytest.fixture(scope="module")
def posteriors(model):
    from bayesfit.inference import sample_posterior

    options = dict(draws=100, tune=100, chains=2, cores=1, seed=11, sampler="pymc", progressbar=False)
    return sample_posterior(model, **options), sample_posterior(model, **options)


def test_same_seed_gives_bit_identical_posteriors(posteriors):
    first, second = posteriors
    np.testing.assert_array_equal(first.posterior["weights"].values, second.posterior["weights"].values)
    assert first.posterior["weights"].shape == (2, 100, 2)


def test_posterior_netcdf_round_trip_is_identical(tmp_path, posteriors):
    import arviz as az

    idata = posteriors[0]
    path = tmp_path / "posterior.nc"
    idata.to_netcdf(str(path))
    loaded = az.from_netcdf(str(path))
    assert set(loaded.groups()) == set(idata.groups())
    for group in idata.groups():
        original, reloaded = idata[group], loaded[group]
        assert set(reloaded.data_vars) == set(original.data_vars)
        for name in original.data_vars:
            np.testing.assert_array_equal(reloaded[name].values, original[name].values)
            assert reloaded[name].dims == original[name].dims


def test_summary_json_round_trip_is_identical(tmp_path, model, posteriors):
    from bayesfit.analysis.report import posterior_summary
    from bayesfit.inference import fit

    summary = {"fit": fit(model).to_dict(), "posterior": posterior_summary(posteriors[0], ["weights"])}
    path = tmp_path / "summary.json"
    path.write_text(json.dumps(summary, indent=2))
    assert json.loads(path.read_text()) == summary  # floats survive exactly (shortest repr)


def test_same_seed_gives_bit_identical_fits_and_toys(model):
    from bayesfit.inference import Objective, fit, generate_toys

    objective = Objective(model)
    first, second = fit(objective, n_random_starts=3, seed=4), fit(Objective(model), n_random_starts=3, seed=4)
    np.testing.assert_array_equal(first.x, second.x)
    assert first.nll == second.nll
    toys = generate_toys(objective, first.values, 40, seed=9).main
    np.testing.assert_array_equal(toys, generate_toys(model, first.values, 40, seed=9).main)
    np.testing.assert_array_equal(toys[:10], generate_toys(objective, first.values, 10, seed=9).main)
    assert not np.array_equal(toys, generate_toys(objective, first.values, 40, seed=10).main)
    refits = [fit(objective, observed=toy, n_random_starts=0).x for toy in toys[:5]]
    np.testing.assert_array_equal(refits, [fit(objective, observed=toy, n_random_starts=0).x for toy in toys[:5]])


def test_toy_results_do_not_depend_on_worker_count(model):
    from bayesfit.inference import Objective, SerialExecutor, toy_pvalue

    objective = Objective(model)
    hypothesis = {"weights[1]": 0.5}
    serial = toy_pvalue(objective, hypothesis, n_toys=30, executor=SerialExecutor(), seed=5)
    with ProcessPoolExecutor(max_workers=2) as executor:
        pooled = toy_pvalue(objective, hypothesis, n_toys=30, executor=executor, seed=5)
    np.testing.assert_array_equal(serial.toys.statistics, pooled.toys.statistics)
    assert serial.p_value == pooled.p_value and serial.toys.n_failed == 0
