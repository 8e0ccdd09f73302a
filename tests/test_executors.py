"""map_chunks on every kind of executor: results in order, the payload unpickled once per worker,
errors propagated; toys and patchset limits on a dask LocalCluster equal the serial ones."""

from __future__ import annotations

import logging
import os
from concurrent.futures import ProcessPoolExecutor

import numpy as np
import pytest

from bayesfit.inference import SerialExecutor
from bayesfit.inference.executors import PROGRESS_SECONDS, TASKS_PER_WORKER, chunk_indices, map_chunks, worker_count

pytestmark = pytest.mark.filterwarnings("ignore::FutureWarning")


class Payload:
    """A payload that counts how often it is unpickled in a process."""

    unpickled = 0

    def __init__(self, offset: float) -> None:
        self.offset = offset

    def __setstate__(self, state):
        self.__dict__.update(state)
        type(self).unpickled += 1


def shifted(payload: Payload, chunk: np.ndarray) -> tuple[np.ndarray, int, int]:
    """The chunk plus the payload's offset, the worker's pid and how often it unpickled a payload."""
    if np.any(chunk < 0):
        raise ValueError(f"negative entry in chunk {chunk.tolist()}")
    return chunk + payload.offset, os.getpid(), Payload.unpickled


def check(results, chunks, offset):
    for (values, _, _), chunk in zip(results, chunks):
        np.testing.assert_array_equal(values, chunk + offset)
    by_worker = {}
    for _, pid, count in results:
        by_worker.setdefault(pid, set()).add(count)
    assert all(counts == {1} or counts == {0} for counts in by_worker.values()), by_worker  # once per worker


@pytest.fixture(scope="module")
def client():
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(n_workers=2, processes=True, threads_per_worker=1, dashboard_address=None,
                                  silence_logs=logging.ERROR) as cluster, distributed.Client(cluster) as client:
        yield client


def test_chunks_cover_the_items_in_order():
    chunks = chunk_indices(10, 2)
    assert len(chunks) == min(10, TASKS_PER_WORKER * 2)
    np.testing.assert_array_equal(np.concatenate(chunks), np.arange(10))
    assert chunk_indices(0, 2) == [] and len(chunk_indices(3, 4)) == 3
    assert worker_count(SerialExecutor(), 3) == 3 and worker_count(None) == (os.cpu_count() or 1)
    with pytest.raises(ValueError, match="at least 1"):
        worker_count(None, 0)


@pytest.mark.parametrize("kind", ["serial", "own pool", "given pool"])
def test_map_chunks_in_order_with_one_unpickling_per_worker(kind):
    chunks = [np.arange(i, i + 3, dtype=float) for i in range(0, 24, 3)]
    payload = Payload(0.5)
    if kind == "given pool":
        with ProcessPoolExecutor(2) as pool:
            results = map_chunks(shifted, payload, chunks, executor=pool)
            again = map_chunks(shifted, payload, chunks, executor=pool)  # same payload: not unpickled again
        check(results + again, chunks + chunks, 0.5)
        return
    executor = SerialExecutor() if kind == "serial" else None
    results = map_chunks(shifted, payload, chunks, executor=executor, n_workers=2)
    check(results, chunks, 0.5)
    if kind == "serial":  # the calling process uses the payload itself
        assert {pid for _, pid, _ in results} == {os.getpid()} and {count for *_, count in results} == {0}
    else:
        assert os.getpid() not in {pid for _, pid, _ in results}


def test_map_chunks_on_a_dask_client_scatters_the_payload(client):
    chunks = [np.full(2, float(i)) for i in range(8)]
    results = map_chunks(shifted, Payload(2.0), chunks, executor=client)
    check(results, chunks, 2.0)
    assert len({pid for _, pid, _ in results} - {os.getpid()}) >= 1
    assert worker_count(client) == 2


@pytest.mark.parametrize("kind", ["serial", "own pool"])
def test_a_failing_chunk_raises_its_error(kind):
    chunks = [np.ones(2), -np.ones(2), np.ones(2)]
    with pytest.raises(ValueError, match="negative entry in chunk"):
        map_chunks(shifted, Payload(0.0), chunks, executor=SerialExecutor() if kind == "serial" else None, n_workers=2)


def test_progress_is_logged(monkeypatch, caplog):
    monkeypatch.setattr("bayesfit.inference.executors.PROGRESS_SECONDS", 0.0)
    caplog.set_level(logging.DEBUG, logger="bayesfit.inference.executors")
    map_chunks(shifted, Payload(0.0), [np.ones(1)] * 3, executor=SerialExecutor(), what="demo")
    messages = [record.getMessage() for record in caplog.records]
    assert messages[:2] == ["demo: 1 of 3 chunks done in 0 s", "demo: 2 of 3 chunks done in 0 s"]
    assert messages[2].startswith("demo: 3 chunks in ") and PROGRESS_SECONDS > 0


def test_toys_on_a_dask_client_equal_the_serial_toys(client):
    from bayesfit.inference import toy_pvalue
    from bayesfit.model import BinnedModel
    from bayesfit.predictors import TemplatePredictor

    model = BinnedModel(TemplatePredictor(np.array([[8.0, 6.0, 4.0, 3.0], [1.0, 2.0, 3.0, 5.0]])), [9, 8, 6, 9])
    serial = toy_pvalue(model, {"weights[1]": 1.5}, n_toys=24, executor=SerialExecutor(), seed=4)
    on_dask = toy_pvalue(model, {"weights[1]": 1.5}, n_toys=24, executor=client, seed=4)
    np.testing.assert_array_equal(on_dask.toys.statistics, serial.toys.statistics)
    assert serial.toys.n_failed == 0


def test_patchset_limits_on_a_dask_client_equal_the_serial_ones(client):
    from pathlib import Path

    from bayesfit.histfactory import PatchsetHypotheses
    from bayesfit.inference import limit_scan

    inputs = Path(__file__).resolve().parents[1] / "models" / "inputs" / "patchset"
    hypotheses = PatchsetHypotheses(inputs / "background.json", inputs / "patchset.json")
    names = ["signal_1200_0"]
    serial = limit_scan(hypotheses, names=names, executor=SerialExecutor())
    on_dask = limit_scan(hypotheses, names=names, executor=client)
    np.testing.assert_array_equal(on_dask.observed, serial.observed)
    np.testing.assert_array_equal(on_dask.expected, serial.expected)
    assert on_dask.names == names and np.isfinite(serial.observed).all()
