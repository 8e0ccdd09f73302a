"""Bad-input corpus: every malformed input through a public entry point gives a bayesfit error.

Each case feeds one malformed input (binnings, events, predictors, models, analysis files, the CLI)
and checks three things: the exception is a :class:`bayesfit.errors.BayesfitError` of the expected
subclass, and its message names what is wrong *and* where (variable, bin, key, line, shape).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from reference_data import REFERENCE

from bayesfit.binning import Binning, CategoryAxis, Log10Axis, RectilinearBinning, RegularAxis, VariableAxis
from bayesfit.errors import (
    AnalysisFileError,
    BayesfitError,
    BinningError,
    EventsError,
    LikelihoodError,
    ModelError,
    PredictorError,
)
from bayesfit.events import load_events
from bayesfit.predictors import (
    Component,
    ConcatenatedPredictor,
    MatrixPredictor,
    ResponseMatrix,
    ReweightedMCPredictor,
    TemplatePredictor,
)

MODELS = Path(__file__).resolve().parents[1] / "models"
SMALL = REFERENCE / "hese" / "synthetic-small"
ANALYSIS = (MODELS / "hese_diffuse.yaml").read_text()


def _line_of(text: str) -> int:
    """The line number of the first line of the analysis file that starts with ``text`` (the key
    an error is located at)."""
    return next(number for number, line in enumerate(ANALYSIS.splitlines(), 1) if line.startswith(text))

ENERGY = RectilinearBinning([Log10Axis("energy", 1e4, 1e6, 4)])
TEMPLATES = np.array([[5.0, 3.0, 1.0, 0.0], [1.0, 1.0, 1.0, 1.0]])


def _model(predictor, observed, **options):
    from bayesfit.model import BinnedModel

    return BinnedModel(predictor, observed, **options)


def _analysis_file(tmp_path: Path, text: str) -> Path:
    """``text`` as an analysis file reading the small HESE reference sample."""
    text = text.replace(
        "data:       {generator: hese, options: {n_generated: 100000, seed: 20131122}}",
        f"data:       {{path: {SMALL / 'hese_toy_data.json'}}}",
    ).replace(
        "simulation: {generator: hese, options: {n_generated: 100000, seed: 20131122}}",
        f"simulation: {{path: {SMALL / 'hese_toy_simulation.json'}}}",
    )
    path = tmp_path / "analysis.yaml"
    path.write_text(text)
    return path


def _build_analysis(tmp_path: Path, old: str, new: str) -> None:
    from bayesfit.analysis import Analysis

    path = _analysis_file(tmp_path, ANALYSIS)
    text = path.read_text()
    assert old in text, old  # the corpus must really change the file
    path.write_text(text.replace(old, new))
    Analysis.from_file(path).model


def _events_file(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


# (id, action(tmp_path), expected exception, regular expressions the message must match)
CASES: list[tuple[str, Callable[[Path], object], type[BayesfitError], tuple[str, ...]]] = [
    # ------------------------------------------------------------------ binnings
    ("nan observable", lambda _: ENERGY.bin_index({"energy": [2e4, np.nan, 3e5]}),
     EventsError, ("'energy'", "NaN", "event 1")),
    ("inf observable", lambda _: ENERGY.fill({"energy": [2e4, np.inf]}),
     EventsError, ("'energy'", "infinite", "event 1")),
    ("all events outside", lambda _: ReweightedMCPredictor({"energy": [1.0, 2.0, 5e8], "w": [1.0, 1.0, 1.0]}, ENERGY,
                                                           components=[Component("w")]),
     EventsError, ("all 3 events", "outside")),
    ("strict fill with events outside", lambda _: ENERGY.fill({"energy": [2e4, 5e8]}, strict=True),
     BinningError, ("1 of 2 events", "energy")),
    ("empty binning", lambda _: RectilinearBinning([]), BinningError, ("axis|axes",)),
    ("zero bins", lambda _: RegularAxis("x", 0.0, 1.0, 0), BinningError, ("'x'", "bins")),
    ("non-increasing edges", lambda _: VariableAxis("x", (0.0, 2.0, 1.0)), BinningError,
     ("'x'", "not strictly increasing", r"edge 2 \(1\.0\) <= edge 1 \(2\.0\)")),
    ("duplicate edges", lambda _: VariableAxis("x", (0.0, 1.0, 1.0, 2.0)), BinningError,
     ("'x'", r"edge 2 \(1\.0\) <= edge 1 \(1\.0\)")),
    ("log axis start <= 0", lambda _: Log10Axis("energy", 0.0, 1e6, 4), BinningError, ("'energy'", "0|positive")),
    ("empty categories", lambda _: CategoryAxis("topology", ()), BinningError, ("'topology'", "categor")),
    ("unknown variable", lambda _: ENERGY.bin_index({"zenith": [0.1]}), EventsError, ("'energy'", "'zenith'")),
    ("observables of unequal length",
     lambda _: RectilinearBinning([RegularAxis("x", 0, 1, 2), RegularAxis("y", 0, 1, 2)]).bin_index(
         {"x": [0.1, 0.2], "y": [0.3]}), EventsError, ("different lengths", "'x': 2", "'y': 1")),
    ("binning YAML unknown key", lambda _: Binning.from_dict({"kind": "rectilinear", "axes": [{"variable": "x", "regulr": {}}]}),
     BinningError, ("regulr",)),
    ("bad binning YAML file", lambda tmp: Binning.from_yaml(_events_file(tmp, "b.yml", "axes: [\n  - {variable: x,\n")),
     BinningError, ("b.yml", "line 2")),
    # ------------------------------------------------------------------ events
    ("nan weight", lambda _: ENERGY.fill({"energy": [2e4, 3e4]}, weights=[1.0, np.nan]),
     EventsError, ("weights are NaN", "event 1")),
    ("negative weight", lambda _: ENERGY.fill({"energy": [2e4, 3e4]}, weights=[1.0, -2.0]),
     EventsError, ("weights are negative", "event 1")),
    ("weights of wrong length", lambda _: ENERGY.fill({"energy": [2e4, 3e4]}, weights=[1.0, 1.0, 1.0]),
     EventsError, (r"weights have shape \(3,\)", "2 events")),
    ("columns of unequal length", lambda _: load_events({"a": [1.0, 2.0], "b": [1.0]}), EventsError, ("'?a'?|'?b'?", "2", "1")),
    ("missing events file", lambda tmp: load_events(tmp / "nothing.json"), EventsError, ("nothing.json",)),
    ("truncated JSON", lambda tmp: load_events(_events_file(tmp, "cut.json", '{"mapping": {"energy": 0}, "events": [[1.0], [2.')),
     EventsError, ("cut.json",)),
    ("wrong JSON layout", lambda tmp: load_events(_events_file(tmp, "flat.json", '{"energy": [1.0, 2.0]}')),
     EventsError, ("flat.json", "mapping|events")),
    ("ragged JSON rows",
     lambda tmp: load_events(_events_file(tmp, "rag.json", '{"mapping": {"a": 0, "b": 1}, "events": [[1, 2], [3]]}')),
     EventsError, ("rag.json",)),
    ("unknown file type", lambda tmp: load_events(_events_file(tmp, "events.xyz", "a\n1\n")), EventsError, ("xyz|events",)),
    ("rename unknown variable", lambda _: load_events({"a": [1.0]}, rename={"b": "c"}), EventsError, ("'b'", "'a'")),
    # ------------------------------------------------------------------ predictors
    ("response column above 1", lambda _: ResponseMatrix(matrices=np.array([[0.7, 0.1], [0.6, 0.2]]), weights=[1.0]),
     PredictorError, ("truth bin 0", "efficiency", r"1\.29|1\.3")),
    ("negative response entry", lambda _: ResponseMatrix(matrices=np.array([[0.5, -0.1], [0.2, 0.2]]), weights=[1.0]),
     PredictorError, ("matrices", "negative")),
    ("universe weights of wrong shape", lambda _: ResponseMatrix(matrices=np.full((2, 2, 2), 0.1), weights=[1.0]),
     PredictorError, ("weights", r"\(1,\)", r"\(2,\)")),
    ("template of wrong rank", lambda _: TemplatePredictor(np.ones(4)), PredictorError, ("template", r"\(4,\)")),
    ("nan template", lambda _: TemplatePredictor(np.array([[1.0, np.nan]])), PredictorError, ("template", "NaN|nan|finite")),
    ("negative expected counts", lambda _: MatrixPredictor(np.array([[1.0, -3.0], [0.5, 0.5]])),
     PredictorError, ("matrix", "negative")),
    ("bin index out of range",
     lambda _: ReweightedMCPredictor({"w": [1.0, 1.0]}, [0, 7], 3, components=[Component("w")]),
     EventsError, ("event 1", "7", r"\[-1, 2\]")),
    ("unknown weight column",
     lambda _: ReweightedMCPredictor({"w": [1.0, 1.0]}, [0, 1], 2, components=[Component("weight")]),
     EventsError, ("'weight'", "'w'")),
    ("universes mismatched under same",
     lambda _: ConcatenatedPredictor([TemplatePredictor(np.ones((2, 1, 3))), TemplatePredictor(np.ones((3, 1, 3)))],
                                     combine="same"),
     PredictorError, ("same", "2", "3")),
    ("parameter outside support", lambda _: TemplatePredictor(TEMPLATES).evaluate({"weights": [1.0, -1.0]}),
     PredictorError, ("weights", "-1|support|bound")),
    ("parameter of wrong shape", lambda _: TemplatePredictor(TEMPLATES).evaluate({"weights": [1.0, 1.0, 1.0]}),
     PredictorError, ("weights", r"\(3,\)", r"\(2,\)")),
    # ------------------------------------------------------------------ models and likelihoods
    ("counts of wrong length", lambda _: _model(TemplatePredictor(TEMPLATES), [1, 2, 3]),
     LikelihoodError, ("3", "4")),
    ("negative counts", lambda _: _model(TemplatePredictor(TEMPLATES), [1, -2, 3, 0]),
     LikelihoodError, ("negative", r"bin 1|\b1\b")),
    ("non-integer counts", lambda _: _model(TemplatePredictor(TEMPLATES), [1, 2.5, 3, 0]),
     LikelihoodError, ("integer", r"\b1\b|2\.5")),
    ("data where the simulation predicts zero",
     lambda _: _model(TemplatePredictor(np.array([[5.0, 3.0, 1.0, 0.0]])), [1, 2, 3, 4]),
     LikelihoodError, ("zero", "bins 3", "k=4")),
    ("prior for unknown parameter", lambda _: _model(TemplatePredictor(TEMPLATES), [1, 2, 3, 0], priors={"norm": {"HalfNormal": {"sigma": 1}}}),
     ModelError, ("'norm'", "weights")),
    ("unknown prior distribution", lambda _: _model(TemplatePredictor(TEMPLATES), [1, 2, 3, 0], priors={"weights": {"Gaussian": {"sigma": 1}}}),
     ModelError, ("Gaussian",)),
    ("start outside bounds", lambda _: _model(TemplatePredictor(TEMPLATES), [1, 2, 3, 0], starts={"weights": -1.0}),
     ModelError, (r"'weights\[0\]'", "-1")),
    ("unknown likelihood", lambda _: _model(TemplatePredictor(TEMPLATES), [1, 2, 3, 0], likelihood="poison"),
     ModelError, ("poison", "poisson")),
    # ------------------------------------------------------------------ analysis files
    ("analysis: bad YAML", lambda tmp: _build_analysis(tmp, "  chains: 4\n", "  chains: [4\n"),
     AnalysisFileError, (f"line {_line_of('  chains: 4') + 1}", "malformed YAML")),
    ("analysis: unknown likelihood", lambda tmp: _build_analysis(tmp, "likelihood: poisson", "likelihood: poison"),
     AnalysisFileError, (f"line {_line_of('likelihood: poisson')}", "likelihood", "poison")),
    ("analysis: unknown top-level key", lambda tmp: _build_analysis(tmp, "likelihood: poisson", "likelihood: poisson\nlikelyhood: x"),
     AnalysisFileError, (f"line {_line_of('likelihood: poisson') + 1}", "unknown key.*'likelyhood'")),
    ("analysis: unknown weight variable", lambda tmp: _build_analysis(tmp, "weight: atmoWeight", "weight: atmoWeigth"),
     AnalysisFileError, (f"line {_line_of('components:')}", "'atmoWeigth'", "'atmoWeight'")),
    ("analysis: unknown binning variable", lambda tmp: _build_analysis(tmp, "  zenith:   {cos", "  zenit:   {cos"),
     AnalysisFileError, (f"line {_line_of('data:')}", "'zenit'", "'zenith'")),
    ("analysis: missing data file", lambda tmp: _build_analysis(tmp, "hese_toy_data.json", "no_such_data.json"),
     AnalysisFileError, ("data.path", "no_such_data.json", "does not exist")),
    ("analysis: parameter not used", lambda tmp: _build_analysis(
        tmp, "  astro_gamma: {prior", "  unused: {prior: {HalfNormal: {sigma: 1}}, start: 1.0}\n  astro_gamma: {prior"),
     AnalysisFileError, ("parameters.unused", "not used by any component")),
    ("analysis: no free parameters", lambda tmp: _all_fixed(tmp),
     AnalysisFileError, ("fixed", "nothing to fit")),
    ("analysis: events all outside (wrong units)", lambda tmp: _build_analysis(
        tmp, "{log10: {start: 6.0e4, stop: 1.0e7", "{log10: {start: 6.0e7, stop: 1.0e10"),
     AnalysisFileError, (r"line \d+: data:", r"all \d+ data events fall outside the binning")),
    ("analysis: start outside prior", lambda tmp: _build_analysis(tmp, "start: 2.5}", "start: 7.0}"),
     AnalysisFileError, ("'astro_gamma'", "start value 7", r"\[1\.5, 4\.5\]")),
]


def _all_fixed(tmp_path: Path) -> None:
    text = ANALYSIS
    for name, start in (("atmo_norm", "1.0"), ("astro_norm", "8.0"), ("astro_gamma", "2.5"), ("prompt_norm", "0.5")):
        text = re.sub(rf"^(  {name}:.*start: {start}[^\n]*)\}}", r"\1, fixed: true}", text, flags=re.M)
    from bayesfit.analysis import Analysis

    Analysis.from_file(_analysis_file(tmp_path, text))


@pytest.mark.parametrize(("action", "error", "patterns"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_input_raises_a_clear_bayesfit_error(tmp_path, action, error, patterns):
    with pytest.raises(error) as raised:
        action(tmp_path)
    message = str(raised.value)
    assert isinstance(raised.value, BayesfitError)
    for pattern in patterns:
        assert re.search(pattern, message), f"{pattern!r} not in {message!r}"


def test_corpus_is_large_and_distinct():
    assert len(CASES) >= 30
    assert len({case[0] for case in CASES}) == len(CASES)


# ---------------------------------------------------------------------- the command line
def _run_cli(arguments: list[str], capsys) -> tuple[int, str]:
    from bayesfit.cli import main

    code = main(arguments)
    return code, capsys.readouterr().err


@pytest.mark.parametrize(
    ("old", "new", "words"),
    [
        ("likelihood: poisson", "likelihood: poison", ("likelihood", "poison")),
        ("  chains: 4\n", "  chains: [4\n", ("line",)),
        ("hese_toy_data.json", "missing.json", ("missing.json",)),
    ],
    ids=["schema", "yaml", "missing-file"],
)
def test_cli_errors_are_one_line_without_traceback(tmp_path, capsys, old, new, words):
    path = _analysis_file(tmp_path, ANALYSIS)
    path.write_text(path.read_text().replace(old, new))
    code, error = _run_cli(["run", str(path), "--no-sample", "--quiet", "--out", str(tmp_path / "out")], capsys)
    assert code != 0
    assert error.startswith("bayesfit: error: ") and error.count("\n") == 1 and "Traceback" not in error
    for word in words:
        assert word in error
    assert not (tmp_path / "out").exists()  # nothing half-written
    with pytest.raises(BayesfitError):
        _run_cli(["--debug", "run", str(path), "--no-sample", "--quiet", "--out", str(tmp_path / "out")], capsys)


def test_cli_unknown_file_is_one_line(tmp_path, capsys):
    code, error = _run_cli(["run", str(tmp_path / "none.yaml"), "--no-sample"], capsys)
    assert code != 0 and error.count("\n") == 1 and "none.yaml" in error and "Traceback" not in error


def test_atomic_write_never_overwrites_without_force(tmp_path):
    from bayesfit.output import OutputExistsError, atomic_write

    target = tmp_path / "summary.json"
    target.write_text("user data")
    with pytest.raises(OutputExistsError, match="summary.json"):
        atomic_write(target, lambda path: path.write_text("new"))
    assert target.read_text() == "user data"

    def failing_writer(path: Path) -> None:
        path.write_text("partial")
        raise OSError("disk full")

    with pytest.raises(OSError):
        atomic_write(target, failing_writer, overwrite=True)
    assert target.read_text() == "user data"  # a failed write leaves the old file untouched
    assert sorted(p.name for p in tmp_path.iterdir()) == ["summary.json"]  # and no temporary file
    atomic_write(target, lambda path: path.write_text(json.dumps({"ok": 1})), overwrite=True)
    assert json.loads(target.read_text()) == {"ok": 1}
