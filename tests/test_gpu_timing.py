"""The host-clock timing core against a fake clock and fake events with known durations."""

from __future__ import annotations

import pytest

from profiler.gpu.timing import Batch, Policy, calibrate, cross_check, measure, next_iters, time_batch
from tests.gpu_fake import FakeGpu

P = Policy()


class StepClock:
    """Each call of the timed function advances the clock by ``per_call`` ns; sync costs ``sync``."""

    def __init__(self, per_call: int, sync: int = 0, event: float | None = None) -> None:
        self.t, self.per_call, self.sync_cost, self.event = 0, per_call, sync, event
        self.syncs = 0

    def now_ns(self) -> int:
        return self.t

    def sync(self) -> None:
        self.syncs += 1
        self.t += self.sync_cost

    def event_timer(self) -> None:
        return None

    def fn(self) -> None:
        self.t += self.per_call


def test_time_batch_is_host_time_from_first_call_to_after_the_final_sync() -> None:
    c = StepClock(per_call=1_000, sync=300)
    b = time_batch(c.fn, 10, c)
    assert b == Batch(iters=10, host_ns=10 * 1_000 + 300, enqueue_ns=10_000, event_ns=None)
    assert c.syncs == 2  # one to drain before, one to wait after


@pytest.mark.parametrize(("event", "host", "flag"), [
    (None, 1_000_000, "no_events"),
    (-5_000.0, 1_000_000, "event_negative"),
    (0.0, 1_000_000, "event_zero"),
    (1_000_000.0, 1_000_000, "agree"),
    (900_001.0, 1_000_000, "agree"),  # within 10 %
    (1_100_000.0, 1_000_000, "agree"),  # exactly 10 % is inside the bound
    (1_100_001.0, 1_000_000, "event_disagrees"),
    (850_000.0, 1_000_000, "event_disagrees"),
    (60_000.0, 100_000, "agree"),  # a short batch: the 50 µs floor applies (40 µs off)
    (40_000.0, 100_000, "event_disagrees"),  # 60 µs off > 50 µs
])
def test_cross_check_bound(event: float | None, host: int, flag: str) -> None:
    assert cross_check(Batch(1, host, host, event), P) == flag


def test_calibration_grows_until_the_batch_reaches_the_minimum() -> None:
    c = StepClock(per_call=3_000)  # 3 µs per call → at least 6,667 calls for 20 ms
    n = calibrate(c.fn, c, P)
    assert n * 3_000 >= P.min_batch_ns
    assert n < 2 * 1.25 * P.min_batch_ns / 3_000  # and not wildly more
    assert next_iters(1, 0, P) == 10  # a call too fast for the clock grows tenfold


def test_calibration_respects_max_iters_and_the_calibration_budget() -> None:
    c = StepClock(per_call=1)
    assert calibrate(c.fn, c, Policy(max_iters=500)) == 500
    slow = StepClock(per_call=3_000_000_000)  # 3 s per call: longer than the calibration budget
    assert calibrate(slow.fn, slow, P) == 1
    t = measure(slow.fn, slow, Policy(batches=1))
    assert t.iters == 1 and not t.below_min_batch  # 3 s > 20 ms


def test_below_min_batch_is_reported() -> None:
    c = StepClock(per_call=1_000)
    t = measure(c.fn, c, P, iters=10)  # forced: 10 µs batches
    assert t.below_min_batch and t.params()["batch_below_min"] is True


def test_measure_reports_host_time_per_call_on_a_simulated_gpu() -> None:
    gpu = FakeGpu()
    t = measure(gpu.tiny_kernel(), gpu, P)
    # CPU-bound launches: 5 µs enqueue each; the final sync (8 µs) is amortised over the batch
    assert t.per_iter_ns == pytest.approx(5_000, rel=1e-3)
    assert t.enqueue_per_iter_ns == pytest.approx(5_000, rel=1e-6)
    assert t.flag == "agree" and t.event_per_iter_ns == pytest.approx(5_000, rel=1e-2)
    assert t.iters * 5_000 >= P.min_batch_ns and len(t.batches) == P.batches


@pytest.mark.parametrize(("mode", "flag"), [("negative", "event_negative"), ("zero", "event_zero"),
                                             ("skew", "event_disagrees"), (None, "no_events")])
def test_lying_events_are_flagged_and_the_host_figure_is_kept(mode: str | None, flag: str) -> None:
    ref = FakeGpu()
    honest = measure(ref.tiny_kernel(), ref, P)
    gpu = FakeGpu(events=mode)
    t = measure(gpu.tiny_kernel(), gpu, P)
    assert t.flag == flag
    assert t.per_iter_ns == pytest.approx(honest.per_iter_ns, rel=1e-3)
    p = t.params()
    assert p["events"] == flag and p["timing"] == "host"
    assert p["events_flagged_batches"] == (0 if flag == "agree" else P.batches)


def test_one_bad_batch_flags_the_result() -> None:
    from profiler.gpu.timing import Timing

    good, bad = Batch(10, 1_000_000, 900_000, 990_000.0), Batch(10, 1_000_000, 900_000, -1.0)
    t = Timing((good, bad, good), tuple(cross_check(b, P) for b in (good, bad, good)), P)
    assert t.flag == "event_negative" and t.params()["events_flagged_batches"] == 1
    assert t.event_per_iter_ns == pytest.approx(99_000.0)  # median of 99 000, -0.1, 99 000


def test_policy_validation_and_description() -> None:
    with pytest.raises(ValueError):
        Policy(min_batch_ns=0)
    d = Policy().describe()
    assert "10%" in d["disagree_if"] and "50 us" in d["disagree_if"] and d["min_batch_ms"] == 20
