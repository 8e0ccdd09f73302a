"""Loading events from every supported source, checked against the raw data."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from reference_data import REFERENCE
from bayesfit import load_events
from bayesfit.errors import EventsError

HESE = REFERENCE / "hese" / "synthetic-small" / "hese_toy_simulation.json"
COLUMNS = {"energy": np.array([1.0e5, 2.5e5, 7.0e4]), "topology": np.array([0.0, 1.0, 1.0])}


def assert_same(events, expected):
    assert events.variables == tuple(expected) and events.n_events == len(next(iter(expected.values())))
    for name, values in expected.items():
        np.testing.assert_array_equal(events[name], values)
        assert events[name].dtype == np.float64


def test_dict_structured_array_and_dataframe():
    assert_same(load_events(COLUMNS), COLUMNS)
    structured = np.zeros(3, dtype=[("energy", "f8"), ("topology", "i4")])
    structured["energy"], structured["topology"] = COLUMNS["energy"], COLUMNS["topology"]
    assert_same(load_events(structured), COLUMNS)
    assert_same(load_events(pd.DataFrame(COLUMNS)), COLUMNS)


def test_csv_and_seed_json_files(tmp_path):
    csv = tmp_path / "events.csv"
    csv.write_text("energy,topology\n" + "\n".join(f"{float(e)!r},{float(t)!r}" for e, t in zip(*COLUMNS.values())))
    assert_same(load_events(csv), COLUMNS)
    seed = tmp_path / "seed.json"
    rows = [[t, e] for e, t in zip(*COLUMNS.values())]
    seed.write_text(json.dumps({"mapping": {"topology": 0, "energy": 1}, "events": rows}))
    events = load_events(str(seed), rename={"energy": "reco_energy"})
    np.testing.assert_array_equal(events["reco_energy"], COLUMNS["energy"])
    np.testing.assert_array_equal(events["topology"], COLUMNS["topology"])


@pytest.mark.skipif(not HESE.is_file(), reason="reference data absent")
def test_seed_simulation_file_columns():
    raw = json.loads(HESE.read_text())
    events = load_events(HESE)
    table = np.array(raw["events"])
    assert events.n_events == len(table) == 16014
    for name, column in raw["mapping"].items():
        np.testing.assert_array_equal(events[name], table[:, column])


@pytest.mark.parametrize(
    ("source", "kwargs", "match"),
    [
        ({"a": [1.0, 2.0], "b": [1.0]}, {}, "different lengths"),
        ({"a": ["x", "y"]}, {}, "'a' is not numeric"),
        ({"a": [[1.0, 2.0]]}, {}, "must be 1-D"),
        ({"a": [1.0]}, {"rename": {"b": "c"}}, r"cannot rename \['b'\].*\['a'\]"),
        ([1.0, 2.0], {}, "cannot read events from list"),
        ("no/such/file.csv", {}, "does not exist"),
    ],
)
def test_bad_sources(source, kwargs, match):
    with pytest.raises(EventsError, match=match):
        load_events(source, **kwargs)


def test_bad_files(tmp_path):
    wrong_layout = tmp_path / "wrong.json"
    wrong_layout.write_text(json.dumps({"events": [[1.0]]}))
    with pytest.raises(EventsError, match="'mapping' and 'events'"):
        load_events(wrong_layout)
    bad_column = tmp_path / "bad.json"
    bad_column.write_text(json.dumps({"mapping": {"energy": 3}, "events": [[1.0, 2.0]]}))
    with pytest.raises(EventsError, match=r"'energy'.*column 3.*2 columns"):
        load_events(bad_column)
    unknown = tmp_path / "events.parquet"
    unknown.write_text("")
    with pytest.raises(EventsError, match="unknown event file type"):
        load_events(unknown)


def test_missing_variable_lists_what_events_have():
    with pytest.raises(EventsError, match=r"needs variable 'zenith'.*\['energy', 'topology'\]"):
        load_events(COLUMNS).column("zenith")
