"""pyhf patchsets: reading and checking them against pyhf, clear errors for malformed ones, limits
of patches equal to upper_limit and to pyhf's, and ``bayesfit run --patchset``."""

from __future__ import annotations

import copy
import csv
import json
from pathlib import Path

import numpy as np
import pytest

from reference_data import example_module
from bayesfit.errors import AnalysisFileError, ModelError, WorkspaceError
from bayesfit.histfactory import PatchsetHypotheses, digest, load_workspace, read_patchset
from bayesfit.inference import LimitScanResult, SerialExecutor, UpperLimitResult, limit_scan, upper_limit

pytestmark = pytest.mark.filterwarnings("ignore::FutureWarning")

INPUTS = Path(__file__).resolve().parents[1] / "models" / "inputs" / "patchset"
BACKGROUND, PATCHSET = INPUTS / "background.json", INPUTS / "patchset.json"
#: The patch whose limits are compared with upper_limit and pyhf (its observed limit is near 1).
PATCH = "signal_800_300"


@pytest.fixture(scope="module")
def documents():
    return json.loads(BACKGROUND.read_text()), json.loads(PATCHSET.read_text())


@pytest.fixture(scope="module")
def hypotheses():
    return PatchsetHypotheses(BACKGROUND, PATCHSET)


@pytest.fixture(scope="module")
def direct_limit(hypotheses):
    return upper_limit(hypotheses.model(PATCH))


def test_committed_inputs_are_what_the_example_script_writes(tmp_path, documents):
    written = example_module("patchset_inputs").write_inputs(tmp_path)
    assert [json.loads(path.read_text()) for path in written] == list(documents)


def test_patchset_reads_as_pyhf_reads_it(documents):
    pyhf = pytest.importorskip("pyhf")
    background, document = documents
    patchset = read_patchset(PATCHSET, background)
    theirs = pyhf.PatchSet(document)
    theirs.verify(background)
    assert len(patchset) == len(theirs) == 75 and patchset.labels == tuple(theirs.labels) == ("m_heavy", "m_light")
    assert patchset.names == [patch.name for patch in theirs.patches]
    assert patchset.values == [patch.values for patch in theirs.patches]
    assert digest(background) == pyhf.utils.digest(background) == patchset.digests["sha256"]
    assert digest(background, "md5") == pyhf.utils.digest(background, "md5")
    ours = patchset.apply(load_workspace(background), PATCH).spec
    assert ours == dict(theirs.apply(background, PATCH))
    types = {modifier["type"] for channel in ours["channels"] for sample in channel["samples"]
             for modifier in sample["modifiers"]}
    assert types == {"normfactor", "shapefactor", "lumi", "normsys", "histosys", "staterror", "shapesys"}


def _broken(document, change):
    document = copy.deepcopy(document)
    change(document)
    return document


MALFORMED = {
    "no labels": (lambda d: d["metadata"].pop("labels"), r"patchset\.metadata\.labels: is missing"),
    "values length": (lambda d: d["patches"][3]["metadata"]["values"].pop(),
                      r"patchset\.patches\[3\]\.metadata\.values: patch 'signal_400_100' has 1 values, the patchset has 2 labels"),
    "duplicate name": (lambda d: d["patches"][5]["metadata"].update(name=d["patches"][0]["metadata"]["name"]),
                       r"patchset\.patches\[5\]\.metadata\.name: patch 'signal_300_0' has the same name as patches\[0\]"),
    "duplicate values": (lambda d: d["patches"][1]["metadata"].update(values=[300, 0]),
                         r"patchset\.patches\[1\]\.metadata\.values: .* same values as patches\[0\]"),
    "no patch": (lambda d: d["patches"][2].pop("patch"), r"patchset\.patches\[2\]\.patch: is missing"),
    "no metadata": (lambda d: d.pop("metadata"), r"patchset\.metadata: is missing"),
    "bad version": (lambda d: d.update(version="2.0"), r"patchset\.version: unsupported schema version '2.0'"),
    "bad name": (lambda d: d["patches"][0]["metadata"].update(name="a b"), r"patches\[0\]\.metadata\.name: 'a b'"),
    "bad digest": (lambda d: d["metadata"]["digests"].update(sha256="xyz"),
                   r"metadata\.digests\.sha256: expected 64 hexadecimal digits"),
    "digest mismatch": (lambda d: d["metadata"]["digests"].update(sha256="0" * 64),
                        (r"metadata\.digests\.sha256: the background workspace's sha256 digest is [0-9a-f]{64}, "
                         "the patchset expects 0{64}: this patchset was made for another workspace")),
    "not an object": (lambda d: d["patches"].__setitem__(0, 7), r"patchset\.patches\[0\]: expected an object"),
}


@pytest.mark.parametrize("case", MALFORMED)
def test_malformed_patchsets_are_named_errors(documents, case):
    background, document = documents
    change, message = MALFORMED[case]
    with pytest.raises(WorkspaceError, match=message):
        read_patchset(_broken(document, change), background)


def test_a_patch_that_does_not_apply_is_an_error(documents):
    background, document = documents
    broken = _broken(document, lambda d: d["patches"][0]["patch"][0].update(path="/channels/9/samples/-"))
    hypotheses = PatchsetHypotheses(background, broken)
    with pytest.raises(WorkspaceError, match="patch: cannot apply"):
        hypotheses.model("signal_300_0")
    with pytest.raises(WorkspaceError, match="no patch named 'nope'"):
        hypotheses.model("nope")
    with pytest.raises(ModelError, match=r"no hypotheses named \['nope'\]"):
        limit_scan(hypotheses, names=["nope"], executor=SerialExecutor())


def test_limit_scan_equals_upper_limit_of_the_patch(hypotheses, direct_limit, tmp_path):
    scanned = limit_scan(hypotheses, names=[PATCH], executor=SerialExecutor())
    (limit,) = scanned.limits
    assert limit.observed == direct_limit.observed and np.array_equal(limit.expected, direct_limit.expected)
    assert scanned.values == [(800, 300)] and scanned.poi == "mu_SIG" and not scanned.failures
    table = list(csv.DictReader(scanned.to_csv(tmp_path / "limits.csv").open()))
    assert table[0]["name"] == PATCH and float(table[0]["m_heavy"]) == 800
    assert float(table[0]["observed"]) == direct_limit.observed
    assert float(table[0]["expected_+2sigma"]) == direct_limit.expected[4]
    point = scanned.to_dict()["points"][0]
    assert point["values"] == {"m_heavy": 800, "m_light": 300} and point["expected"]["median"] == direct_limit.expected[2]


def test_limits_of_a_patch_match_pyhf(documents, direct_limit):
    """pyhf's CLs near our limits (converged Minuit fits): one Newton step from our limit to pyhf's
    root of CLs = 0.05 moves it by less than 1e-3 relative (observed and expected median)."""
    pyhf = pytest.importorskip("pyhf")
    background, document = documents
    workspace = pyhf.Workspace(pyhf.PatchSet(document).apply(background, PATCH))
    model, data = workspace.model(), workspace.data(workspace.model())
    pyhf.set_backend("numpy", pyhf.optimize.minuit_optimizer(strategy=1, tolerance=1e-5))
    try:
        def cls(mu):
            observed, expected = pyhf.infer.hypotest(mu, data, model, test_stat="qtilde", return_expected_set=True)
            return float(observed), float(np.ravel(expected)[2])

        for index, ours in ((0, direct_limit.observed), (1, direct_limit.expected[2])):
            at, above = cls(ours)[index], cls(ours * 1.005)[index]
            root = ours + (0.05 - at) * (0.005 * ours) / (above - at)
            assert root == pytest.approx(ours, rel=1e-3)
    finally:
        pyhf.set_backend("numpy")


def test_run_with_a_patchset_writes_the_table_and_summary(tmp_path, capsys):
    from bayesfit.analysis.report import validate_summary
    from bayesfit.cli import main

    out = tmp_path / "out"
    names = ["signal_800_300", "signal_1200_0"]
    code = main(["run", "-q", str(BACKGROUND), "--patchset", str(PATCHSET), "--no-sample", "--out", str(out),
                 "--set", f"workspace.patchset_names={json.dumps(names)}", "--set", "inference.toys.workers=1"])
    assert code == 0
    summary = json.loads((out / "summary.json").read_text())
    excluded = sum(point["observed"] < 1 for point in summary["patchset_limits"]["points"])
    assert (f"95% CLs upper limits on mu_SIG of 2 patches over m_heavy, m_light: {excluded} excluded (limit < 1), "
            "0 without a limit") in capsys.readouterr().out
    validate_summary(summary)
    section = summary["patchset_limits"]
    assert section["labels"] == ["m_heavy", "m_light"] and [p["name"] for p in section["points"]] == names
    rows = list(csv.DictReader((out / "patchset_limits.csv").open()))
    assert [row["name"] for row in rows] == names
    for row, point in zip(rows, section["points"]):
        assert float(row["observed"]) == pytest.approx(point["observed"], rel=1e-12)
        assert float(row["m_light"]) == point["values"]["m_light"]
    assert summary["data"]["patchset_patches"] == 2 and summary["model"]["poi"] == "mu_SIG"
    with pytest.raises(Exception, match="patchset_limits"):
        validate_summary({**summary, "patchset_limits": {**section, "points": [{"name": 1}]}})


def test_an_analysis_file_with_unknown_patch_names_is_located(tmp_path):
    from bayesfit.analysis import Analysis, read_analysis

    path = tmp_path / "search.yaml"
    path.write_text(f"name: search\nworkspace:\n  path: {BACKGROUND}\n  patchset: {PATCHSET}\n"
                    "  patchset_names: [signal_800_300, signal_9_9]\n")
    with pytest.raises(AnalysisFileError, match=r"search\.yaml.*workspace\.patchset_names.*\['signal_9_9'\]"):
        Analysis(read_analysis(path))


def test_exclusion_plot_draws_the_contours_where_the_limit_is_one():
    """Limits ``exp((x - 500) / 100)`` (times a band): the observed contour is the line x = 500."""
    from bayesfit.plots import plot_exclusion

    x, y = np.meshgrid(np.arange(200.0, 901.0, 100.0), np.arange(0.0, 301.0, 100.0))
    names, values, limits = [], [], []
    for xi, yi in zip(x.ravel(), y.ravel()):
        scale = np.exp((xi - 500.0) / 100.0)
        names.append(f"p_{int(xi)}_{int(yi)}")
        values.append((xi, yi))
        limits.append(UpperLimitResult("mu", 0.95, "cls", scale, scale * np.array([0.5, 0.7, 1.0, 1.4, 2.0])))
    scanned = LimitScanResult(("a", "b"), names, values, limits)
    figure = plot_exclusion(scanned)
    ax = figure.axes[0]
    contours = {c.get_gid(): np.concatenate([p.vertices for p in c.get_paths()]) for c in ax.collections if c.get_gid()}
    assert ax.get_xlabel() == "a" and ax.get_ylabel() == "b" and set(contours) == {"observed", "expected"}
    for vertices in contours.values():  # ln(limit) is linear in x: the contours are exact
        assert np.allclose(vertices[:, 0], 500.0, atol=1e-6) and np.ptp(vertices[:, 1]) == 300.0
    with pytest.raises(ValueError, match="at least 3 points"):
        plot_exclusion(LimitScanResult(("a", "b"), names[:2], values[:2], limits[:2]))
