"""Result folders are complete or absent: staged writes, whole-folder --force, early checks of --out,
safe file names, and interrupts of a real ``bayesfit run`` that leave nothing behind."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from reference_data import REFERENCE
from bayesfit.output import MARKER, OutputError, OutputExistsError, ResultFolder, safe_file_name

MODELS = Path(__file__).resolve().parents[1] / "models"
SMALL = REFERENCE / "hese" / "synthetic-small"


def _entries(folder: Path) -> list[str]:
    return sorted(path.name for path in folder.iterdir())


def test_a_failure_inside_the_folder_leaves_nothing(tmp_path):
    target = tmp_path / "results" / "run"
    with pytest.raises(RuntimeError, match="boom"):
        with ResultFolder(target) as folder:
            folder.write_json("summary.json", {"a": 1})
            raise RuntimeError("boom")
    assert not target.exists() and _entries(tmp_path / "results") == []  # no staging folder left


def test_force_replaces_the_folder_as_a_whole(tmp_path):
    target = tmp_path / "run"
    with ResultFolder(target) as folder:
        folder.write_json("summary.json", {"run": 1})
        folder.write("posterior.nc", lambda path: path.write_bytes(b"old posterior"))
    assert _entries(target) == sorted([MARKER, "posterior.nc", "summary.json"])
    with pytest.raises(OutputExistsError, match="--force"):
        ResultFolder(target)
    with ResultFolder(target, force=True) as folder:  # a run without sampling: no posterior any more
        folder.write_json("summary.json", {"run": 2})
    assert _entries(target) == sorted([MARKER, "summary.json"])
    assert json.loads((target / "summary.json").read_text()) == {"run": 2}
    assert _entries(tmp_path) == ["run"]


def test_force_never_removes_files_bayesfit_did_not_write(tmp_path):
    (tmp_path / "thesis").mkdir()
    (tmp_path / "thesis" / "chapter1.tex").write_text("precious")
    (tmp_path / "thesis" / "summary.json").write_text("{}")
    with pytest.raises(OutputExistsError, match="chapter1.tex.*did not write"):
        ResultFolder(tmp_path / "thesis", force=True)
    # a folder of result files from before the marker existed is a result folder
    (tmp_path / "old").mkdir()
    (tmp_path / "old" / "corner.png").write_bytes(b"png")
    ResultFolder(tmp_path / "old", force=True).commit()
    assert _entries(tmp_path / "old") == [MARKER]


def test_an_unusable_out_is_refused_before_any_work(tmp_path):
    (tmp_path / "a_file").write_text("x")
    with pytest.raises(OutputExistsError, match="is a file"):
        ResultFolder(tmp_path / "a_file")
    with pytest.raises(OutputError, match="not a writable folder"):
        ResultFolder(tmp_path / "a_file" / "below")
    if os.geteuid() != 0:  # root writes anywhere
        locked = tmp_path / "locked"
        locked.mkdir(mode=0o500)
        with pytest.raises(OutputError, match="not a writable folder"):
            ResultFolder(locked / "run")


@pytest.mark.parametrize("name, expected", [
    ("channel_x/../../../escaped.png", "channel_x_.._.._.._escaped.png"),
    ("..", "_"), ("../up", "_up"), (".hidden.png", "hidden.png"), ("profile_weights[2].png", "profile_weights_2_.png"),
    ("a b\\c:d.png", "a_b_c_d.png"), ("", "_"),
])
def test_names_from_user_input_stay_inside_the_folder(tmp_path, name, expected):
    assert safe_file_name(name) == expected
    with ResultFolder(tmp_path / "run") as folder:
        written = folder.write(name, lambda path: path.write_text("x"))
    assert written == tmp_path / "run" / expected and written.is_file()
    assert _entries(tmp_path) == ["run"]


def test_a_workspace_channel_named_like_a_path_writes_inside_the_folder(tmp_path):
    from bayesfit.analysis.run import RunOptions, run_analysis_file

    spec = json.loads((REFERENCE / "pyhf" / "sr-ee-mm-em-counting.json").read_text())
    old = spec["channels"][0]["name"]
    spec["channels"][0]["name"] = "x/../../../escaped"
    for observation in spec["observations"]:
        if observation["name"] == old:
            observation["name"] = "x/../../../escaped"
    workspace = tmp_path / "sub" / "sub" / "ws.json"
    workspace.parent.mkdir(parents=True)
    workspace.write_text(json.dumps(spec))
    options = RunOptions(out=tmp_path / "sub" / "sub" / "out", sample=False, progress=False,
                         overrides=("inference.upper_limit={}",))
    result = run_analysis_file(workspace, options)
    assert all(path.parent == result.folder for path in result.files)
    assert "channel_x_.._.._.._escaped.png" in _entries(result.folder)
    assert _entries(tmp_path) == ["sub"] and _entries(tmp_path / "sub") == ["sub"]


def _interrupt_run(tmp_path: Path, after: str, delay: float, options: tuple[str, ...]) -> tuple[int, str, Path]:
    """Start ``bayesfit run`` on the small HESE toy with ``options``, send SIGINT (as Ctrl-C does,
    to the whole process group) ``delay`` seconds after a stderr line containing ``after``."""
    out = tmp_path / "out"
    command = [
        sys.executable, "-m", "bayesfit.cli", "run", str(MODELS / "hese_diffuse.yaml"), "--out", str(out),
        "--set", f"data.path={SMALL / 'hese_toy_data.json'}", "--set", f"simulation.path={SMALL / 'hese_toy_simulation.json'}",
        "--set", "inference.upper_limit={}", "--set", "inference.hypotests={}",
        *options,
    ]
    process = subprocess.Popen(command, stderr=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                               start_new_session=True, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    seen = []
    for line in process.stderr:
        seen.append(line)
        if after in line:
            time.sleep(delay)
            os.killpg(process.pid, signal.SIGINT)
            break
    _, rest = process.communicate(timeout=300)
    return process.returncode, "".join(seen) + rest, out


SAMPLED = ("--draws", "20000", "--tune", "500")


@pytest.mark.parametrize(
    "phase, after, delay, options",
    [(None, "built <", 0.0, SAMPLED), (None, "sampling: 4 chains", 8.0, SAMPLED),
     ("figures", "profiles: ", 0.1, ("--no-sample",))],
    ids=["fit", "sampling", "figures"],
)
def test_an_interrupt_exits_130_and_writes_nothing(tmp_path, phase, after, delay, options):
    code, stderr, out = _interrupt_run(tmp_path, after, delay, options)
    assert code == 130, stderr[-2000:]
    # the figures phase reports its time last, right before the interrupt: it was interrupted
    assert phase is None or re.search(rf"\] {phase}: [0-9.]+ s\n(.*\n)?bayesfit: interrupted", stderr), stderr[-2000:]
    assert "interrupted" in stderr and "Traceback" not in stderr
    assert not out.exists() and _entries(tmp_path) == []


def test_an_analysis_named_dot_dot_writes_below_results(tmp_path, monkeypatch):
    from bayesfit.analysis.run import RunOptions, run_analysis_file

    monkeypatch.chdir(tmp_path)
    overrides = ("name=..", f"data.path={SMALL / 'hese_toy_data.json'}", f"simulation.path={SMALL / 'hese_toy_simulation.json'}",
                 "inference={}")
    result = run_analysis_file(MODELS / "hese_diffuse.yaml", RunOptions(overrides=overrides, sample=False, progress=False))
    assert result.folder == Path("results") / "_" and _entries(tmp_path) == ["results"]
    assert _entries(tmp_path / "results") == ["_"]


def test_figures_drawn_in_workers_are_the_figures_drawn_here(monkeypatch):
    import io

    import matplotlib.pyplot as plt
    import numpy as np

    from bayesfit.analysis import run
    from bayesfit.errors import BayesfitError
    from bayesfit.plots import compact_minor_ticks, plot_profile

    def profile():
        return plot_profile(np.linspace(0, 2, 5), (np.linspace(0, 2, 5) - 1) ** 2, parameter="x").figure

    jobs = [lambda: {"a.png": profile()}, lambda: {"b.png": profile(), "c.png": profile()}]
    monkeypatch.setattr(os, "sched_getaffinity", lambda _: {0, 1}, raising=False)  # two workers, forked
    forked = run._rendered(jobs)
    buffer = io.BytesIO()
    compact_minor_ticks(profile()).savefig(buffer, dpi=run._FIGURE_DPI, format="png")
    plt.close("all")
    assert [list(files) for files in forked] == [["a.png"], ["b.png", "c.png"]]
    assert all(png == buffer.getvalue() for files in forked for png in files.values())
    monkeypatch.setattr(os, "sched_getaffinity", lambda _: {0})  # one CPU: drawn here
    assert run._rendered(jobs) == forked

    def broken():
        raise BayesfitError("no figure")

    monkeypatch.setattr(os, "sched_getaffinity", lambda _: {0, 1})
    with pytest.raises(BayesfitError, match="no figure"):
        run._rendered([broken, jobs[0]])
