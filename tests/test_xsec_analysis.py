"""The cross-section analysis file (models/xsec_flux.yaml) against the workflow API it wires."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

from reference_data import REFERENCE
from bayesfit.analysis import Analysis
from bayesfit.analysis.build import CrossSectionAnalysis
from bayesfit.analysis.run import RunOptions, run_analysis_file
from bayesfit.errors import AnalysisFileError
from bayesfit.inference.objective import Objective
from bayesfit.inference.profile import profile_likelihood
from bayesfit.workflows import xsec

REMU_DIR = REFERENCE / "remu-examples"
MODELS = Path(__file__).resolve().parents[1] / "models"
SMALL = ["cross_section.years_simulated=20"]  # a quicker simulation for the response matrix
SCALES = ("noise", "background", "model_A", "model_B")


@pytest.fixture(scope="module")
def analysis() -> CrossSectionAnalysis:
    built = Analysis.from_file(MODELS / "xsec_flux.yaml", SMALL)
    assert isinstance(built, CrossSectionAnalysis)
    return built


def test_the_file_builds_the_workflow_model(analysis: CrossSectionAnalysis) -> None:
    assert analysis.predictor.parameter_names == SCALES
    assert analysis.observed.sum() == analysis.inputs.observed.sum() > 0
    reference = Objective(xsec.template_model(analysis.inputs, analysis.chain))
    for point in (np.array([0.9, 1.1, 0.3, 0.8]), np.array([1.4, 0.2, 1.0, 0.0])):
        assert analysis.objective(point) == pytest.approx(reference(point), rel=1e-12)


def test_components_add_up_to_the_universe_averaged_expectation(analysis: CrossSectionAnalysis) -> None:
    point = dict(zip(SCALES, (0.9, 1.1, 0.3, 0.8)))
    components = analysis.component_expected(point)
    assert list(components) == ["noise", "background", "model_A", "model_B"]
    linearised = analysis.chain.linearised
    weights = linearised.variation_weights / linearised.variation_weights.sum()
    total = weights @ linearised.evaluate(weights=list(point.values()))
    np.testing.assert_allclose(sum(components.values()), total, rtol=1e-12)
    alone_b = weights @ linearised.evaluate(weights=[0.0, 0.0, 0.0, 0.8])
    np.testing.assert_allclose(components["model_B"], alone_b, rtol=1e-12)


def test_hypotheses_are_the_models_without_a_template(analysis: CrossSectionAnalysis) -> None:
    """``model_B = 0`` is ReMU's "A only" fit: templates noise, background and A."""
    restricted = xsec.template_model(analysis.inputs, analysis.chain, templates=("noise", "background", "model_A"))
    only_a = analysis.model_given({"model_B": 0.0})
    assert [p.name for p in only_a.free_parameters] == ["noise", "background", "model_A"]
    point = np.array([1.2, 0.7, 0.9])
    assert Objective(only_a)(point) == pytest.approx(Objective(restricted)(point), rel=1e-12)
    values = [0.6, 0.9, 1.3]
    scan = analysis.profile("model_A", values, fixed={"model_B": 0.0})
    reference = profile_likelihood(restricted, "weights[2]", values)
    np.testing.assert_allclose(scan.twice_delta_nll, reference.twice_delta_nll, atol=1e-6)
    np.testing.assert_allclose(scan.p_values(), stats.chi2.sf(reference.twice_delta_nll, 1), atol=1e-6)
    with pytest.raises(AnalysisFileError, match="unknown parameter"):
        analysis.model_given({"model_C": 0.0})


def test_bad_cross_section_files_name_the_key(tmp_path: Path) -> None:
    text = (MODELS / "xsec_flux.yaml").read_text()
    cases = {
        "unknown template": (text.replace("template: model_B,", "template: model_C,"),
                             r"line 18: components\.model_B\.template: unknown template 'model_C'"),
        "weight component": (text.replace("{template: noise,      scale: noise}", "{weight: w, scale: noise}"),
                             r"components\.noise: a cross_section analysis takes template components"),
        "binning as well": (text.replace("components:", "binning: {x: {linear: {start: 0, stop: 1, bins: 2}}}\ncomponents:", 1),
                            r"line 14: binning: a cross-section analysis takes binning from cross_section"),
        "remu without folder": (text.replace("source: toy", "source: remu"), r"cross_section: .*needs remu_dir"),
    }
    for label, (content, message) in cases.items():
        path = tmp_path / f"{label.replace(' ', '_')}.yaml"
        path.write_text(content)
        with pytest.raises(AnalysisFileError, match=message):
            Analysis.from_file(path, SMALL)
    plain = tmp_path / "plain.yaml"
    plain.write_text(textwrap.dedent("""\
        name: no-binning
        data: {path: data.json}
        simulation: {path: sim.json}
        components: {atmo: {weight: w}}
        parameters: {a: {prior: flat}}
    """))
    with pytest.raises(AnalysisFileError, match="missing required key 'binning'"):
        Analysis.from_file(plain)


def test_bayesfit_run_writes_tests_scans_and_bayes_factor(tmp_path: Path) -> None:
    quick = [
        *SMALL,
        "inference.toys.count=20",
        "inference.profile.model_A.points=3",
        "inference.profile.model_B.points=3",
        "inference.bayes_factors.A_over_B.draws=100",
    ]
    result = run_analysis_file(
        MODELS / "xsec_flux.yaml", RunOptions(out=tmp_path, overrides=tuple(quick), sample=False, progress=False)
    )
    written = sorted(path.name for path in result.files)
    assert written == sorted([
        "summary.json", "flux.png", "cross_sections.png", "counts_reco_x.png",
        "profile_model_A.png", "profile_model_B.png", "pvalue_scans.png", "correlation.png", "cls_scan.png",
    ])
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["data"]["universes"] == 100 and summary["data"]["flux"] == "universes"
    for name in ("A_only", "B_only"):
        test = summary["tests"][name]
        assert test["toy_statistic"] == "max_likelihood" and test["toys"] == 20
        assert 0.0 <= test["p_value_toys"] <= 1.0
    profile = summary["profiles"]["model_A"]
    assert profile["fixed"] == {"model_B": 0.0}
    np.testing.assert_allclose(profile["p_value_wilks"], stats.chi2.sf(np.maximum(profile["twice_delta_nll"], 0), 1))
    assert summary["hypotests"]["B_discovery"]["poi"] == "model_B"
    assert summary["hypotests"]["B_discovery"]["significance"] > summary["hypotests"]["A_discovery"]["significance"]
    assert summary["upper_limit"]["poi"] == "model_A" and 0 < summary["upper_limit"]["observed"] < 3
    factor = summary["bayes_factors"]["A_over_B"]
    assert factor["ln_bayes_factor"] == pytest.approx(
        factor["ln_evidence_numerator"] - factor["ln_evidence_denominator"], abs=1e-12
    )
    assert np.isfinite(factor["error"])


@pytest.mark.skipif(not REMU_DIR.exists(), reason="ReMU reference files not available")
def test_the_file_runs_on_remus_files() -> None:
    """ReMU's example 06 on its own files: x = [239.8 noise events, 0.398, 0.0, 1.082], -ln L = 27.15."""
    remu = Analysis.from_file(
        MODELS / "xsec_flux.yaml", ["cross_section.source=remu", f"cross_section.remu_dir={REMU_DIR}"]
    )
    assert remu.observed.sum() == 794
    result = remu.fit()
    assert result.values["noise"] * remu.inputs.noise_events == pytest.approx(239.8, rel=0.03)
    np.testing.assert_allclose([result.values[name] for name in SCALES[1:]], [0.398, 0.0, 1.082], atol=0.03)
    assert result.nll == pytest.approx(27.15, abs=0.1)  # flux throws are random in ReMU and here


def test_flux_nuisance_file_gives_components_at_the_throw_components() -> None:
    nuisance = Analysis.from_file(MODELS / "xsec_flux.yaml", [*SMALL, "cross_section.flux=nuisance"])
    assert [p.name for p in nuisance.model.free_parameters] == [*SCALES, "flux_throw"]
    point = {**dict(zip(SCALES, (0.9, 1.1, 0.3, 0.8))), "flux_throw": np.linspace(-1, 1, 8)}
    flux = nuisance.constraints[0].value(point["flux_throw"])
    linearised = nuisance.chain.linearised
    weights = linearised.variation_weights / linearised.variation_weights.sum()
    reference = xsec.flux_template_predictor(nuisance.inputs, nuisance.chain.templates).evaluate(
        weights=[0.9, 1.1, 0.3, 0.8], flux=flux
    )
    np.testing.assert_allclose(sum(nuisance.component_expected(point).values()), weights @ reference, rtol=1e-12)
