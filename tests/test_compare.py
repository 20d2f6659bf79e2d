"""nnref.compare: the timings and counts behind the book's NumPy/torch comparisons."""

from __future__ import annotations

import time

import numpy as np
import pytest

import nnref
from nnref.backend import Backend, cuda_available
from nnref.compare import (
    backends_to_compare,
    clock,
    compare_backends,
    count_calls,
    dense_step,
    one_cpu_thread,
    seconds_per_call,
)
from nnref.models import MLP
from nnref.optim import fit

TORCH_CPU = Backend("torch", "cpu")


def busy(n=20_000):
    total = 0
    for i in range(n):
        total += i * i
    return total


def test_seconds_per_call_is_the_time_of_one_call():
    calls = []
    seconds = seconds_per_call(lambda: calls.append(busy()), min_time=0.02, repeat=2)
    start = time.process_time()
    for _ in range(20):
        busy()
    direct = (time.process_time() - start) / 20
    # a warm-up call, then two samples that each last at least min_time (direct may be off by 2x)
    assert len(calls) >= 1 + 2 * int(0.02 / (2 * direct))
    assert 0.5 * direct < seconds < 2 * direct, f"per call {seconds:.2e} s, measured directly {direct:.2e} s"


@pytest.mark.parametrize("kwargs, message", [({"min_time": 0}, "min_time must be > 0"),
                                             ({"repeat": 0}, "repeat >= 1")])
def test_seconds_per_call_refuses_bad_settings(kwargs, message):
    with pytest.raises(ValueError, match=message):
        seconds_per_call(lambda: None, **kwargs)


def test_the_clock_is_cpu_time_on_the_cpu_and_wall_time_on_a_gpu():
    assert clock(Backend("numpy")) is time.process_time
    assert clock(TORCH_CPU) is time.process_time
    assert clock(Backend("torch", "cuda:0")) is time.perf_counter


def test_torch_on_the_cpu_runs_on_one_thread_inside_the_block_and_gets_its_threads_back():
    torch = pytest.importorskip("torch")
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        with one_cpu_thread(TORCH_CPU):
            assert torch.get_num_threads() == 1
        assert torch.get_num_threads() == 2
        with one_cpu_thread(Backend("numpy")):
            assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)


def test_backends_to_compare_adds_the_device_named_by_nnref_device(monkeypatch):
    pytest.importorskip("torch")
    monkeypatch.setenv("NNREF_DEVICE", "cuda:1")
    assert [str(b) for b in backends_to_compare()] == ["numpy", "torch:cpu", "torch:cuda:1"]
    monkeypatch.setenv("NNREF_DEVICE", "cpu")
    expected = ["numpy", "torch:cpu"] + (["torch:cuda"] if cuda_available() else [])
    assert [str(b) for b in backends_to_compare()] == expected


def test_count_calls_counts_operations_not_attribute_reads():
    torch = pytest.importorskip("torch")
    a = torch.ones(3, dtype=torch.float64)

    def three_operations():
        assert a.shape == (3,) and a.dtype == torch.float64
        return ((a + a) * a).sum()

    assert count_calls(three_operations) == 3


def train(backend, offset=0.0):
    X = np.random.default_rng(0).normal(size=(40, 2))
    y = (X[:, :1] > 0).astype(float)
    with nnref.use_backend(backend):
        model = MLP([2, 4, 1], output="sigmoid", rng=0)
        history = fit(model, nnref.asarray(X), nnref.asarray(y), method="minibatch", batch_size=10, lr=0.5,
                      epochs=3, rng=0, progress=False)
    return np.array(history.train_loss) + (offset if nnref.backend.resolve(backend).name == "torch" else 0.0)


def test_compare_backends_times_each_backend_and_checks_they_agree():
    pytest.importorskip("torch")
    comparison = compare_backends(train, [Backend("numpy"), TORCH_CPU], repeat=2)
    assert [str(r.backend) for r in comparison.runs] == ["numpy", "torch:cpu"]
    assert all(0 < r.seconds <= r.first for r in comparison.runs)
    assert comparison.seconds("torch:cpu") == comparison.runs[1].seconds
    assert comparison.max_difference() < 1e-12
    np.testing.assert_allclose(comparison.runs[0].result, train("numpy"), rtol=0, atol=0)
    assert comparison.calls > 12 * 3, "3 epochs of 4 steps, each with a forward, a backward and an update"


def test_max_difference_reports_a_backend_that_disagrees():
    pytest.importorskip("torch")
    comparison = compare_backends(lambda b: train(b, offset=1e-3), [Backend("numpy"), TORCH_CPU], repeat=1)
    assert comparison.max_difference() == pytest.approx(1e-3, rel=1e-6)


def test_the_table_has_one_row_per_backend_with_its_numbers():
    pytest.importorskip("torch")
    comparison = compare_backends(train, [Backend("numpy"), TORCH_CPU], repeat=1)
    header, rule, *rows = comparison.markdown().splitlines()
    assert header == "| backend | first run (s) | fastest run (s) | µs per array call |"
    assert rule.count("|") == header.count("|")
    for row, run in zip(rows, comparison.runs, strict=True):
        name, first, fastest, per_call = [cell.strip() for cell in row.strip("|").split("|")]
        assert name == str(run.backend)
        assert float(first) == pytest.approx(run.first, abs=5e-4)
        assert float(fastest) == pytest.approx(run.seconds, abs=5e-4)
        assert float(per_call) == pytest.approx(1e6 * run.seconds / comparison.calls, abs=0.05)


def test_compare_backends_refuses_a_single_backend_and_names_a_missing_one():
    pytest.importorskip("torch")
    with pytest.raises(ValueError, match="at least two backends"):
        compare_backends(train, [Backend("numpy")])
    comparison = compare_backends(train, [Backend("numpy"), TORCH_CPU], repeat=1)
    with pytest.raises(KeyError, match=r"no run on 'torch:cuda'.*\['numpy', 'torch:cpu'\]"):
        comparison.seconds("torch:cuda")


@pytest.mark.parametrize("backend", [Backend("numpy"), TORCH_CPU,
                                     pytest.param(Backend("torch", "cuda"), marks=pytest.mark.skipif(
                                         not cuda_available(), reason="no CUDA device"))], ids=str)
def test_dense_step_plain_and_nnref_compute_the_same_pass(backend):
    if backend.name == "torch":
        pytest.importorskip("torch")
    v, grad_X = dense_step(5, 4, 3, backend)()
    v_plain, _, _, grad_X_plain = dense_step(5, 4, 3, backend, plain=True)()
    np.testing.assert_allclose(nnref.to_numpy(v), nnref.to_numpy(v_plain), rtol=1e-12)
    np.testing.assert_allclose(nnref.to_numpy(grad_X), nnref.to_numpy(grad_X_plain), rtol=1e-12)
    assert v.shape == (5, 3) and grad_X.shape == (5, 4)


def test_dense_step_refuses_an_empty_batch():
    with pytest.raises(ValueError, match="batch, n_in and n_out must be >= 1, got 0, 4, 3"):
        dense_step(0, 4, 3, Backend("numpy"))


@pytest.mark.skipif(not cuda_available(), reason="no CUDA device")
def test_compare_backends_on_the_gpu_agrees_with_numpy():
    comparison = compare_backends(train, [Backend("numpy"), Backend("torch", "cuda")], repeat=1)
    assert comparison.max_difference() < 1e-12
