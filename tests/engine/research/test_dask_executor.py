"""Research on Dask: a real ``LocalCluster`` of 2 worker processes gives the serial answer.

The cluster is started once for the module (about 2 s). The fast tests use numpy statistics, so
the workers need not import the templates; the template permutation and walk-forward on the
shipped data, which make every worker load numba's kernels, are the slow sibling.
"""

from __future__ import annotations

import socket
import subprocess
import sys
from collections.abc import Iterator

import numpy as np
import pytest

from engine.config import ConfigError, load_settings, scheduler_address
from engine.research.dask_executor import DaskExecutor, SchedulerUnreachable
from engine.research.executor import Executor, ProcessExecutor, SerialExecutor, make_executor
from engine.research.montecarlo import CHUNK_PATHS, bootstrap, simulate, summarize
from engine.research.permutation import permutation_test


def momentum_pnl(returns: np.ndarray) -> float:
    """Mean P&L of following each asset's previous day (here, not imported from another test
    module, so the workers that unpickle it import numpy only)."""
    r = returns.reshape(returns.shape[0], -1)
    return float(np.mean(np.sign(r[:-1]) * r[1:]))


def _square_plus(x: int) -> int:
    return x * x + 1


def _offset(shared: np.ndarray, i: int) -> float:
    return float(shared[i] + i)


def _fail_on_seven(x: int) -> int:
    if x == 7:
        raise ValueError(f"task {x} failed on purpose")
    return x


@pytest.fixture(scope="module")
def cluster() -> Iterator[DaskExecutor]:
    executor = DaskExecutor("local", workers=2)
    try:
        assert executor.worker_count() == 2  # a real cluster: two worker processes
        yield executor
    finally:
        executor.close()


def _data(seed: int = 4) -> np.ndarray:
    return np.random.default_rng(seed).normal(0.0, 0.01, size=(300, 3))


def test_a_local_cluster_keeps_order_and_errors(cluster: DaskExecutor) -> None:
    assert isinstance(cluster, Executor)
    items = list(range(40, 0, -1))
    assert cluster.map(_square_plus, items) == [_square_plus(i) for i in items]
    assert cluster.map(_square_plus, []) == []
    shared = np.arange(10.0)
    assert cluster.map_shared(_offset, shared, range(10)) == [2.0 * i for i in range(10)]
    with pytest.raises(ValueError, match="task 7 failed on purpose"):
        cluster.map(_fail_on_seven, range(10))


def test_permutation_is_the_same_on_every_backend_and_the_data_goes_once(cluster: DaskExecutor) -> None:
    data = _data()
    serial = permutation_test(momentum_pnl, data, 120, seed=11, executor=SerialExecutor())
    before = cluster.scatters
    waves: list[int] = []
    on_dask = permutation_test(
        momentum_pnl, data, 120, seed=11, executor=cluster, progress=lambda done, _n: waves.append(done)
    )
    with ProcessExecutor(2) as pool:
        on_pool = permutation_test(momentum_pnl, data, 120, seed=11, executor=pool)
    assert len(waves) == 3  # five batches in waves of two: three calls to the cluster ...
    assert cluster.scatters == before + 1  # ... and the matrix was sent once
    _shared, future = cluster._shared[-1]
    holders = cluster.client.who_has([future])[future.key]
    # broadcast put it on both workers; Dask's active memory manager (ReduceReplicas, every 2 s)
    # may drop the extra copy once no task waits for it, so after a slow run one may hold it
    assert 1 <= len(holders) <= 2
    np.testing.assert_array_equal(on_dask.null, serial.null)
    np.testing.assert_array_equal(on_pool.null, serial.null)
    assert on_dask.p_value == serial.p_value == on_pool.p_value


def test_monte_carlo_chunks_agree_on_every_backend(cluster: DaskExecutor) -> None:
    returns = _data()[:, 0]
    paths = 2 * CHUNK_PATHS + 100  # three chunks
    serial = simulate(returns, "block", paths, 60, seed=9)
    assert simulate(returns, "block", paths, 60, seed=9, executor=cluster) == serial
    assert simulate(returns, "block", paths, 60, seed=10, executor=cluster) != serial
    # one chunk draws exactly what the single-shot generator draws
    assert simulate(returns, "bootstrap", 500, 60, seed=9) == summarize(bootstrap(returns, 500, 60, seed=9))


def test_an_unreachable_scheduler_names_its_address() -> None:
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    executor = make_executor("dask", scheduler=f"tcp://127.0.0.1:{port}", timeout_s=1.0)
    with pytest.raises(SchedulerUnreachable, match=rf"tcp://127\.0\.0\.1:{port} within 1 s"):
        executor.map(_square_plus, [1])
    executor.close()


@pytest.mark.parametrize("bad", ["tcp://host", "http://h:8786", "tcp://:8786", "tcp://h:0", "lokal"])
def test_a_bad_scheduler_address_is_refused(bad: str) -> None:
    with pytest.raises(ValueError, match="tcp://HOST:PORT"):
        scheduler_address(bad)
    with pytest.raises(ValueError, match="tcp://HOST:PORT"):
        DaskExecutor(bad)


def test_the_research_section_is_validated(tmp_path: pytest.TempPathFactory) -> None:
    from pathlib import Path

    path = Path(str(tmp_path)) / "c.toml"
    path.write_text('[research]\nscheduler = "tcp://10.0.0.5"\n')
    with pytest.raises(ConfigError, match=r"\[research\] scheduler: expected \"local\" or tcp://HOST:PORT"):
        load_settings(path)
    path.write_text('[research]\nscheduler = "tcp://10.0.0.5:8786"\nworkers = 4\n')
    settings = load_settings(path)
    assert settings.research.scheduler == "tcp://10.0.0.5:8786" and settings.research.workers == 4


@pytest.mark.slow  # a fresh interpreter importing the console; lint-imports guards the static imports
def test_the_console_and_the_serial_path_never_import_dask() -> None:
    code = (
        "import sys, console.app, console.cli, engine.research.runs\n"
        "from engine.research.executor import make_executor\n"
        "print(make_executor('serial').map(abs, [-1]))\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('dask', 'distributed')))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)
    ran, dask_modules = out.stdout.splitlines()[-2:]
    assert ran == "[1]"  # the serial path did run
    assert dask_modules == "[]", f"the console or the serial path imported {dask_modules}"


@pytest.mark.slow
def test_template_permutation_and_walk_forward_agree_on_every_backend(cluster: DaskExecutor) -> None:
    """The shipped data through the real templates: serial, a process pool and the cluster."""
    from engine.research.runs import run_permutation, run_walkforward
    from engine.strategies.templates.base import Bars
    from tests.shipped import shipped_subset

    bars = shipped_subset(["AAPL", "MSFT", "IBM"]).bars
    panel = {s: Bars.from_frame(s, f.loc["2006-01-01":"2011-12-31"]) for s, f in bars.items()}
    backends: list[Executor] = [SerialExecutor(), ProcessExecutor(2), cluster]
    try:
        perms = [run_permutation("trend", panel, runs=60, seed=5, executor=b) for b in backends]
        wfs = [
            run_walkforward("trend", panel, train_days=504, test_days=126, executor=b)[0] for b in backends
        ]
    finally:
        backends[1].close()
    for perm in perms[1:]:
        np.testing.assert_array_equal(perm.null, perms[0].null)
        assert perm.p_value == perms[0].p_value
    assert np.isfinite(perms[0].null).sum() > 50
    for wf in wfs[1:]:
        np.testing.assert_array_equal(wf.returns, wfs[0].returns)
        assert [w.chosen for w in wf.windows] == [w.chosen for w in wfs[0].windows]
    assert len(wfs[0].windows) >= 3
