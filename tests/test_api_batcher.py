"""The micro-batcher: concurrent small requests share model calls and each gets its own results back."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from api.batcher import MicroBatcher


class Upper:
    """A deterministic analyser: records each call's size."""

    version = "v-test"

    def __init__(self) -> None:
        self.calls: list[int] = []
        self.gate = threading.Event()

    def analyze(self, texts):
        self.gate.wait(5)
        self.calls.append(len(texts))
        if any(t == "boom" for t in texts):
            raise ValueError("broken text")
        return [t.upper() for t in texts]


def test_concurrent_requests_are_batched_and_answered_in_order():
    model = Upper()
    b = MicroBatcher(lambda: model, max_items=64, max_wait_s=0.05)
    inputs = [[f"t{i}", f"u{i}"] if i % 2 else [f"t{i}"] for i in range(40)]
    with ThreadPoolExecutor(40) as pool:
        futures = [pool.submit(b.analyze, x) for x in inputs]
        model.gate.set()
        outs = [f.result(timeout=10) for f in futures]
    for x, (used, res) in zip(inputs, outs, strict=True):
        assert used is model and res == [t.upper() for t in x]
    assert sum(model.calls) == 60 and len(model.calls) < 40  # fewer model calls than requests
    assert max(model.calls) <= 64 + 2


def test_errors_reach_every_request_of_the_batch_and_the_worker_survives():
    model = Upper()
    model.gate.set()
    b = MicroBatcher(lambda: model, max_wait_s=0.0)
    with pytest.raises(ValueError):
        b.analyze(["boom"])
    assert b.analyze(["ok"])[1] == ["OK"]


def test_large_requests_bypass_the_queue_and_swaps_apply_to_the_next_batch():
    first, second = Upper(), Upper()
    first.gate.set()
    second.gate.set()
    current = [first]
    b = MicroBatcher(lambda: current[0], max_items=4)
    assert b.analyze(["a"] * 10)[0] is first and first.calls == [10]
    current[0] = second
    used, res = b.analyze(["x"])
    assert used is second and res == ["X"]


def test_async_requests_are_batched_and_errors_reach_them():
    import asyncio

    model = Upper()
    model.gate.set()  # batches run on the event loop: nothing to hold back
    b = MicroBatcher(lambda: model, max_items=64, max_wait_s=0.05)

    async def main():
        inputs = [[f"t{i}", f"u{i}"] if i % 2 else [f"t{i}"] for i in range(30)]
        tasks = [asyncio.create_task(b.analyze_async(x)) for x in inputs]
        outs = await asyncio.wait_for(asyncio.gather(*tasks), 10)
        for x, (used, res) in zip(inputs, outs, strict=True):
            assert used is model and res == [t.upper() for t in x]
        with pytest.raises(ValueError):
            await asyncio.wait_for(b.analyze_async(["boom"]), 10)
        used, res = await b.analyze_async(["x"] * 64)  # a full batch: analysed in a pool thread
        assert res == ["X"] * 64

    asyncio.run(main())
    assert sum(model.calls) == 45 + 1 + 64 and len(model.calls) < 30  # fewer model calls than requests


def test_async_batches_are_bounded_in_texts_and_characters():
    import asyncio

    threads: list[int] = []

    class Recording(Upper):
        def analyze(self, texts):
            threads.append(threading.get_ident())
            return super().analyze(texts)

    model = Recording()
    model.gate.set()
    b = MicroBatcher(lambda: model, loop_max_items=8, loop_max_chars=100)

    async def main():
        here = threading.get_ident()
        short = [[f"s{i}"] for i in range(20)]  # one turn of the loop: batches of at most 8 texts
        outs = await asyncio.gather(*(b.analyze_async(x) for x in short))
        assert [r for _, r in outs] == [[t.upper() for t in x] for x in short]
        assert model.calls == [8, 8, 4] and set(threads) == {here}  # on the event loop's thread
        model.calls.clear()
        threads.clear()
        long = ["ب" * 60, "پ" * 60]  # 120 characters: a request over the budget goes to a pool thread
        _, res = await b.analyze_async(long)
        assert res == [t.upper() for t in long] and threads == [threads[0]] and threads[0] != here
        model.calls.clear()
        thirds = [["ک" * 40], ["گ" * 40], ["ل" * 40]]  # each fits; together they pass the budget
        await asyncio.gather(*(b.analyze_async(x) for x in thirds))
        assert model.calls == [3]  # flushed when the third passed the budget
        model.calls.clear()
        await asyncio.gather(*(b.analyze_async(x) for x in [["م" * 60], ["ن" * 60], ["و" * 10]]))
        assert model.calls == [2, 1]

    asyncio.run(main())


def test_async_batch_waits_for_requests_already_in_the_app_but_not_longer_than_linger():
    import asyncio
    import time

    model = Upper()
    model.gate.set()
    b = MicroBatcher(lambda: model, linger_s=0.5)

    async def late(arrival, text, turns):
        for _ in range(turns):  # body and validation still being processed: a few turns of the loop
            await asyncio.sleep(0)
        return await b.analyze_async([text], arrival)

    async def main():
        # three requests reached the app; the first reaches the batcher at once, the others a few turns later
        arrivals = [b.arrival() for _ in range(3)]
        t0 = time.perf_counter()
        outs = await asyncio.gather(*(late(a, f"t{i}", 3 * i) for i, a in enumerate(arrivals)))
        assert [r for _, r in outs] == [["T0"], ["T1"], ["T2"]]
        assert model.calls == [3]  # one model call for the three
        assert time.perf_counter() - t0 < 0.25  # flushed when the last one arrived, not at the linger deadline
        model.calls.clear()
        # alone: analysed at once, not after the linger time
        t0 = time.perf_counter()
        await b.analyze_async(["x"], b.arrival())
        assert model.calls == [1] and time.perf_counter() - t0 < 0.25
        model.calls.clear()
        # a request that never reaches the batcher (e.g. rejected) holds a batch at most linger_s
        stuck = b.arrival()
        t0 = time.perf_counter()
        await b.analyze_async(["y"])
        waited = time.perf_counter() - t0
        assert model.calls == [1] and 0.45 <= waited < 2.0
        stuck.done()
        stuck.done()  # idempotent
        assert b._arriving[asyncio.get_running_loop()] == 0

    asyncio.run(main())


def test_rejected_analysis_requests_are_no_longer_waited_for(tmp_path):
    from tests.apiutil import make_client

    class Fixed(Upper):
        def analyze(self, texts):
            raise AssertionError("not reached")

    client, create_key = make_client(f"sqlite:///{tmp_path / 'b.db'}", Fixed())
    key = create_key("ingest")
    assert client.post("/v1/analyze", json={"texts": ["غذا"]}).status_code == 401  # no key
    assert client.post("/v1/analyze", json={"texts": [" "]}, headers={"X-API-Key": key}).status_code == 422
    assert client.post("/v1/analyze", content=b"{", headers={"X-API-Key": key}).status_code == 422
    assert set(client.app.state.batcher._arriving.values()) <= {0}
