"""Where a traced `invoke` spends its time: on the caller's thread, and then on the writer's.

    python bench/profile_hotpath.py                  # 50,000 traced invokes, cProfile
    python bench/profile_hotpath.py --pyinstrument   # the same, sampled by pyinstrument
    python bench/profile_hotpath.py --what stream    # 20-chunk streams (or: traceable)
    python bench/profile_hotpath.py --micro          # only the hot path's primitives, timed alone

The writer is held asleep while the calls run (see `overhead.held_writer`), so the caller's
profile has no GIL waits in it; then the queued runs are drained on this thread, under a
second profile, to show what each run costs the writer. Deterministic profilers inflate cheap
calls: read the ranking, not the absolute times (bench/overhead.py has those).
"""

from __future__ import annotations

import argparse
import cProfile
import io
import os
import pstats
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import tracer  # noqa: E402
from tracer import _writer  # noqa: E402
from tracer.chat_models import FakeChatModel  # noqa: E402

from overhead import REPLY, STREAM_CHUNKS, held_writer, prompt  # noqa: E402


class _Profiler:
    """cProfile or pyinstrument, switched on and off around chunks of work (`with profiler:`)."""

    def __init__(self, pyinstrument: bool) -> None:
        self.pyinstrument = pyinstrument
        if pyinstrument:
            from pyinstrument import Profiler

            self._p = Profiler(interval=0.0001)
        else:
            self._p = cProfile.Profile()

    def __enter__(self) -> None:
        if self.pyinstrument:
            self._p.start()  # pyinstrument adds each start-stop session to the previous ones
        else:
            self._p.enable()

    def __exit__(self, *exc: object) -> None:
        if self.pyinstrument:
            self._p.stop()
        else:
            self._p.disable()

    def report(self, limit: int, cumulative: bool = True) -> str:
        if self.pyinstrument:
            return self._p.output_text(unicode=True, color=False, show_all=False)
        text = _stats(self._p, "tottime", limit)
        return text + (_stats(self._p, "cumulative", limit) if cumulative else "")


def _stats(profile: cProfile.Profile, sort: str, limit: int) -> str:
    out = io.StringIO()
    stats = pstats.Stats(profile, stream=out)
    stats.strip_dirs().sort_stats(sort).print_stats(limit)
    return out.getvalue()


def micro() -> str:
    """The hot path's primitives, each timed alone (µs per call, best of 7 x 100,000)."""
    import os
    import random
    import timeit
    import uuid

    from tracer import _ids, callbacks, config
    from tracer.outputs import ChatGeneration, LLMResult
    from tracer.messages import AIMessage

    generation = ChatGeneration(message=AIMessage(content="hi"))
    handler = callbacks.BaseCallbackHandler()
    rows = [
        ("`_ids.uuid7()` (reads os.urandom, which releases the GIL)", lambda: _ids.uuid7()),
        ("`os.urandom(10)` alone", lambda: os.urandom(10)),
        ("`random.getrandbits(74)` (an alternative: never releases the GIL)", lambda: random.getrandbits(74)),
        ("`uuid.UUID(int=...)`", lambda: uuid.UUID(int=0x0123456789ABCDEF0123456789ABCDEF)),
        ("`time.time()`", time.time),
        ("`config.tracing_active()`", config.tracing_active),
        ("`callbacks._call(handler, 'on_llm_end', ...)` (no-op handler)", lambda: callbacks._call(handler, "on_llm_end", None, run_id=None, parent_run_id=None)),
        ("the same hook called directly", lambda: handler.on_llm_end(None, run_id=None, parent_run_id=None)),
        ("`LLMResult(generations=[[...]], llm_output={...})` (validated)", lambda: LLMResult(generations=[[generation]], llm_output={"model_name": "m"})),
    ]
    lines = ["| primitive | µs per call |", "| --- | --- |"]
    for label, fn in rows:
        best = min(timeit.repeat(fn, number=100_000, repeat=7)) / 100_000 * 1e6
        lines.append(f"| {label} | {best:.2f} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=50_000)
    parser.add_argument("--what", choices=["invoke", "stream", "traceable"], default="invoke")
    parser.add_argument("--pyinstrument", action="store_true", help="sample with pyinstrument instead of cProfile")
    parser.add_argument("--limit", type=int, default=30, help="rows of each ranking")
    parser.add_argument("--chunk", type=int, default=1_000, help="calls between two drains of the writer's queue")
    parser.add_argument("--micro", action="store_true", help="only time the hot path's primitives")
    args = parser.parse_args(argv)
    if args.micro:
        print(micro())
        return 0

    with tempfile.TemporaryDirectory(prefix="bench-profile-") as home:
        settings = tracer.Settings(tracing=True, project="profile", home=Path(home))
        tracer.configure(settings)
        model = FakeChatModel([STREAM_CHUNKS] if args.what == "stream" else [REPLY])

        @tracer.traceable
        def traced(x: int) -> int:
            return x

        def call(i: int) -> None:
            if args.what == "invoke":
                model.invoke(prompt(i))
            elif args.what == "stream":
                for _ in model.stream(prompt(i)):
                    pass
            else:
                traced(i)

        for i in range(200):
            call(i)
        tracer.flush(timeout=60)
        writer = next(w for w in _writer.all_writers() if w.name == settings.store_url)

        # The writer sleeps while the calls run, and every `--chunk` calls its queue is drained
        # here, on this thread, under a second profile: the caller's profile then has no GIL
        # waits in it, the backlog (and the garbage collector's work) stays as small as with a
        # running writer, and the writer's profile shows what each run costs it.
        caller, drainer = _Profiler(args.pyinstrument), _Profiler(args.pyinstrument)
        call_s = drain_s = 0.0
        with held_writer(writer):
            saved_batch = writer._batch_size
            for base in range(0, args.calls, args.chunk):
                n = min(args.chunk, args.calls - base)
                t0 = time.perf_counter()
                with caller:
                    for i in range(base, base + n):
                        call(i)
                t1 = time.perf_counter()
                writer._batch_size = saved_batch  # drain in the writer's own batch size
                with drainer:
                    writer._drain()
                writer._batch_size = 10**12
                call_s += t1 - t0
                drain_s += time.perf_counter() - t1
        tool = "pyinstrument" if args.pyinstrument else "cProfile"
        print(f"## caller's thread: {args.calls:,} traced {args.what} calls, {call_s / args.calls * 1e6:.1f} µs/call under {tool}\n")
        print(caller.report(args.limit))
        print(f"## writer: {args.calls:,} runs written in {drain_s:.2f} s ({args.calls / drain_s:,.0f} runs/s) in batches of {args.chunk:,} calls, under {tool}\n")
        print(drainer.report(args.limit, cumulative=False))
        tracer.flush(timeout=60)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
