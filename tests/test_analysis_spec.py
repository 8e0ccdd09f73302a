"""Analysis files: validation messages name the key and line; overrides; path resolution."""

from __future__ import annotations

from pathlib import Path

import pytest

from bayesfit.analysis import read_analysis
from bayesfit.errors import AnalysisFileError, BayesfitError

HESE = """\
name: hese-diffuse
binning:
  topology: {categories: [0, 1]}
  zenith:   {cos: {bins: 10}}
  energy:   {log10: {start: 6.0e4, stop: 1.0e7, bins: 20}}
data:       {path: data/hese_toy_data.json}
simulation: {path: data/hese_toy_simulation.npz, rename: {E: energy}}
components:
  atmospheric:   {weight: atmoWeight, scale: atmo_norm}
  astrophysical: {weight: astroWeight, scale: astro_norm,
                  spectrum: {power_law: {energy: primaryEnergy, index: astro_gamma,
                                         pivot: 1.0e5, generated_index: 2.5}}}
parameters:
  atmo_norm:   {prior: {HalfNormal: {sigma: 3}}, start: 1.0, bounds: [0, null]}
  astro_norm:  {prior: {HalfNormal: {sigma: 20}}, start: 8.0}
  astro_gamma: {prior: {Uniform: {lower: 1.5, upper: 4.5}}, start: 2.5}
likelihood: poisson
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "analysis.yaml"
    path.write_text(text)
    return path


def test_valid_file_resolves_paths_and_numbers(tmp_path):
    spec = read_analysis(write(tmp_path, HESE))
    assert spec.name == "hese-diffuse"
    assert list(spec.binning) == ["topology", "zenith", "energy"]
    assert spec.binning["energy"]["log10"] == {"start": 6.0e4, "stop": 1.0e7, "bins": 20}
    assert spec.data.path == tmp_path / "data" / "hese_toy_data.json"
    assert spec.simulation.path == tmp_path / "data" / "hese_toy_simulation.npz" and spec.simulation.rename == {"E": "energy"}
    power_law = spec.components["astrophysical"]["spectrum"]["power_law"]
    assert power_law["pivot"] == 1.0e5 and isinstance(power_law["pivot"], float)
    assert spec.parameters["atmo_norm"].bounds == (0, None)
    assert spec.parameters["astro_gamma"].prior == {"Uniform": {"lower": 1.5, "upper": 4.5}}
    assert spec.inference.chains == 4 and spec.likelihood == "poisson"


def test_overrides_use_dotted_keys_and_yaml_values(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    spec = read_analysis(
        write(tmp_path, HESE),
        ["likelihood=effective", "inference.draws=250", "data.path=other/events.json"],
    )
    assert spec.likelihood == "effective"
    assert spec.inference.draws == 250
    assert spec.data.path == tmp_path / "other" / "events.json"


@pytest.mark.parametrize(
    ("old", "new", "line", "words"),
    [
        ("likelihood: poisson", "likelihood: poison", 17, ["likelihood", "'poison'", "'effective'"]),
        ("pivot: 1.0e5", "pivto: 1.0e5", 12, ["power_law.pivto", "unknown key", "pivot"]),
        ("{cos: {bins: 10}}", "{cos: {bins: ten}}", 4, ["binning.zenith.cos.bins", "integer"]),
        ("{categories: [0, 1]}", "{categorys: [0, 1]}", 3, ["binning.topology", "categorys"]),
        ("start: 8.0}", "start: 8.0, bounds: [0]}", 15, ["parameters.astro_norm.bounds"]),
        ("{HalfNormal: {sigma: 3}}", "{HalfNormal: 3}", 14, ["prior.HalfNormal", "object"]),
        ("likelihood: poisson", "likelihood: poisson\nsamplr: 3", 18, ["unknown key", "samplr"]),
    ],
)
def test_errors_name_key_and_line(tmp_path, old, new, line, words):
    assert old in HESE
    path = write(tmp_path, HESE.replace(old, new, 1))
    with pytest.raises(AnalysisFileError) as raised:
        read_analysis(path)
    message = str(raised.value)
    assert f"line {line}:" in message
    for word in words:
        assert word in message


def test_malformed_yaml_gives_line(tmp_path):
    path = write(tmp_path, HESE.replace("topology: {categories: [0, 1]}", "topology: {categories: [0, 1]"))
    with pytest.raises(BayesfitError, match=r"line \d+, column \d+: malformed YAML"):
        read_analysis(path)


def test_missing_file_and_missing_key(tmp_path):
    with pytest.raises(AnalysisFileError, match="file not found"):
        read_analysis(tmp_path / "nope.yaml")
    with pytest.raises(AnalysisFileError, match="missing required key 'parameters'"):
        read_analysis(write(tmp_path, HESE.split("parameters:")[0]))


def test_bad_override_syntax(tmp_path):
    with pytest.raises(AnalysisFileError, match="expected KEY=VALUE"):
        read_analysis(write(tmp_path, HESE), ["likelihood"])
    with pytest.raises(AnalysisFileError, match="not a mapping"):
        read_analysis(write(tmp_path, HESE), ["likelihood.mode=x"])


def test_events_come_from_files_not_generators(tmp_path, monkeypatch):
    """Toy generators are example code, not an event source of analysis files; a path set on the
    command line is relative to the working directory."""
    monkeypatch.chdir(tmp_path)
    with pytest.raises(AnalysisFileError, match=r"line 7: simulation\.generator: unknown key\(s\) 'generator'.*allowed keys: branches, compress, cut, define, path, rename, tree"):
        read_analysis(write(tmp_path, HESE.replace("{path: data/hese_toy_simulation.npz, rename: {E: energy}}", "{generator: hese}")))
    spec = read_analysis(write(tmp_path, HESE), ["simulation.path=sim.json"])
    assert spec.simulation.path == tmp_path / "sim.json" and spec.simulation.rename == {"E": "energy"}


def test_enums_are_the_library_constants_and_cost_nothing_to_import(tmp_path):
    """The schema's likelihoods, samplers and statistics are the library's; reading the schema
    module imports none of the inference code (it is imported when a file is validated)."""
    import subprocess
    import sys

    from bayesfit.analysis import schema
    from bayesfit.inference.calculators import CALCULATORS
    from bayesfit.inference.posterior import SAMPLERS
    from bayesfit.inference.test_statistics import HYPOTHESIS_STATISTICS, TEST_STATISTICS
    from bayesfit.likelihood import LIKELIHOODS

    assert schema.SAMPLERS == SAMPLERS and "auto" in schema.SAMPLERS
    assert schema.LIKELIHOODS == LIKELIHOODS
    assert schema.STATISTICS == tuple(HYPOTHESIS_STATISTICS)
    assert schema.TEST_STATISTICS == tuple(TEST_STATISTICS)
    assert schema.CALCULATORS == tuple(CALCULATORS)
    code = "import sys, bayesfit.analysis.spec; print('pytensor' in sys.modules)"
    imported = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert imported.strip() == "False"
    for sampler in SAMPLERS:
        assert read_analysis(write(tmp_path, HESE + f"inference: {{sampler: {sampler}}}\n")).inference.sampler == sampler
    assert read_analysis(write(tmp_path, HESE)).inference.sampler == "auto"
    with pytest.raises(AnalysisFileError, match=r"inference\.sampler: 'stan' is not one of 'auto', 'pymc', 'nutpie'"):
        read_analysis(write(tmp_path, HESE + "inference: {sampler: stan}\n"))
    spec = read_analysis(write(tmp_path, HESE.replace("rename: {E: energy}}", "rename: {E: energy}, compress: false}")))
    assert spec.simulation.compress is False and spec.data.compress is True
    with pytest.raises(AnalysisFileError, match=r"data\.compress"):
        read_analysis(write(tmp_path, HESE.replace("{path: data/hese_toy_data.json}",
                                                   "{path: data/hese_toy_data.json, compress: false}")))
