"""ROOT inputs through uproot: events from TTrees, TH1/TH2 histograms as counts, templates and
responses, in the API and in analysis files; checked against the numpy arrays the tests write."""

from __future__ import annotations

import json
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from scipy import optimize, stats

uproot = pytest.importorskip("uproot")
hist = pytest.importorskip("hist")

from bayesfit.analysis import Analysis  # noqa: E402
from bayesfit.analysis.report import validate_summary  # noqa: E402
from bayesfit.analysis.run import RunOptions, run_analysis_file  # noqa: E402
from bayesfit.binning import Histogram, RectilinearBinning, VariableAxis, as_counts  # noqa: E402
from bayesfit.errors import AnalysisFileError, BinningError, EventsError, PredictorError  # noqa: E402
from bayesfit.events import load_events  # noqa: E402
from bayesfit.predictors import ResponseMatrix  # noqa: E402
from bayesfit.root_io import read_histogram, read_tree  # noqa: E402

MASS_EDGES = np.linspace(100.0, 150.0, 11)
TRUTH_EDGES = np.array([0.0, 1.0, 2.0, 3.0])
RECO_EDGES = np.array([0.0, 0.5, 1.0, 1.5, 2.0, 2.5, 3.0])
RESPONSE = np.array(  # (6 reco, 3 truth); columns sum to efficiencies 0.9, 0.8, 0.7
    [[0.5, 0.1, 0.0], [0.3, 0.1, 0.0], [0.1, 0.3, 0.1], [0.0, 0.2, 0.2], [0.0, 0.1, 0.2], [0.0, 0.0, 0.2]]
)


class Inputs:
    """What the ROOT file holds, as numpy arrays."""

    def __init__(self, rng: np.random.Generator) -> None:
        n_data, n_sim = 400, 3000
        self.data = {
            "E": 10 ** rng.uniform(0.0, 2.0, n_data),
            "quality": rng.integers(0, 3, n_data).astype(np.int32),
        }
        self.sim = {
            "E_true": 10 ** rng.uniform(0.0, 2.0, n_sim),
            "w_gen": rng.uniform(0.05, 0.15, n_sim),
            "quality": rng.integers(0, 3, n_sim).astype(np.int32),
        }
        self.signal = 30.0 * stats.norm.pdf(0.5 * (MASS_EDGES[:-1] + MASS_EDGES[1:]), 125.0, 3.0) * 5.0
        self.background = np.linspace(80.0, 40.0, 10)
        self.observed = rng.poisson(1.3 * self.signal + 0.9 * self.background).astype(float)
        self.sumw2 = self.background / 4.0  # a weighted template: variances differ from values
        self.truth = np.array([100.0, 60.0, 30.0])


def _write_root(path: Path, inputs: Inputs) -> None:
    with uproot.recreate(path) as file:
        file.mktree("data", {name: values.dtype for name, values in inputs.data.items()})
        file["data"].extend(inputs.data)
        file.mktree("mc/sim", {name: values.dtype for name, values in inputs.sim.items()})
        file["mc/sim"].extend(inputs.sim)
        file["observed"] = (inputs.observed, MASS_EDGES)
        file["templates/signal"] = (inputs.signal, MASS_EDGES)
        background = hist.Hist(hist.axis.Variable(MASS_EDGES, name="mass"), storage=hist.storage.Weight())
        background.view()["value"], background.view()["variance"] = inputs.background, inputs.sumw2
        file["templates/background"] = background
        response = hist.Hist(
            hist.axis.Variable(RECO_EDGES, name="reco"), hist.axis.Variable(TRUTH_EDGES, name="truth")
        )
        response.view()[...] = RESPONSE
        file["response"] = response
        file["truth"] = (inputs.truth, TRUTH_EDGES)
        flowing = hist.Hist(hist.axis.Variable([0.0, 1.0, 2.0], name="x"))
        flowing.fill([-1.0, 0.5, 1.5, 1.5, 7.0, 8.0])
        file["flowing"] = flowing


@pytest.fixture(scope="module")
def inputs() -> Inputs:
    return Inputs(np.random.default_rng(7))


@pytest.fixture(scope="module")
def root_file(tmp_path_factory: pytest.TempPathFactory, inputs: Inputs) -> Path:
    path = tmp_path_factory.mktemp("root") / "inputs.root"
    _write_root(path, inputs)
    return path


# ------------------------------------------------------------------ events from TTrees


def test_tree_branches_cut_define_and_rename_equal_numpy(root_file: Path, inputs: Inputs) -> None:
    events = load_events(
        root_file, tree="mc/sim", branches=["E_true"], define={"weight": "2 * w_gen", "log_e": "log10(E_true)"},
        cut="(quality > 0) & (E_true < 50)", rename={"E_true": "energy"},
    )
    keep = (inputs.sim["quality"] > 0) & (inputs.sim["E_true"] < 50)
    assert events.variables == ("energy", "weight", "log_e")
    np.testing.assert_array_equal(events["energy"], inputs.sim["E_true"][keep])
    np.testing.assert_array_equal(events["weight"], 2 * inputs.sim["w_gen"][keep])
    np.testing.assert_allclose(events["log_e"], np.log10(inputs.sim["E_true"][keep]), rtol=1e-15)
    every = read_tree(root_file, "data")
    assert every.variables == ("E", "quality")
    np.testing.assert_array_equal(every["quality"], inputs.data["quality"])


def test_the_one_tree_of_a_file_needs_no_name(tmp_path: Path, inputs: Inputs) -> None:
    with uproot.recreate(tmp_path / "one.root") as file:
        file["events"] = inputs.data  # a TTree or, with newer uproot, an RNTuple: both are read
    events = load_events(tmp_path / "one.root", cut="E > 10")
    np.testing.assert_array_equal(events["E"], inputs.data["E"][inputs.data["E"] > 10])


def test_cuts_and_definitions_apply_to_any_event_source() -> None:
    columns = {"x": np.array([1.0, 2.0, 3.0, 4.0]), "y": np.array([0.0, 1.0, 0.0, 1.0])}
    events = load_events(columns, define={"r": "hypot(x, y)"}, cut="x >= 2 and not y > 0.5 or x > 3.5")
    np.testing.assert_array_equal(events["x"], [3.0, 4.0])
    np.testing.assert_allclose(events["r"], np.hypot([3.0, 4.0], [0.0, 1.0]))


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"tree": "simulation"}, r"inputs\.root' has no tree 'simulation'; trees in it: \['data', 'mc/sim'\]"),
        ({}, r"holds trees \['data', 'mc/sim'\]: name the tree to read"),
        ({"tree": "data", "branches": ["E", "zenith"]}, r"tree 'data' of .* has no branch\(es\) \['zenith'\]; branches: \['E', 'quality'\]"),
        ({"tree": "data", "cut": "E > E_min"}, r"no branch\(es\) \['E_min'\]"),
        ({"tree": "data", "cut": "E + 1"}, r"cut 'E \+ 1' gives float64 values, not true/false"),
        ({"tree": "data", "cut": "__import__('os').getcwd()"}, r"unknown function \"__import__\('os'\)\.getcwd\""),
        ({"tree": "data", "cut": "E.real > 0"}, r"cut 'E\.real > 0': Attribute is not allowed"),
        ({"tree": "data", "cut": "eval('1') > 0"}, r"unknown function 'eval'"),
        ({"tree": "data", "define": {"E": "E * 2"}}, r"define\['E'\]: .* already has a column 'E'"),
    ],
)
def test_bad_tree_selections_name_file_tree_and_branch(root_file: Path, options: dict, message: str) -> None:
    with pytest.raises(EventsError, match=message):
        load_events(root_file, **options)


def test_a_file_that_is_not_root_is_named(tmp_path: Path) -> None:
    fake = tmp_path / "events.root"
    fake.write_text("E,w\n1,2\n")
    with pytest.raises(EventsError, match=r"cannot read '.*events\.root' as a ROOT file"):
        load_events(fake, tree="events")
    with pytest.raises(BinningError, match=r"cannot read '.*events\.root' as a ROOT file"):
        read_histogram(fake, "h")


def test_without_uproot_the_error_says_what_to_install(root_file: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "uproot", None)  # import uproot now raises ImportError
    with pytest.raises(EventsError, match=r"needs uproot.*pip install 'bayesfit\[root\]'"):
        load_events(root_file, tree="data")


def test_events_of_any_file_type_take_a_selection_too(tmp_path: Path) -> None:
    from bayesfit.datasets import generate_hese_toy

    toy = generate_hese_toy(n_generated=20000, seed=5)
    np.savez(tmp_path / "data.npz", **toy.data)
    np.savez(tmp_path / "simulation.npz", **toy.simulation)
    path = _analysis(tmp_path, """\
        name: npz-cut
        binning: {energy: {log10: {start: 6.0e4, stop: 1.0e7, bins: 5}}}
        data: {path: data.npz, cut: "(energy > 1e5) & (topology == 0)"}
        simulation: {path: simulation.npz, define: {w: 2 * atmoWeight}}
        components:
          atmospheric: {weight: w, scale: atmo_norm}
        parameters:
          atmo_norm: {prior: flat, start: 1.0}
    """)
    analysis = Analysis.from_file(path)
    keep = (toy.data["energy"] > 1e5) & (toy.data["topology"] == 0)
    np.testing.assert_array_equal(analysis.data["energy"], toy.data["energy"][keep])
    np.testing.assert_array_equal(analysis.simulation["w"], 2 * toy.simulation["atmoWeight"])


# ------------------------------------------------------------------ histograms in the API


def test_th1_values_variances_and_edges_come_through(root_file: Path, inputs: Inputs) -> None:
    background = read_histogram(root_file, "templates/background")
    binning = RectilinearBinning([VariableAxis("mass", MASS_EDGES)])
    np.testing.assert_array_equal(as_counts(background, binning=binning), inputs.background)
    converted = Histogram.from_hist(background)
    np.testing.assert_array_equal(converted.sumw2, inputs.sumw2)
    np.testing.assert_allclose(converted.binning.axes[0].edges, MASS_EDGES, rtol=1e-15)
    np.testing.assert_array_equal(as_counts(read_histogram(root_file, "observed"), binning=binning), inputs.observed)
    with pytest.raises(BinningError, match=r"axis 'mass' of the histogram has edges \[100, 105, 110, \.\.\., 140, 145, 150\]"):
        as_counts(background, binning=RectilinearBinning([VariableAxis("mass", np.linspace(100, 160, 11))]))


def test_root_flow_bins_are_the_outer_bins_of_an_open_axis(root_file: Path) -> None:
    flowing = read_histogram(root_file, "flowing")  # fills: -1 | 0.5 | 1.5, 1.5 | 7, 8
    with pytest.raises(BinningError, match="non-empty flow bins"):
        as_counts(flowing, binning=RectilinearBinning([VariableAxis("x", [0.0, 1.0, 2.0])]))
    np.testing.assert_array_equal(
        as_counts(flowing, binning=RectilinearBinning([VariableAxis("x", [0.0, 1.0, 2.0])]), flow="ignore"), [1, 2]
    )
    open_axis = RectilinearBinning([VariableAxis("x", [-np.inf, 0.0, 1.0, 2.0, np.inf])])
    np.testing.assert_array_equal(as_counts(flowing, binning=open_axis), [1, 1, 2, 2])


def test_a_th2_on_a_2d_binning_is_flattened_in_bayesfit_bin_order(root_file: Path) -> None:
    response = read_histogram(root_file, "response")  # x: 6 bins on [0, 3], y: 3 bins on [0, 3]
    binning = RectilinearBinning([VariableAxis("a", RECO_EDGES), VariableAxis("b", TRUTH_EDGES)])
    np.testing.assert_array_equal(as_counts(response, binning=binning), RESPONSE.ravel())  # y fastest
    assert Histogram(binning, RESPONSE.ravel(), RESPONSE.ravel(), np.zeros(18)).view().tolist() == RESPONSE.tolist()
    with pytest.raises(BinningError, match=r"has 2 axes, the binning 1 \(\['a'\]\)"):
        as_counts(response, binning=RectilinearBinning([VariableAxis("a", RECO_EDGES)]))


def test_2d_histograms_are_response_matrices(root_file: Path) -> None:
    from_root = ResponseMatrix(read_histogram(root_file, "response"), weights=[1.0])
    np.testing.assert_array_equal(from_root.matrices[0], RESPONSE)
    as_hist = hist.Hist(hist.axis.Variable(RECO_EDGES, name="reco"), hist.axis.Variable(TRUTH_EDGES, name="truth"))
    as_hist.view()[...] = RESPONSE
    universes = ResponseMatrix([as_hist, as_hist * 0.5], weights=[1.0, 2.0])
    np.testing.assert_array_equal(universes.matrices, [RESPONSE, 0.5 * RESPONSE])
    with pytest.raises(PredictorError, match=r"sums to 9\.0, an efficiency above 1.*divide a histogram of event counts"):
        ResponseMatrix(as_hist * 10, weights=[1.0])  # counts, not probabilities
    with pytest.raises(BinningError, match="non-empty flow bins"):
        as_hist.fill([5.0], [0.5])  # an event reconstructed beyond the last reco edge
        ResponseMatrix(as_hist, weights=[1.0])


# ------------------------------------------------------------------ analysis files


def _analysis(folder: Path, text: str) -> Path:
    path = folder / "analysis.yaml"
    path.write_text(textwrap.dedent(text))
    return path


def _link(folder: Path, root_file: Path) -> None:
    (folder / "inputs.root").symlink_to(root_file)


REWEIGHTED = """\
    name: root-reweighted
    binning: {energy: {log10: {start: 1.0, stop: 100.0, bins: 8}}}
    data: {path: inputs.root, tree: data, branches: [E], cut: quality >= 1, rename: {E: energy}}
    simulation:
      path: inputs.root
      tree: mc/sim
      branches: [E_true]
      define: {weight: w_gen * (1 + quality)}
      cut: quality >= 1
      rename: {E_true: energy}
    components:
      signal: {weight: weight, scale: norm}
    parameters:
      norm: {prior: {HalfNormal: {sigma: 10}}, start: 1.0}
"""


def test_reweighted_simulation_from_ttrees_runs_end_to_end(tmp_path: Path, root_file: Path, inputs: Inputs) -> None:
    _link(tmp_path, root_file)
    result = run_analysis_file(_analysis(tmp_path, REWEIGHTED), RunOptions(out=tmp_path / "out", sample=False, progress=False))
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    validate_summary(summary)
    edges = np.logspace(0.0, 2.0, 9)
    data = inputs.data["E"][inputs.data["quality"] >= 1]
    observed, _ = np.histogram(data, edges)
    keep = inputs.sim["quality"] >= 1
    expected, _ = np.histogram(inputs.sim["E_true"][keep], edges, weights=(inputs.sim["w_gen"] * (1 + inputs.sim["quality"]))[keep])
    # one scale on Poisson counts: the maximum-likelihood scale is sum(observed) / sum(expected)
    assert summary["data"]["events"] == len(data)
    assert summary["fit"]["parameters"]["norm"]["value"] == pytest.approx(observed.sum() / expected.sum(), rel=1e-5)
    assert (result.folder / "summary.json").is_file()


TEMPLATES = """\
    name: root-templates
    binning: {mass: {edges: [100, 105, 110, 115, 120, 125, 130, 135, 140, 145, 150]}}
    observed: {path: inputs.root, key: observed}
    components:
      signal:     {template: {path: inputs.root, key: templates/signal}, scale: mu}
      background: {template: {path: inputs.root, key: templates/background}, scale: background_norm}
    parameters:
      mu:              {prior: {HalfNormal: {sigma: 5}}, start: 1.0, bounds: [0, 20]}
      background_norm: {prior: flat, start: 1.0, bounds: [0.1, 10]}
"""


def test_template_fit_from_th1s_runs_end_to_end_and_equals_scipy(tmp_path: Path, root_file: Path, inputs: Inputs) -> None:
    _link(tmp_path, root_file)
    run_analysis_file(_analysis(tmp_path, TEMPLATES), RunOptions(out=tmp_path / "out", sample=False, progress=False))
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    validate_summary(summary)

    def nll(x: np.ndarray) -> float:
        return -stats.poisson.logpmf(inputs.observed, x[0] * inputs.signal + x[1] * inputs.background).sum()

    reference = optimize.minimize(nll, [1.0, 1.0], bounds=[(0, 20), (0.1, 10)], method="L-BFGS-B", options={"ftol": 1e-14, "gtol": 1e-10})
    fitted = summary["fit"]["parameters"]
    np.testing.assert_allclose([fitted["mu"]["value"], fitted["background_norm"]["value"]], reference.x, rtol=1e-4)
    assert summary["data"]["events"] == inputs.observed.sum()
    assert str(tmp_path / "inputs.root") in summary["provenance"]["inputs"]  # hashed like every input


UNFOLDING = """\
    name: root-unfolding
    binning: {reco: {edges: [0, 0.5, 1, 1.5, 2, 2.5, 3]}}
    observed: [5, 4, 6, 3, 2, 1]
    response: {matrices: RESPONSE}
    components:
      truth: {template: {path: inputs.root, key: truth}, scale: mu}
    parameters:
      mu: {prior: flat, start: 1.0}
"""


def test_th2_and_uhi_json_responses_fold_truth_templates(tmp_path: Path, root_file: Path, inputs: Inputs) -> None:
    import hist.serialization
    import uhi.io.json

    _link(tmp_path, root_file)
    response = hist.Hist(hist.axis.Variable(RECO_EDGES, name="reco"), hist.axis.Variable(TRUTH_EDGES, name="truth"))
    response.view()[...] = RESPONSE
    (tmp_path / "response.json").write_text(json.dumps(hist.serialization.to_uhi(response), default=uhi.io.json.default))
    for entry in ("{path: inputs.root, key: response}", "{path: response.json}"):
        analysis = Analysis.from_file(_analysis(tmp_path, UNFOLDING.replace("RESPONSE", entry)))
        np.testing.assert_allclose(analysis.predictor.evaluate({"mu": 2.0})[0], 2.0 * RESPONSE @ inputs.truth, rtol=1e-12)


@pytest.mark.parametrize(
    ("base", "old", "new", "message"),
    [(REWEIGHTED, *case) for case in [
        ("tree: data,", "tree: dat,", r"line 3: data\.path: .*has no tree 'dat'; trees in it: \['data', 'mc/sim'\]"),
        ("branches: [E]", "branches: [E, zenith]", r"line 3: data\.path: tree 'data' of .* has no branch\(es\) \['zenith'\]"),
        ("cut: quality >= 1,", "cut: quality >=,", r"line 3: data\.cut: cut 'quality >=' is not an expression"),
        ("* (1 + quality)}", "* (1 + q)}", r"line 5: simulation\.path: tree 'mc/sim' of .* has no branch\(es\) \['q'\]"),
        ("tree: data,", "tree: data, columns: [E],", r"line 3: data\.columns: unknown key\(s\) 'columns'"),
    ]] + [(TEMPLATES, *case) for case in [
        ("key: observed}", "key: data_counts}", r"line 3: observed\.key: .*has no histogram 'data_counts'; histograms in it: \['flowing', 'observed', 'response', 'templates/background', 'templates/signal', 'truth'\]"),
        ("key: observed}", "key: data}", r"line 3: observed\.key: .*has no histogram 'data'"),
        ("145, 150]", "145, 155]", r"line 3: observed: histogram 'observed' of '.*inputs\.root': axis 'mass' of the histogram has edges \[.*150\] \(10 bins\), the binning \[.*155\]"),
        ("{path: inputs.root, key: observed}", "{path: inputs.root}", r"line 3: observed: a \.root file needs the array named"),
        ("{path: inputs.root, key: observed}", "{path: fake.root, key: observed}", r"line 3: observed\.key: cannot read '.*fake\.root' as a ROOT file"),
        ("key: templates/signal}", "key: templates/signal, flow: drop}", r"line 5: components\.signal\.template\.flow: 'drop' is not one of 'error', 'ignore'"),
    ]],
)
def test_bad_root_inputs_name_file_line_and_key(
    tmp_path: Path, root_file: Path, base: str, old: str, new: str, message: str
) -> None:
    _link(tmp_path, root_file)
    (tmp_path / "fake.root").write_bytes(b"not a ROOT file at all")
    assert old in base
    with pytest.raises(AnalysisFileError, match=message):
        Analysis.from_file(_analysis(tmp_path, base.replace(old, new)))
