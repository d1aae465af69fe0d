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
