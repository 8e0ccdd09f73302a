"""Bad-input corpus: every malformed input through a public entry point gives a bayesfit error.

The corpus is organised by family: events, binnings, predictors and models, analysis files and
the CLI, workspaces, statistics, and interruption and the file system. Each case feeds one
malformed input and checks three things: the exception is a
:class:`bayesfit.errors.BayesfitError`, it is of the expected subclass, and its message names
what is wrong *and* where (file, line, key, parameter, column, bin, JSON path, shape).

Statistics edge cases that must give *correct numbers* rather than errors (ties at a boundary,
one toy, an interval at a physical bound, negative expectations, huge counts, empty but valid
event files) have their own tests after the corpus.
"""

from __future__ import annotations

import copy
import functools
import json
import re
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from reference_data import REFERENCE

from bayesfit.analysis.source import load_located_yaml
from bayesfit.binning import Binning, CategoryAxis, CosAxis, Log10Axis, RectilinearBinning, RegularAxis, VariableAxis
from bayesfit.binning.hierarchical import HierarchicalBinning
from bayesfit.binning.product import ProductBinning
from bayesfit.datasets.seed_json import read_seed_json, write_seed_json
from bayesfit.errors import (
    AnalysisFileError,
    BayesfitError,
    BinningError,
    EventsError,
    InferenceError,
    LikelihoodError,
    ModelError,
    PredictorError,
    WorkspaceError,
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
from bayesfit.priors import as_prior

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
        "data:       {path: inputs/hese/data.npz}",
        f"data:       {{path: {SMALL / 'hese_toy_data.json'}}}",
    ).replace(
        "simulation: {path: inputs/hese/simulation.npz}",
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


def _file(tmp_path: Path, name: str, text: str | bytes) -> Path:
    """``text`` (or bytes) written to ``tmp_path / name``."""
    path = tmp_path / name
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text)
    return path


#: The start of a PNG file: not UTF-8 text.
BINARY = b"\x89PNG\r\n\x1a\n\x00\x00\xff\xfe"

Case = tuple[str, Callable[[Path], object], type[BayesfitError], tuple[str, ...]]

# (id, action(tmp_path), expected exception, regular expressions the message must match)
EVENTS: list[Case] = [
    ("nan weight", lambda _: ENERGY.fill({"energy": [2e4, 3e4]}, weights=[1.0, np.nan]),
     EventsError, ("weights are NaN", "event 1")),
    ("infinite weight", lambda _: ENERGY.fill({"energy": [2e4, 3e4]}, weights=[np.inf, 1.0]),
     EventsError, ("NaN or infinite", "event 0")),
    ("negative weight", lambda _: ENERGY.fill({"energy": [2e4, 3e4]}, weights=[1.0, -2.0]),
     EventsError, ("weights are negative", "event 1")),
    ("negative scalar weight", lambda _: ENERGY.fill({"energy": [2e4, 3e4]}, weights=-1.0),
     EventsError, ("2 of 2 weights are negative", "event 0")),
    ("weights of wrong length", lambda _: ENERGY.fill({"energy": [2e4, 3e4]}, weights=[1.0, 1.0, 1.0]),
     EventsError, (r"weights have shape \(3,\)", "2 events")),
    ("weights of wrong rank", lambda _: ENERGY.fill({"energy": [2e4, 3e4]}, weights=[[1.0, 1.0]]),
     EventsError, (r"weights have shape \(1, 2\)", "2 events")),
    ("columns of unequal length", lambda _: load_events({"a": [1.0, 2.0], "b": [1.0]}), EventsError, ("'?a'?|'?b'?", "2", "1")),
    ("column of strings", lambda _: load_events({"a": ["x", "y"]}), EventsError, ("'a'", "not numeric")),
    ("column of rank 2", lambda _: load_events({"a": np.ones((2, 2))}), EventsError, ("'a'", "1-D", r"\(2, 2\)")),
    ("source of unknown type", lambda _: load_events(42), EventsError, ("int", "dict of arrays")),
    ("missing events file", lambda tmp: load_events(tmp / "nothing.json"), EventsError, ("nothing.json",)),
    ("directory as events file", lambda tmp: load_events(tmp), EventsError, ("does not exist",)),
    ("unknown file type", lambda tmp: load_events(_file(tmp, "events.xyz", "a\n1\n")), EventsError, ("xyz|events",)),
    ("truncated JSON", lambda tmp: load_events(_file(tmp, "cut.json", '{"mapping": {"energy": 0}, "events": [[1.0], [2.')),
     EventsError, ("cut.json", "not valid JSON", "line 1")),
    ("binary JSON file", lambda tmp: load_events(_file(tmp, "png.json", BINARY)),
     EventsError, ("png.json", "not a UTF-8 text file", "byte 0x89 on line 1")),
    ("binary CSV file", lambda tmp: load_events(_file(tmp, "png.csv", BINARY)),
     EventsError, ("png.csv", "not a UTF-8 text file", "byte 0x89")),
    ("binary file through read_seed_json", lambda tmp: read_seed_json(_file(tmp, "png.json", BINARY)),
     EventsError, ("png.json", "not a UTF-8 text file")),
    ("wrong JSON layout", lambda tmp: load_events(_file(tmp, "flat.json", '{"energy": [1.0, 2.0]}')),
     EventsError, ("flat.json", "mapping|events")),
    ("JSON list at top level", lambda tmp: load_events(_file(tmp, "list.json", "[[1.0, 2.0]]")),
     EventsError, ("list.json", "'mapping' and 'events'")),
    ("ragged JSON rows",
     lambda tmp: load_events(_file(tmp, "rag.json", '{"mapping": {"a": 0, "b": 1}, "events": [[1, 2], [3]]}')),
     EventsError, ("rag.json", "equally long rows")),
    ("JSON rows of strings",
     lambda tmp: load_events(_file(tmp, "str.json", '{"mapping": {"a": 0}, "events": [["x"], ["y"]]}')),
     EventsError, ("str.json", "rows of numbers")),
    ("JSON events a number", lambda tmp: load_events(_file(tmp, "num.json", '{"mapping": {"a": 0}, "events": 5}')),
     EventsError, ("num.json", "list of rows", r"shape \(\)")),
    ("JSON mapping a list", lambda tmp: load_events(_file(tmp, "map.json", '{"mapping": [0], "events": [[1.0]]}')),
     EventsError, ("map.json", "'mapping'", "map column names to positions")),
    ("JSON mapping outside the rows",
     lambda tmp: load_events(_file(tmp, "out.json", '{"mapping": {"a": 0, "b": 2}, "events": [[1, 2]]}')),
     EventsError, ("out.json", r"mapping\['b'\] = 2", "rows have 2 columns")),
    ("JSON mapping negative", lambda tmp: load_events(_file(tmp, "neg.json", '{"mapping": {"a": -1}, "events": [[1]]}')),
     EventsError, ("neg.json", r"mapping\['a'\] = -1")),
    ("JSON mapping a boolean", lambda tmp: load_events(_file(tmp, "bool.json", '{"mapping": {"a": true}, "events": [[1]]}')),
     EventsError, ("bool.json", r"mapping\['a'\] = True")),
    ("JSON mapping a string", lambda tmp: load_events(_file(tmp, "s.json", '{"mapping": {"a": "0"}, "events": [[1]]}')),
     EventsError, ("s.json", r"mapping\['a'\] = '0'")),
    ("JSON mapping repeats a name",
     lambda tmp: load_events(_file(tmp, "dup.json", '{"mapping": {"a": 0, "a": 1}, "events": [[1, 2]]}')),
     EventsError, ("dup.json", "repeats the key 'a'")),
    ("JSON document repeats a key",
     lambda tmp: load_events(_file(tmp, "dup2.json", '{"mapping": {"a": 0}, "events": [[1]], "events": [[2]]}')),
     EventsError, ("dup2.json", "repeats the key 'events'")),
    ("CSV header repeats a name", lambda tmp: load_events(_file(tmp, "dup.csv", "a,b,a\n1,2,3\n")),
     EventsError, ("dup.csv", r"repeats column name\(s\) \['a'\]")),
    ("CSV without a header", lambda tmp: load_events(_file(tmp, "empty.csv", "")),
     EventsError, ("empty.csv", "cannot parse CSV")),
    ("CSV column of words", lambda tmp: load_events(_file(tmp, "words.csv", "a,b\n1,x\n")),
     EventsError, ("'b'", "not numeric")),
    ("rename unknown variable", lambda _: load_events({"a": [1.0]}, rename={"b": "c"}), EventsError, ("'b'", "'a'")),
    ("rename onto an existing column", lambda _: load_events({"a": [1.0], "b": [2.0]}, rename={"a": "b"}),
     EventsError, ("two columns the name 'b'", "'a' and 'b'")),
    ("rename two columns onto one name",
     lambda _: load_events({"a": [1.0], "b": [2.0]}, rename={"a": "c", "b": "c"}),
     EventsError, ("two columns the name 'c'",)),
    ("rename in a file onto an existing column",
     lambda tmp: load_events(_file(tmp, "r.csv", "zenith_rad,zenith\n1,2\n"), rename={"zenith_rad": "zenith"}),
     EventsError, ("'zenith'", "'zenith_rad'")),
    ("write_seed_json without columns", lambda tmp: write_seed_json({}, tmp / "w.json"),
     EventsError, ("w.json", "no columns")),
    ("write_seed_json of unequal columns", lambda tmp: write_seed_json({"a": np.ones(2), "b": np.ones(3)}, tmp / "w.json"),
     EventsError, ("'b'", r"\(3,\)", "'a'")),
    ("write_seed_json of strings", lambda tmp: write_seed_json({"a": np.array(["x"])}, tmp / "w.json"),
     EventsError, ("'a'", "dtype", "numbers")),
]

BINNINGS: list[Case] = [
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
    ("fractional bins", lambda _: RegularAxis("x", 0.0, 1.0, 2.5), BinningError, ("'x'", "integer number of bins", "2.5")),
    ("boolean bins", lambda _: RegularAxis("x", 0.0, 1.0, True), BinningError, ("'x'", "integer number of bins")),
    ("start above stop", lambda _: RegularAxis("x", 2.0, 1.0, 3), BinningError, ("'x'", "start < stop", "start=2.0")),
    ("non-numeric start", lambda _: RegularAxis("x", "a", 1.0, 3), BinningError, ("'x'", "start='a'")),
    ("infinite stop", lambda _: RegularAxis("x", 0.0, np.inf, 3), BinningError, ("'x'", "finite")),
    ("non-increasing edges", lambda _: VariableAxis("x", (0.0, 2.0, 1.0)), BinningError,
     ("'x'", "not strictly increasing", r"edge 2 \(1\.0\) <= edge 1 \(2\.0\)")),
    ("duplicate edges", lambda _: VariableAxis("x", (0.0, 1.0, 1.0, 2.0)), BinningError,
     ("'x'", r"edge 2 \(1\.0\) <= edge 1 \(1\.0\)")),
    ("edges a string", lambda _: VariableAxis("x", "0 1 2"), BinningError, ("'x'", "list of numbers", "'0 1 2'")),
    ("edges of strings", lambda _: VariableAxis("x", ("a", "b")), BinningError, ("'x'", "list of numbers")),
    ("nested edges", lambda _: VariableAxis("x", [[0.0, 1.0], [2.0]]), BinningError, ("'x'", "list of numbers")),
    ("edges a number", lambda _: VariableAxis("x", 5), BinningError, ("'x'", "at least 2 edges", "5")),
    ("a single edge", lambda _: VariableAxis("x", [1.0]), BinningError, ("'x'", "at least 2 edges")),
    ("NaN edge", lambda _: VariableAxis("x", [0.0, np.nan, 1.0]), BinningError, ("'x'", "NaN")),
    ("include_upper with right_closed", lambda _: VariableAxis("x", [0.0, 1.0], include_upper=True, right_closed=True),
     BinningError, ("'x'", "include_upper", "right_closed")),
    ("log axis start <= 0", lambda _: Log10Axis("energy", 0.0, 1e6, 4), BinningError, ("'energy'", "0|positive")),
    ("cos axis beyond 1", lambda _: CosAxis("zenith", 4, cos_min=-2.0), BinningError, ("'zenith'", "-1 <= cos_min")),
    ("empty categories", lambda _: CategoryAxis("topology", ()), BinningError, ("'topology'", "categor")),
    ("fractional category", lambda _: CategoryAxis("topology", (0, 1.5)), BinningError, ("'topology'", "integers", "1.5")),
    ("repeated category", lambda _: CategoryAxis("topology", (0, 1, 1)), BinningError, ("'topology'", "repeat")),
    ("one variable on two axes", lambda _: RectilinearBinning([RegularAxis("x", 0, 1, 2), RegularAxis("x", 1, 2, 2)]),
     BinningError, (r"\['x'\]", "more than one axis")),
    ("axis without a variable name", lambda _: RectilinearBinning([RegularAxis("", 0, 1, 2)]),
     BinningError, ("variable name",)),
    ("unknown variable", lambda _: ENERGY.bin_index({"zenith": [0.1]}), EventsError, ("'energy'", "'zenith'")),
    ("observables of unequal length",
     lambda _: RectilinearBinning([RegularAxis("x", 0, 1, 2), RegularAxis("y", 0, 1, 2)]).bin_index(
         {"x": [0.1, 0.2], "y": [0.3]}), EventsError, ("different lengths", "'x': 2", "'y': 1")),
    ("size overflowing int64", lambda _: RectilinearBinning([RegularAxis(f"x{i}", 0, 1, 10**6) for i in range(4)]),
     BinningError, ("x0", r"1000000 x 1000000 x 1000000 x 1000000", "10{24}", "more than a binning may have")),
    ("one axis of 10^12 bins", lambda _: RegularAxis("x", 0, 1, 10**12), BinningError, ("'x'", "1000000000000 bins")),
    ("product too large", lambda _: ProductBinning([RectilinearBinning([RegularAxis(v, 0, 1, 2**16)]) for v in "abc"]),
     BinningError, ("product binning", "65536 x 65536 x 65536")),
    ("product sharing a variable", lambda _: ProductBinning([ENERGY, ENERGY]), BinningError, ("share", "'energy'")),
    ("sub-binning of a missing bin", lambda _: HierarchicalBinning(ENERGY, {7: ENERGY}), BinningError,
     ("key 7", r"0\.\.3")),
    # binning descriptions and YAML
    ("binning YAML unknown axis key", lambda _: Binning.from_dict({"kind": "rectilinear", "axes": [{"variable": "x", "regulr": {}}]}),
     BinningError, ("regulr",)),
    ("binning YAML unknown binning key",
     lambda _: Binning.from_dict({"kind": "rectilinear", "axes": [], "axis": []}), BinningError, (r"\['axis'\]", "rectilinear")),
    ("binning YAML unknown kind", lambda _: Binning.from_dict({"kind": "polar"}), BinningError, ("'polar'",)),
    ("binning YAML not a mapping", lambda _: Binning.from_yaml("- 1\n- 2\n"), BinningError, ("mapping", "list")),
    ("binning YAML axes not a list", lambda _: Binning.from_dict({"kind": "rectilinear", "axes": {"x": 1}}),
     BinningError, ("'axes'",)),
    ("binning YAML two kinds of axis",
     lambda _: Binning.from_dict({"kind": "rectilinear", "axes": [{"variable": "x", "edges": [0, 1], "categories": [0]}]}),
     BinningError, ("'x'", "exactly one of")),
    ("binning YAML axis options not a mapping",
     lambda _: Binning.from_dict({"kind": "rectilinear", "axes": [{"variable": "x", "regular": 5}]}),
     BinningError, ("regular axis 'x'", "mapping of options")),
    ("binning YAML unknown axis option",
     lambda _: Binning.from_dict({"kind": "rectilinear", "axes": [{"variable": "x", "regular": {"start": 0, "stop": 1, "bins": 2, "step": 1}}]}),
     BinningError, ("regular axis 'x'", "step")),
    ("binning YAML variable not a name",
     lambda _: Binning.from_dict({"kind": "rectilinear", "axes": [{"variable": 5, "edges": [0, 1]}]}),
     BinningError, ("'variable'", "5")),
    ("binning YAML edges of strings",
     lambda _: Binning.from_dict({"kind": "rectilinear", "axes": [{"variable": "x", "edges": "abc"}]}),
     BinningError, ("'x'", "list of numbers")),
    ("binning YAML sub-binning key not a number",
     lambda _: Binning.from_dict({"kind": "hierarchical", "top": ENERGY.to_dict(), "subbinnings": {"a": ENERGY.to_dict()}}),
     BinningError, ("sub-binning key 'a'", "bin number")),
    ("binning YAML sub-binnings not a mapping",
     lambda _: Binning.from_dict({"kind": "hierarchical", "top": ENERGY.to_dict(), "subbinnings": [1]}),
     BinningError, ("'subbinnings'",)),
    ("binning YAML hierarchical without top", lambda _: Binning.from_dict({"kind": "hierarchical"}),
     BinningError, ("mapping", "NoneType")),
    ("binning YAML product binnings not a list", lambda _: Binning.from_dict({"kind": "product", "binnings": 5}),
     BinningError, ("'binnings'", "5")),
    ("binning YAML too many bins",
     lambda _: Binning.from_dict({"kind": "rectilinear", "axes": [
         {"variable": f"x{i}", "regular": {"start": 0, "stop": 1, "bins": 10**7}} for i in range(3)]}),
     BinningError, ("10000000 x 10000000 x 10000000", "more than a binning may have")),
    ("bad binning YAML file", lambda tmp: Binning.from_yaml(_file(tmp, "b.yml", "axes: [\n  - {variable: x,\n")),
     BinningError, ("b.yml", "line 2")),
    ("binning YAML duplicate key",
     lambda tmp: Binning.from_yaml(_file(tmp, "d.yml", "kind: rectilinear\naxes: []\nkind: product\n")),
     BinningError, ("d.yml", "duplicate key 'kind'", "first given on line 1, again on line 3")),
    ("binning YAML recursive alias",
     lambda tmp: Binning.from_yaml(_file(tmp, "r.yml", "kind: rectilinear\naxes: &a [*a]\n")),
     BinningError, ("r.yml", "recursive alias", "line 2")),
    ("binning YAML alias bomb", lambda tmp: Binning.from_yaml(_file(tmp, "bomb.yml", _alias_bomb(12))),
     BinningError, ("bomb.yml", "alias bomb", "100000")),
    ("binary binning file", lambda tmp: Binning.from_yaml(_file(tmp, "png.yaml", BINARY)),
     BinningError, ("png.yaml", "not a UTF-8 text file", "byte 0x89")),
    ("missing binning file", lambda tmp: Binning.from_yaml(tmp / "none.yaml"), BinningError, ("none.yaml", "does not exist")),
    # ReMU's tagged YAML
    ("ReMU edges a number", lambda _: Binning.from_yaml("!LinearBinning\nvariable: x\nbin_edges: 5\n"),
     BinningError, ("'x'", "at least 2 edges")),
    ("ReMU edges of strings", lambda _: Binning.from_yaml("!LinearBinning\nvariable: x\nbin_edges: [a, b]\n"),
     BinningError, ("'x'", "list of numbers")),
    ("ReMU decreasing edges", lambda _: Binning.from_yaml("!LinearBinning\nvariable: x\nbin_edges: [3, 2, 1]\n"),
     BinningError, ("'x'", "not strictly increasing")),
    ("ReMU unknown tag", lambda _: Binning.from_yaml("!PolarBinning\nvariable: x\n"),
     BinningError, ("'!PolarBinning'", "line 1")),
    ("ReMU missing key", lambda _: Binning.from_yaml("!LinearBinning\nvariable: x\n"),
     BinningError, ("!LinearBinning", "line 1", r"missing keys \['bin_edges'\]")),
    ("ReMU variables and edges differ",
     lambda _: Binning.from_yaml("!RectilinearBinning\nvariables: [x, y]\nbin_edges: [[0, 1]]\n"),
     BinningError, ("!RectilinearBinning", "2 variables but 1 lists")),
    ("ReMU edges not a list",
     lambda _: Binning.from_yaml("!RectilinearBinning\nvariables: [x]\nbin_edges: 3\n"),
     BinningError, ("!RectilinearBinning", "must be lists")),
    ("ReMU product binnings not a list", lambda _: Binning.from_yaml("!CartesianProductBinning\nbinnings: 3\n"),
     BinningError, ("!CartesianProductBinning", "'binnings' must be a list")),
    ("ReMU phase space without the variable",
     lambda _: Binning.from_yaml("!LinearBinning\nvariable: x\nbin_edges: [0, 1]\nphasespace: !PhaseSpace [y]\n"),
     BinningError, ("phase space", "'x'")),
    ("ReMU sub-binning key not a number",
     lambda _: Binning.from_yaml("!LinearBinning\nvariable: x\nbin_edges: [0, 1]\nsubbinnings: {a: !LinearBinning {variable: y, bin_edges: [0, 1]}}\n"),
     BinningError, ("sub-binning key 'a'",)),
    ("ReMU duplicate key", lambda _: Binning.from_yaml("!LinearBinning\nvariable: x\nvariable: y\nbin_edges: [0, 1]\n"),
     BinningError, ("duplicate key 'variable'", "line 2, again on line 3")),
]

PREDICTORS_AND_MODELS: list[Case] = [
    # predictors
    ("response column above 1", lambda _: ResponseMatrix(matrices=np.array([[0.7, 0.1], [0.6, 0.2]]), weights=[1.0]),
     PredictorError, ("truth bin 0", "efficiency", r"1\.29|1\.3")),
    ("negative response entry", lambda _: ResponseMatrix(matrices=np.array([[0.5, -0.1], [0.2, 0.2]]), weights=[1.0]),
     PredictorError, ("matrices", "negative")),
    ("universe weights of wrong shape", lambda _: ResponseMatrix(matrices=np.full((2, 2, 2), 0.1), weights=[1.0]),
     PredictorError, ("weights", r"\(1,\)", r"\(2,\)")),
    ("template of wrong rank", lambda _: TemplatePredictor(np.ones(4)), PredictorError, ("template", r"\(4,\)")),
    ("nan template", lambda _: TemplatePredictor(np.array([[1.0, np.nan]])), PredictorError, ("template", "NaN|nan|finite")),
    ("negative template", lambda _: TemplatePredictor(np.array([[1.0, -0.5]])), PredictorError, ("template", "negative")),
    ("identical templates", lambda _: TemplatePredictor(np.array([[1.0, 2.0, 3.0], [1.0, 2.0, 3.0]]), labels=["a", "b"]),
     PredictorError, (r"template 1 \('b'\) is 1 x template 0 \('a'\)", "proportional")),
    ("proportional templates", lambda _: TemplatePredictor(np.array([[1.0, 2.0, 3.0], [5.0, 5.0, 5.0], [2.0, 4.0, 6.0]])),
     PredictorError, ("template 2 is 2 x template 0", "cannot tell apart")),
    ("proportional in every universe",
     lambda _: TemplatePredictor(np.array([[[1.0, 2.0], [3.0, 6.0]], [[2.0, 1.0], [6.0, 3.0]]])),
     PredictorError, ("template 1 is 3 x template 0",)),
    ("template zero everywhere", lambda _: TemplatePredictor(np.array([[1.0, 2.0], [0.0, 0.0]]), labels=["b", "s"]),
     PredictorError, (r"template 1 \('s'\)", "zero in every bin")),
    ("template labels of wrong count", lambda _: TemplatePredictor(TEMPLATES, labels=["a"]),
     PredictorError, ("1 labels for 2 templates",)),
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
    ("parameter not finite", lambda _: TemplatePredictor(TEMPLATES).evaluate({"weights": [1.0, np.nan]}),
     PredictorError, ("'weights'", "non-finite")),
    # priors: arguments against the distribution's signature, values against its domain
    ("prior with an unknown argument", lambda _: as_prior({"HalfNormal": {"sigma": 3, "mu": 1}}),
     ModelError, ("'HalfNormal'", r"unknown argument\(s\) \['mu'\]", r"takes \['sigma'\]")),
    ("prior with a negative scale", lambda _: as_prior({"HalfNormal": {"sigma": -3}}),
     ModelError, (r"HalfNormal\(sigma=-3\)", "'sigma' must be > 0")),
    ("prior with a zero rate", lambda _: as_prior({"Exponential": {"lam": 0}}), ModelError, ("'lam' must be > 0",)),
    ("prior with a negative entry of a vector scale", lambda _: as_prior({"Normal": {"mu": 0, "sigma": [1, -1]}}),
     ModelError, ("'sigma' must be > 0",)),
    ("prior missing an argument", lambda _: as_prior({"Normal": {"mu": 0}}), ModelError, ("'Normal'", r"\['sigma'\]")),
    ("prior argument a boolean", lambda _: as_prior({"Normal": {"mu": True, "sigma": 1}}),
     ModelError, ("'mu' = True", "not a number")),
    ("prior argument a list of words", lambda _: as_prior({"Normal": {"mu": ["a"], "sigma": 1}}),
     ModelError, ("'mu'", "not a number")),
    ("prior argument NaN", lambda _: as_prior({"Normal": {"mu": float("nan"), "sigma": 1}}), ModelError, ("'mu' must be finite",)),
    ("prior argument name not a string", lambda _: as_prior({"Normal": {1: 0, "sigma": 1}}),
     ModelError, ("'Normal'", "argument names must be strings", r"\[1\]")),
    ("prior arguments not a mapping", lambda _: as_prior({"Normal": [0, 1]}), ModelError, ("'Normal'", "mapping")),
    ("prior of two distributions", lambda _: as_prior({"Normal": {"mu": 0, "sigma": 1}, "Gamma": {"alpha": 1, "beta": 1}}),
     ModelError, ("cannot read prior specification",)),
    ("prior Uniform with lower above upper", lambda _: as_prior({"Uniform": {"lower": 3, "upper": 1}}),
     ModelError, ("Uniform", r"empty support \[3, 1\]")),
    ("prior TruncatedNormal with empty support",
     lambda _: as_prior({"TruncatedNormal": {"mu": 0, "sigma": 1, "lower": 2, "upper": 1}}),
     ModelError, ("TruncatedNormal", "empty support")),
    ("prior Beta with alpha 0", lambda _: as_prior({"Beta": {"alpha": 0, "beta": 1}}), ModelError, ("'alpha' must be > 0",)),
    ("prior StudentT with nu 0", lambda _: as_prior({"StudentT": {"nu": 0, "mu": 0, "sigma": 1}}),
     ModelError, ("'nu' must be > 0",)),
    ("prior naming an empty hyperparameter", lambda _: as_prior({"Normal": {"mu": "", "sigma": 1}}),
     ModelError, ("'mu'", "empty hyperparameter")),
    ("prior MvNormal not positive definite", lambda _: as_prior({"MvNormal": {"mu": [0, 0], "cov": [[1, 2], [2, 1]]}}),
     ModelError, ("MvNormal", "not positive definite", "-1")),
    ("prior MvNormal not symmetric", lambda _: as_prior({"MvNormal": {"mu": [0, 0], "cov": [[1, 0.5], [0, 1]]}}),
     ModelError, ("MvNormal", "not symmetric")),
    ("prior MvNormal of the wrong size", lambda _: as_prior({"MvNormal": {"mu": [0, 0], "cov": np.eye(3).tolist()}}),
     ModelError, ("2 x 2 matrix", r"\(3, 3\)")),
    ("unknown prior distribution", lambda _: _model(TemplatePredictor(TEMPLATES), [1, 2, 3, 0], priors={"weights": {"Gaussian": {"sigma": 1}}}),
     ModelError, ("Gaussian",)),
    ("bad prior of a model parameter", lambda _: _model(TemplatePredictor(TEMPLATES), [1, 2, 3, 0],
                                                        priors={"weights[1]": {"HalfNormal": {"sigma": 3, "mu": 1}}}),
     ModelError, (r"priors: 'weights\[1\]'", r"unknown argument\(s\) \['mu'\]")),
    ("prior for unknown parameter", lambda _: _model(TemplatePredictor(TEMPLATES), [1, 2, 3, 0], priors={"norm": {"HalfNormal": {"sigma": 1}}}),
     ModelError, ("'norm'", "weights")),
    # models and likelihoods
    ("counts of wrong length", lambda _: _model(TemplatePredictor(TEMPLATES), [1, 2, 3]),
     LikelihoodError, ("3", "4")),
    ("counts of rank 2", lambda _: _model(TemplatePredictor(TEMPLATES), [[1, 2, 3, 0]]),
     LikelihoodError, (r"\(1, 4\)", r"\(4,\)")),
    ("negative counts", lambda _: _model(TemplatePredictor(TEMPLATES), [1, -2, 3, 0]),
     LikelihoodError, ("negative", r"bin 1|\b1\b")),
    ("NaN counts", lambda _: _model(TemplatePredictor(TEMPLATES), [1, 2, np.nan, 0]),
     LikelihoodError, ("bin 2", "not finite")),
    ("non-integer counts", lambda _: _model(TemplatePredictor(TEMPLATES), [1, 2.5, 3, 0]),
     LikelihoodError, ("integer", r"\b1\b|2\.5")),
    ("data where the simulation predicts zero",
     lambda _: _model(TemplatePredictor(np.array([[5.0, 3.0, 1.0, 0.0]])), [1, 2, 3, 4]),
     LikelihoodError, ("zero", "bins 3", "k=4")),
    ("start outside bounds", lambda _: _model(TemplatePredictor(TEMPLATES), [1, 2, 3, 0], starts={"weights": -1.0}),
     ModelError, (r"'weights\[0\]'", "-1")),
    ("unknown likelihood", lambda _: _model(TemplatePredictor(TEMPLATES), [1, 2, 3, 0], likelihood="poison"),
     ModelError, ("poison", "poisson")),
    ("unknown systematics mode", lambda _: _model(TemplatePredictor(TEMPLATES), [1, 2, 3, 0], systematics="average"),
     ModelError, ("'average'", "marginalise")),
    ("marginalising a single universe", lambda _: _model(TemplatePredictor(TEMPLATES), [1, 2, 3, 0], systematics="marginalise"),
     ModelError, ("K = 1",)),
    ("bad non_centered option", lambda _: _model(TemplatePredictor(TEMPLATES), [1, 2, 3, 0], non_centered="sometimes"),
     ModelError, ("non_centered", "'sometimes'")),
    ("fixed value of an unknown entry", lambda _: _model(TemplatePredictor(TEMPLATES), [1, 2, 3, 0], fixed={"weights[7]": 1.0}),
     ModelError, (r"weights\[7\]",)),
    ("poi naming a vector", lambda _: _model(TemplatePredictor(TEMPLATES), [1, 2, 3, 0], poi="weights"),
     ModelError, ("poi", "'weights'", "2 entries")),
    ("effective likelihood without sums of squared weights",
     lambda _: _model(TemplatePredictor(TEMPLATES), [1, 2, 3, 0], likelihood="effective"),
     ModelError, ("'effective'", "squared weights")),
    ("extra term that is not a scalar",
     lambda _: _model(TemplatePredictor(TEMPLATES), [1, 2, 3, 0], extra_terms={"vector": lambda v: v["weights"]}),
     ModelError, ("extra term 'vector'", "scalar")),
    ("extra term that fails",
     lambda _: _model(TemplatePredictor(TEMPLATES), [1, 2, 3, 0], extra_terms={"typo": lambda v: v["wieghts"]}),
     ModelError, ("extra term 'typo'", "wieghts")),
]

ANALYSIS_FILES_AND_CLI: list[Case] = [
    ("analysis: bad YAML", lambda tmp: _build_analysis(tmp, "  chains: 4\n", "  chains: [4\n"),
     AnalysisFileError, (f"line {_line_of('  chains: 4') + 1}", "malformed YAML")),
    ("analysis: likelihood given twice", lambda tmp: _build_analysis(tmp, "likelihood: poisson", "likelihood: poisson\nlikelihood: effective"),
     AnalysisFileError, (f"line {_line_of('likelihood: poisson') + 1}", "duplicate key 'likelihood'",
                         f"first given on line {_line_of('likelihood: poisson')}, again on line {_line_of('likelihood: poisson') + 1}")),
    ("analysis: parameter given twice", lambda tmp: _build_analysis(
        tmp, "  astro_gamma: {prior", "  astro_norm: {start: 3.0}\n  astro_gamma: {prior"),
     AnalysisFileError, ("duplicate key 'astro_norm'", f"first given on line {_line_of('  astro_norm')}")),
    ("analysis: prior argument given twice", lambda tmp: _build_analysis(
        tmp, "{HalfNormal: {sigma: 3}}", "{HalfNormal: {sigma: 3, sigma: 4}}"),
     AnalysisFileError, (f"line {_line_of('  atmo_norm')}", "duplicate key 'sigma'")),
    ("analysis: recursive alias", lambda tmp: _build_analysis(tmp, "likelihood: poisson", "likelihood: poisson\nloop: &a [*a]"),
     AnalysisFileError, (f"line {_line_of('likelihood: poisson') + 1}", "recursive alias")),
    ("analysis: alias bomb", lambda tmp: _build_analysis(tmp, "likelihood: poisson", "likelihood: poisson\n" + _alias_bomb(40)),
     AnalysisFileError, ("malformed YAML", "alias bomb")),
    ("analysis: nested too deeply", lambda tmp: _build_analysis(tmp, "likelihood: poisson", "likelihood: poisson\ndeep: " + "[" * 5000),
     AnalysisFileError, ("nested too deeply",)),
    ("analysis: binary file", lambda tmp: load_located_yaml(_file(tmp, "analysis.yaml", BINARY)),
     AnalysisFileError, ("analysis.yaml", "not a UTF-8 text file", "byte 0x89 on line 1")),
    ("analysis: binary after some text", lambda tmp: load_located_yaml(_file(tmp, "half.yaml", b"name: x\nbinning:\n\xff\n")),
     AnalysisFileError, ("half.yaml", "byte 0xff on line 3")),
    ("analysis: empty file", lambda tmp: load_located_yaml(_file(tmp, "empty.yaml", "")),
     AnalysisFileError, ("empty.yaml", "empty")),
    ("analysis: missing file", lambda tmp: load_located_yaml(tmp / "none.yaml"), AnalysisFileError, ("none.yaml", "not found")),
    ("analysis: unknown likelihood", lambda tmp: _build_analysis(tmp, "likelihood: poisson", "likelihood: poison"),
     AnalysisFileError, (f"line {_line_of('likelihood: poisson')}", "likelihood", "poison")),
    ("analysis: unknown top-level key", lambda tmp: _build_analysis(tmp, "likelihood: poisson", "likelihood: poisson\nlikelyhood: x"),
     AnalysisFileError, (f"line {_line_of('likelihood: poisson') + 1}", "unknown key.*'likelyhood'")),
    ("analysis: prior with an unknown argument", lambda tmp: _build_analysis(
        tmp, "{HalfNormal: {sigma: 3}}", "{HalfNormal: {sigma: 3, mu: 1}}"),
     AnalysisFileError, (f"line {_line_of('  atmo_norm')}: parameters.atmo_norm.prior", r"unknown argument\(s\) \['mu'\]")),
    ("analysis: prior with a negative scale", lambda tmp: _build_analysis(
        tmp, "{HalfNormal: {sigma: 3}}", "{HalfNormal: {sigma: -3}}"),
     AnalysisFileError, (f"line {_line_of('  atmo_norm')}: parameters.atmo_norm.prior", "'sigma' must be > 0")),
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


def _alias_bomb(levels: int) -> str:
    """YAML of ``levels`` lines, each an anchored list of nine aliases of the line before: 9^levels
    nodes when expanded."""
    lines = ["b0: &b0 [x, x, x, x, x, x, x, x, x]"]
    lines += [f"b{i}: &b{i} [{', '.join([f'*b{i - 1}'] * 9)}]" for i in range(1, levels)]
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------- workspaces
WORKSPACE = {
    "version": "1.0.0",
    "channels": [{"name": "SR", "samples": [
        {"name": "signal", "data": [5.0, 10.0], "modifiers": [{"name": "mu", "type": "normfactor", "data": None}]},
        {"name": "background", "data": [50.0, 60.0],
         "modifiers": [{"name": "uncorr", "type": "shapesys", "data": [5.0, 12.0]}]},
    ]}],
    "observations": [{"name": "SR", "data": [53.0, 65.0]}],
    "measurements": [{"name": "meas", "config": {"poi": "mu", "parameters": []}}],
}


def _workspace(change: Callable[[dict], object]) -> object:
    """Build the model of :data:`WORKSPACE` after ``change`` edited a copy of it."""
    from bayesfit.histfactory import build_model

    spec = copy.deepcopy(WORKSPACE)
    change(spec)
    return build_model(spec)


def _signal(spec: dict) -> dict:
    return spec["channels"][0]["samples"][0]


def _background(spec: dict) -> dict:
    return spec["channels"][0]["samples"][1]


def _parameters(spec: dict) -> list:
    return spec["measurements"][0]["config"]["parameters"]


def _load_workspace(path: Path) -> object:
    from bayesfit.histfactory import load_workspace

    return load_workspace(path)


def _build_workspace(**options) -> object:
    from bayesfit.histfactory import build_model

    return build_model(copy.deepcopy(WORKSPACE), **options)


def _workspace_analysis(tmp_path: Path, settings: str) -> object:
    """Build the analysis of :data:`WORKSPACE` from a file ``name``/``workspace`` + ``settings``."""
    from bayesfit.analysis import Analysis

    (tmp_path / "ws.json").write_text(json.dumps(WORKSPACE))
    return Analysis.from_file(_file(tmp_path, "analysis.yaml", "name: ws\nworkspace: {path: ws.json}\n" + settings))


WORKSPACES: list[Case] = [
    ("workspace: not an object", lambda _: _workspace(lambda w: w.clear() or w.update({"version": "1.0.0"})),
     WorkspaceError, ("channels", "non-empty list")),
    ("workspace: version missing", lambda _: _workspace(lambda w: w.pop("version")), WorkspaceError, ("version", "missing")),
    ("workspace: unsupported version", lambda _: _workspace(lambda w: w.update(version="2.0.0")),
     WorkspaceError, ("version", "'2.0.0'")),
    ("workspace: no channels", lambda _: _workspace(lambda w: w.update(channels=[])), WorkspaceError, ("channels",)),
    ("workspace: channel name a number", lambda _: _workspace(lambda w: w["channels"][0].update(name=5)),
     WorkspaceError, (r"channels\[0\]\.name", "expected str, got int")),
    ("workspace: duplicate sample", lambda _: _workspace(lambda w: w["channels"][0]["samples"].append(copy.deepcopy(_signal(w)))),
     WorkspaceError, (r"channels\[0\]\.samples\[2\]\.name", "duplicate sample 'signal'")),
    ("workspace: sample of the wrong length", lambda _: _workspace(lambda w: _background(w).update(data=[1.0])),
     WorkspaceError, (r"channels\[0\]\.samples\[1\]\.data", "1 bins, expected 2")),
    ("workspace: infinite sample count", lambda _: _workspace(lambda w: _signal(w).update(data=[np.inf, 1.0])),
     WorkspaceError, (r"samples\[0\]\.data\[0\]", "finite number")),
    ("workspace: sample count a string", lambda _: _workspace(lambda w: _signal(w).update(data=["5", 1.0])),
     WorkspaceError, (r"samples\[0\]\.data\[0\]", "'5'")),
    ("workspace: negative nominal expectation", lambda _: _workspace(lambda w: _background(w).update(data=[-50.0, 60.0])),
     WorkspaceError, (r"channels\[0\]\.samples", "'SR'", "sum to -45 in bin 0", "impossible")),
    ("workspace: modifiers not a list", lambda _: _workspace(lambda w: _signal(w).update(modifiers={})),
     WorkspaceError, (r"samples\[0\]\.modifiers", "expected list")),
    ("workspace: unknown modifier type", lambda _: _workspace(lambda w: _signal(w)["modifiers"][0].update(type="normfactr")),
     WorkspaceError, (r"modifiers\[0\]\.type", "'normfactr'")),
    ("workspace: normfactor with data", lambda _: _workspace(lambda w: _signal(w)["modifiers"][0].update(data=[1.0])),
     WorkspaceError, (r"modifiers\[0\]\.data", "data null")),
    ("workspace: negative shapesys uncertainty",
     lambda _: _workspace(lambda w: _background(w)["modifiers"][0].update(data=[-5.0, 12.0])),
     WorkspaceError, (r"samples\[1\]\.modifiers\[0\]\.data\[0\]", "shapesys uncertainty must be >= 0", "-5")),
    ("workspace: negative staterror uncertainty",
     lambda _: _workspace(lambda w: _background(w)["modifiers"].append({"name": "stat", "type": "staterror", "data": [1.0, -1.0]})),
     WorkspaceError, (r"modifiers\[1\]\.data\[1\]", "staterror uncertainty")),
    ("workspace: staterror of the wrong length",
     lambda _: _workspace(lambda w: _background(w)["modifiers"].append({"name": "stat", "type": "staterror", "data": [1.0]})),
     WorkspaceError, (r"modifiers\[1\]\.data", "1 bins, expected 2")),
    ("workspace: normsys factor below 0",
     lambda _: _workspace(lambda w: _background(w)["modifiers"].append({"name": "n", "type": "normsys", "data": {"hi": 1.1, "lo": -0.9}})),
     WorkspaceError, (r"modifiers\[1\]\.data", "> 0", "lo=-0.9")),
    ("workspace: histosys without lo_data",
     lambda _: _workspace(lambda w: _background(w)["modifiers"].append({"name": "h", "type": "histosys", "data": {"hi_data": [1.0, 2.0]}})),
     WorkspaceError, (r"modifiers\[1\]\.data\.lo_data", "missing")),
    ("workspace: one name for two modifier types",
     lambda _: _workspace(lambda w: _background(w)["modifiers"].append({"name": "mu", "type": "normsys", "data": {"hi": 1.1, "lo": 0.9}})),
     WorkspaceError, ("'mu' is a normfactor", "but a normsys")),
    ("workspace: observation of the wrong length", lambda _: _workspace(lambda w: w["observations"][0].update(data=[1.0])),
     WorkspaceError, (r"observations\[0\]\.data", "expected 2")),
    ("workspace: negative observation", lambda _: _workspace(lambda w: w["observations"][0].update(data=[-1.0, 3.0])),
     WorkspaceError, (r"observations\[0\]\.data\[0\]", ">= 0")),
    ("workspace: observation of an unknown channel", lambda _: _workspace(lambda w: w["observations"][0].update(name="CR")),
     WorkspaceError, (r"observations\[0\]\.name", "'CR'")),
    ("workspace: unknown POI", lambda _: _workspace(lambda w: w["measurements"][0]["config"].update(poi="mux")),
     WorkspaceError, (r"measurements\[0\]\.config\.poi", "'mux'")),
    ("workspace: fixed POI", lambda _: _workspace(lambda w: _parameters(w).append({"name": "mu", "fixed": True})),
     WorkspaceError, ("POI 'mu' is fixed",)),
    ("workspace: parameter configured twice",
     lambda _: _workspace(lambda w: _parameters(w).extend([{"name": "mu"}, {"name": "mu"}])),
     WorkspaceError, (r"parameters\[1\]\.name", "second configuration of 'mu'")),
    ("workspace: unknown configuration key", lambda _: _workspace(lambda w: _parameters(w).append({"name": "mu", "init": [1.0]})),
     WorkspaceError, (r"parameters\[0\]\.init", "unknown key")),
    ("workspace: bounds reversed", lambda _: _workspace(lambda w: _parameters(w).append({"name": "mu", "bounds": [[5, 0]]})),
     WorkspaceError, (r"parameters\[0\]\.bounds\[0\]", "low 5 is above high 0")),
    ("workspace: bounds of the wrong count",
     lambda _: _workspace(lambda w: _parameters(w).append({"name": "mu", "bounds": [[0, 1], [0, 2]]})),
     WorkspaceError, (r"parameters\[0\]\.bounds", "2 value\\(s\\) for parameter 'mu', expected 1")),
    ("workspace: start outside the bounds",
     lambda _: _workspace(lambda w: _parameters(w).append({"name": "mu", "bounds": [[0, 1]], "inits": [5.0]})),
     ModelError, ("'mu'", "start value 5", r"\[0, 1\]")),
    ("workspace: factors of a normfactor", lambda _: _workspace(lambda w: _parameters(w).append({"name": "mu", "factors": [1.0]})),
     WorkspaceError, (r"parameters\[0\]\.factors", "normfactor", "takes no factors")),
    ("workspace: fixed not a boolean", lambda _: _workspace(lambda w: _parameters(w).append({"name": "mu", "fixed": "yes"})),
     WorkspaceError, (r"parameters\[0\]\.fixed", "true or false")),
    ("workspace: lumi without configuration",
     lambda _: _workspace(lambda w: _signal(w)["modifiers"].append({"name": "lumi", "type": "lumi", "data": None})),
     WorkspaceError, ("lumi parameter 'lumi' needs inits",)),
    ("workspace: binary file", lambda tmp: _load_workspace(_file(tmp, "ws.json", BINARY)),
     WorkspaceError, ("ws.json", "not a UTF-8 text file", "byte 0x89")),
    ("workspace: repeated key", lambda tmp: _load_workspace(_file(tmp, "dup.json", json.dumps(WORKSPACE)[:-1] + ', "version": "1.0.0"}')),
     WorkspaceError, ("dup.json", "repeats the key 'version'")),
    ("workspace: truncated file", lambda tmp: _load_workspace(_file(tmp, "cut.json", json.dumps(WORKSPACE)[:40])),
     WorkspaceError, ("cut.json", "not valid JSON", "line 1, column")),
    ("workspace: missing file", lambda tmp: _load_workspace(tmp / "none.json"), WorkspaceError, ("none.json", "cannot read")),
    ("workspace: patch removing nothing",
     lambda _: __import__("bayesfit.histfactory", fromlist=["load_workspace"]).load_workspace(
         WORKSPACE, patches=[[{"op": "remove", "path": "/channels/5"}]]),
     WorkspaceError, ("patch", "cannot apply")),
    ("workspace: patchset without a name",
     lambda _: __import__("bayesfit.histfactory", fromlist=["load_workspace"]).load_workspace(WORKSPACE, patches=[{"patches": []}]),
     WorkspaceError, ("patchset", "name of the patch")),
    ("workspace: unknown measurement", lambda _: __import__("bayesfit.histfactory", fromlist=["build_model"]).build_model(
        copy.deepcopy(WORKSPACE), "other"), WorkspaceError, ("measurements", "'other'", r"\['meas'\]")),
    ("workspace: unknown interpolation code", lambda _: _build_workspace(normsys_code="7"),
     WorkspaceError, ("normsys", "'7'")),
    ("workspace: unknown likelihood", lambda _: _build_workspace(likelihood="poison"), WorkspaceError, ("'poison'",)),
    ("workspace: prior of a constrained parameter", lambda _: _build_workspace(priors={"uncorr": {"Normal": {"mu": 1, "sigma": 1}}}),
     ModelError, (r"'uncorr\[0\]'", "constrained")),
    ("workspace analysis: setting of an unknown parameter", lambda tmp: _workspace_analysis(
        tmp, "parameters:\n  mu: {prior: {HalfNormal: {sigma: 5}}}\n  mu_sig: {prior: flat, start: 1.0, fixed: true}\n"),
     AnalysisFileError, ("line 5: parameters.mu_sig", "'mu_sig' is not a parameter of the workspace", r"\['mu', 'uncorr'\]")),
    ("workspace: prior with an unknown argument", lambda _: _build_workspace(priors={"mu": {"HalfNormal": {"sigma": 3, "mu": 1}}}),
     ModelError, ("'HalfNormal'", r"\['mu'\]")),
]


# ---------------------------------------------------------------------- statistics
@functools.cache
def _statistics_model():
    """A two-template model (background ``b``, signal ``s``) whose objective every statistics case shares."""
    from bayesfit.model import BinnedModel

    return BinnedModel(TemplatePredictor(TEMPLATES, labels=["s", "b"]), [6, 4, 2, 1], poi="weights[s]",
                       priors={"weights[s]": {"Beta": {"alpha": 2, "beta": 2}}})


def _inference(name: str) -> Callable:
    import bayesfit.inference

    return getattr(bayesfit.inference, name)


STATISTICS: list[Case] = [
    ("fit: fixed value outside the support", lambda _: _inference("fit")(_statistics_model(), fixed={"weights[s]": -1.0}),
     ModelError, ("fixed", r"weights\[s\] = -1", r"outside its bounds \[0, 1\]")),
    ("fit: fixed value not finite", lambda _: _inference("fit")(_statistics_model(), fixed={"weights[b]": np.nan}),
     ModelError, ("fixed", r"weights\[b\] = nan", "not finite")),
    ("fit: fixed value of an unknown entry", lambda _: _inference("fit")(_statistics_model(), fixed={"weights[x]": 1.0}),
     ModelError, (r"weights\[x\]",)),
    ("fit: bounds leaving nothing", lambda _: _inference("fit")(_statistics_model(), bounds={"weights[b]": (2.0, 1.0)}),
     ModelError, (r"weights\[b\]", "empty range")),
    ("fit: start outside the support", lambda _: _inference("fit")(_statistics_model(), starts=[{"weights": [-0.5, 1.0]}]),
     ModelError, ("start", r"weights\[s\] = -0\.5", r"outside its bounds \[0, 1\]")),
    ("objective: point outside the support", lambda _: _inference("objective_for")(_statistics_model())(np.array([0.5, -1.0])),
     ModelError, ("objective", r"weights\[b\] = -1", r"outside its bounds \[0, inf\]")),
    ("objective: Hessian at a point not finite",
     lambda _: _inference("objective_for")(_statistics_model()).hessian(np.array([np.nan, 1.0])),
     ModelError, ("hessian", r"weights\[s\] = nan", "not finite")),
    ("fit: unknown kind", lambda _: _inference("fit")(_statistics_model(), kind="bayes"), ModelError, ("'bayes'",)),
    ("fit: data of the wrong length", lambda _: _inference("fit")(_statistics_model(), observed=[1, 2]),
     LikelihoodError, (r"\(2,\)", r"\(4,\)")),
    ("profile: value outside the support", lambda _: _inference("profile_likelihood")(_statistics_model(), "weights[s]", [-1.0, 0.5]),
     ModelError, ("profile", r"weights\[s\] = -1", r"\[0, 1\]")),
    ("profile: value above the support", lambda _: _inference("profile_likelihood")(_statistics_model(), "weights[s]", [0.5, 1.5]),
     ModelError, ("profile", r"weights\[s\] = 1\.5", r"\[0, 1\]")),
    ("profile: no start with finite -ln L at a scanned value",
     lambda _: _inference("profile_likelihood")(
         _model(TemplatePredictor(np.array([[1.0, 2.0, 3.0], [3.0, 1.0, 0.5]]), lower=-10.0), [0, 5, 9]),
         "weights[0]", [-1.0, 3.0]),
     InferenceError, (r"profile of weights\[0\] at weights\[0\] = -1", "not finite", "negative")),
    ("profile: no values", lambda _: _inference("profile_likelihood")(_statistics_model(), "weights[s]", []),
     InferenceError, (r"weights\[s\]", "no values")),
    ("profile: a vector", lambda _: _inference("profile_likelihood")(_statistics_model(), "weights", [1.0]),
     InferenceError, ("cannot profile 'weights'",)),
    ("profile: while holding it fixed",
     lambda _: _inference("profile_likelihood")(_statistics_model(), "weights[s]", [0.5], fixed={"weights[s]": 0.5}),
     InferenceError, (r"weights\[s\]", "holding it fixed")),
    ("profile 2-D: one entry twice",
     lambda _: _inference("profile_likelihood_2d")(_statistics_model(), ("weights[s]", "weights[s]"), [0.5], [0.5]),
     InferenceError, ("two different entries",)),
    ("wilks: value outside the support", lambda _: _inference("wilks_pvalue")(_statistics_model(), {"weights[s]": -1.0}),
     ModelError, ("hypothesis", r"weights\[s\] = -1", r"\[0, 1\]")),
    ("wilks: empty hypothesis", lambda _: _inference("wilks_pvalue")(_statistics_model(), {}), ModelError, ("fixes no parameter",)),
    ("wilks: every entry fixed",
     lambda _: _inference("wilks_pvalue")(_statistics_model(), {"weights[s]": 0.5, "weights[b]": 1.0}),
     ModelError, ("all 2 free entries", "goodness_of_fit")),
    ("toys: value outside the support", lambda _: _inference("toy_pvalue")(_statistics_model(), {"weights[s]": 2.0}, n_toys=2),
     ModelError, ("hypothesis", r"weights\[s\] = 2", r"\[0, 1\]")),
    ("toys: generating point outside the support",
     lambda _: _inference("generate_toys")(_statistics_model(), {"weights": [0.5, -2.0]}, 3, seed=1),
     ModelError, ("toys", r"weights\[b\] = -2", r"outside its bounds \[0, inf\]")),
    ("asimov data: point outside the support",
     lambda _: _inference("asimov_data")(_statistics_model(), {"weights": [1.5, 1.0]}),
     ModelError, ("asimov data", r"weights\[s\] = 1\.5", r"\[0, 1\]")),
    ("toys: generating point of the wrong shape",
     lambda _: _inference("generate_toys")(_statistics_model(), {"weights": [0.5, 1.0, 1.0]}, 3, seed=1),
     ModelError, ("toys", "'weights'", r"\(3,\)", r"\(2,\)")),
    ("toys: no toys", lambda _: _inference("generate_toys")(_statistics_model(), _statistics_model().start_point(), 0, seed=1),
     ModelError, ("n_toys", "0")),
    ("toys: unknown statistic", lambda _: _inference("toy_pvalue")(_statistics_model(), {"weights[s]": 0.5}, statistic="chi2"),
     ModelError, ("'chi2'",)),
    ("hypotest: unknown test statistic", lambda _: _inference("hypotest")(_statistics_model(), 0.5, test_statistic="q1"),
     ModelError, ("'q1'",)),
    ("hypotest: POI value outside the support", lambda _: _inference("hypotest")(_statistics_model(), 3.0),
     ModelError, (r"weights\[s\] = 3", r"\[0, 1\]")),
    ("savage-dickey: value outside the support", lambda _: _inference("savage_dickey")(_statistics_model(), "weights[s]", 2.0),
     ModelError, ("savage_dickey", r"weights\[s\] = 2", r"\[0, 1\]")),
    ("savage-dickey: prior density zero", lambda _: _inference("savage_dickey")(_statistics_model(), "weights[s]", 0.0),
     ModelError, ("savage_dickey", r"prior density of 'weights\[s\]' at 0 is zero")),
    ("savage-dickey: improper flat prior", lambda _: _inference("savage_dickey")(_statistics_model(), "weights[b]", 1.0),
     ModelError, ("savage_dickey", r"'weights\[b\]'", "improper flat prior")),
    ("bayes factor: unknown method", lambda _: _inference("bayes_factor")(_statistics_model(), {"weights[s]": 0.0}, method="bic"),
     ModelError, ("'bic'", "smc")),
    ("goodness of fit: more parameters than bins",
     lambda _: _inference("goodness_of_fit")(_model(TemplatePredictor(np.array([[1.0, 2.0], [2.0, 1.0]])), [3, 3])),
     ModelError, ("2: bins and auxiliary data", r"free parameters \(2\)")),
]

FAMILIES: dict[str, list[Case]] = {
    "events": EVENTS,
    "binnings": BINNINGS,
    "predictors and models": PREDICTORS_AND_MODELS,
    "analysis files and CLI": ANALYSIS_FILES_AND_CLI,
    "workspaces": WORKSPACES,
    "statistics": STATISTICS,
}
CASES: list[Case] = [case for cases in FAMILIES.values() for case in cases]


def _all_fixed(tmp_path: Path) -> None:
    text = ANALYSIS
    for name, start in (("atmo_norm", "1.0"), ("astro_norm", "8.0"), ("astro_gamma", "2.5"), ("prompt_norm", "0.5")):
        text = re.sub(rf"^(  {name}:.*start: {start}[^\n]*)\}}", r"\1, fixed: true}", text, flags=re.M)
    from bayesfit.analysis import Analysis

    Analysis.from_file(_analysis_file(tmp_path, text))


@pytest.mark.parametrize(("action", "error", "patterns"), [c[1:] for c in CASES],
                         ids=[f"{family}: {c[0]}" for family, cases in FAMILIES.items() for c in cases])
def test_bad_input_raises_a_clear_bayesfit_error(tmp_path, action, error, patterns):
    with pytest.raises(error) as raised:
        action(tmp_path)
    message = str(raised.value)
    assert isinstance(raised.value, BayesfitError)
    for pattern in patterns:
        assert re.search(pattern, message), f"{pattern!r} not in {message!r}"


def test_corpus_is_large_and_distinct():
    sizes = {family: len(cases) for family, cases in FAMILIES.items()}
    assert all(size >= 20 for size in sizes.values()), sizes
    assert len(CASES) >= 200
    assert len({case[0] for case in CASES}) == len(CASES)


# ---------------------------------------------------------------------- empty but valid inputs
def test_empty_but_valid_event_files_are_tables_of_no_events(tmp_path):
    """A seed file with no rows (as write_seed_json writes empty columns) and a header-only CSV
    are valid tables of 0 events, not errors."""
    written = write_seed_json({"energy": np.zeros(0), "zenith": np.zeros(0)}, tmp_path / "none.json")
    assert json.loads(written.read_text()) == {"mapping": {"energy": 0, "zenith": 1}, "events": []}
    for events in (load_events(written), read_seed_json(written)):
        assert list(events) == ["energy", "zenith"] and all(len(events[name]) == 0 for name in events)
    sparse = _file(tmp_path, "sparse.json", '{"mapping": {"energy": 3}, "events": []}')
    assert load_events(sparse).n_events == 0
    header_only = load_events(_file(tmp_path, "header.csv", "energy,zenith\n"))
    assert header_only.n_events == 0 and header_only.variables == ("energy", "zenith")
    assert ENERGY.fill(header_only).n_outside == 0


def test_renames_may_swap_names():
    swapped = load_events({"a": [1.0], "b": [2.0]}, rename={"a": "b", "b": "a"})
    assert swapped["b"].tolist() == [1.0] and swapped["a"].tolist() == [2.0]


def test_yaml_aliases_and_merges_within_limits_are_expanded():
    document = load_located_yaml("<string>", text="base: &p {sigma: 3}\na: *p\nb: {<<: *p, sigma: 4}\n")
    assert document.data == {"base": {"sigma": 3}, "a": {"sigma": 3}, "b": {"sigma": 4}}
    assert document.line_of(("b", "sigma")) == 3
    assert len(load_located_yaml("<string>", text=_alias_bomb(5)).data) == 5  # 9^5 nodes: below the limit


def test_flat_priors_bounded_on_one_side_build_a_pymc_model():
    """Per-entry lower bounds of a flat vector (template weights >= 0) used to fail in PyMC's Interval."""
    model = _model(TemplatePredictor(TEMPLATES), [1, 2, 3, 0])
    assert "weights" in model.pymc_model.named_vars


def test_workspace_configuration_of_an_absent_parameter_is_ignored_with_a_warning(caplog):
    from bayesfit.histfactory import build_model

    spec = copy.deepcopy(WORKSPACE)
    _parameters(spec).append({"name": "pruned_np", "inits": [1.0]})
    with caplog.at_level("WARNING", logger="bayesfit.histfactory.build"):
        model = build_model(spec)
    assert [p.name for p in model.parameters] == ["mu", "uncorr"]
    assert "config.parameters[0]: no parameter 'pruned_np'" in caplog.text


# ---------------------------------------------------------------------- statistics: correct numbers
def test_toy_ties_within_tolerance_count_as_reaching_the_data():
    """An observed statistic at its boundary (0 up to rounding) is reached by every toy: p = 1."""
    from bayesfit.inference.results import ToyResult

    toys = ToyResult(np.array([0.0, -1e-14, 3e-15, 0.7, 2.0]), {})
    assert toys.tail_fraction(1e-14) == (1.0, pytest.approx(1 - 0.317311 ** (1 / 5)), None)
    assert toys.tail_fraction(0.7)[0] == pytest.approx(0.4)


def test_toy_pvalue_at_the_boundary_is_one():
    from bayesfit.inference import SerialExecutor, toy_pvalue

    model = _model(TemplatePredictor(TEMPLATES * 2), [0, 1, 1, 1])  # the best fit has weights[0] = 0
    result = toy_pvalue(model, {"weights[0]": 0.0}, n_toys=12, executor=SerialExecutor(), n_workers=1)
    assert result.statistic == pytest.approx(0.0, abs=1e-9)
    assert result.p_value == 1.0 and result.p_value_upper_limit is None


def test_one_toy_gives_an_upper_limit_and_an_error_not_zero_plus_minus_zero():
    from bayesfit.inference import SerialExecutor, toy_pvalue

    result = toy_pvalue(_statistics_model(), {"weights[s]": 0.0}, n_toys=1, executor=SerialExecutor(), n_workers=1)
    if result.p_value == 0.0:
        assert result.p_value_upper_limit == pytest.approx(0.95)
    assert result.p_value_error == pytest.approx(0.682689)
    assert result.to_dict()["toys"] == {"toys": 1, "failed": 0, "seed": 0}


def test_interval_at_a_physical_bound_is_closed_there_even_if_the_scan_starts_above_it():
    from bayesfit.inference import profile_likelihood

    model = _model(TemplatePredictor(TEMPLATES * 2), [0, 1, 1, 1])  # the best fit has weights[0] = 0
    full = profile_likelihood(model, "weights[0]", np.linspace(0.0, 1.0, 41))
    above = profile_likelihood(model, "weights[0]", np.linspace(0.05, 1.0, 39))
    for scan in (full, above):
        lower, upper = scan.interval()
        assert lower == 0.0 and upper == pytest.approx(full.interval()[1], abs=1e-3)
        assert scan.interval_ends() == ("bound", "crossing")
        assert scan.to_dict()["interval_68_ends"] == ["bound", "crossing"]
    short = profile_likelihood(model, "weights[0]", [0.01, 0.02])
    assert short.interval() == (0.0, np.inf) and short.interval_ends() == ("bound", "open")


def test_negative_expectations_are_impossible():
    """Weights allowed below 0: -ln L is +inf wherever a rate is negative, so the fit never buys
    likelihood with negative rates (it used to fit a weight of -5.17)."""
    from bayesfit.inference import Objective, fit

    templates = np.array([[1.0, 2.0, 3.0], [3.0, 1.0, 0.5]])
    model = _model(TemplatePredictor(templates, lower=-10.0), [0, 5, 9])
    assert Objective(model)(np.array([1.0, -2.0])) == np.inf  # rates (-5, 0, 2)
    result = fit(model)
    assert np.all(result.values["weights"] @ templates >= -1e-9)


def test_huge_counts_of_an_exact_fit_converge():
    """Convergence is judged relative to the problem's scale: 1e9 counts fitted exactly converge."""
    from bayesfit.inference import fit

    templates = np.array([[1e9, 2e9, 3e9], [1e9, 1e9, 1e9]])
    result = fit(_model(TemplatePredictor(templates), [2e9, 3e9, 4e9]))
    assert result.converged
    np.testing.assert_allclose(result.values["weights"], [1.0, 1.0], rtol=1e-6)


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
        ("likelihood: poisson", "likelihood: poisson\nlikelihood: effective", ("duplicate key 'likelihood'", "line")),
        ("likelihood: poisson", "likelihood: poisson\nloop: &a [*a]", ("recursive alias", "line")),
        ("{HalfNormal: {sigma: 3}}", "{HalfNormal: {sigma: 3, mu: 1}}", ("parameters.atmo_norm.prior", "['mu']")),
    ],
    ids=["schema", "yaml", "missing-file", "duplicate-key", "recursive-alias", "prior-argument"],
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
