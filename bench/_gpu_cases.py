"""``bench/gpu.py``'s throughput cases: ``bench/throughput.py`` per backbone, precision and XLA setting.

Each case runs in a process of its own (so its peak GPU memory is its own). A wave of cases starts
together: they trace and compile side by side on the machine's CPU cores, and once every one of
them has compiled (or died), they time their epochs one process at a time on the GPU
(``bench/throughput.py``'s :class:`GpuGate`). On an H200 compiling EfficientNetB0's training step took
~40 s per arm even with XLA's autotuner off, while a timed epoch takes about a second: one case after
the other, six cases would not fit in eight minutes.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from _common import finish_command, start_command, stop_group


@dataclass(frozen=True)
class Case:
    """One ``bench/throughput.py`` run: ``spec`` is backbone@size[:precision]."""

    spec: str
    batch: int = 32
    rows: int = 512
    epochs: int = 6  # the first (tracing and compiling) is not timed
    jit_compile: str = "auto"

    @property
    def name(self) -> str:
        return self.spec.replace("@", "-").replace(":", "-") + f"-b{self.batch}-jit{self.jit_compile}"


GPU_CASES = (
    Case("efficientnetb0@128"), Case("efficientnetb0@128:mixed"),
    Case("densenet121@128"), Case("densenet121@128:mixed"),
    Case("efficientnetb3@256"), Case("efficientnetb3@256:mixed"),
    # XLA off: Keras on JAX then runs each op eagerly; a few epochs say enough
    Case("efficientnetb0@128", epochs=3, jit_compile="false"),
    Case("efficientnetb0@128:mixed", epochs=3, jit_compile="false"),
    # NVIDIA's reference batch (their EfficientNet-B0 figures are at 256 images a GPU)
    Case("efficientnetb0@128", batch=256, rows=2048), Case("efficientnetb0@128:mixed", batch=256, rows=2048),
)  # fmt: skip
CPU_CASES = (
    Case("small@32", batch=16, rows=64, epochs=3),
    Case("small@32:mixed", batch=16, rows=64, epochs=3),
    Case("small@32", batch=16, rows=64, epochs=3, jit_compile="false"),
)
#: Images per row: the fusion model has two image branches (depth_rgb, thermal_map).
IMAGES_PER_ROW = 2


def run_wave(cases: tuple[Case, ...], deadline_s: float, work: Path, progress=None) -> list[dict]:
    """Start every case at once; open the gate when all have compiled or exited; collect each one's figures."""
    gate = work / "gate"
    shutil.rmtree(gate, ignore_errors=True)
    gate.mkdir(parents=True)
    started = time.monotonic()
    env = {**os.environ, "DFU_BENCH_PROGRESS": "1"}
    running = {}
    for case in cases:
        command = [sys.executable, "bench/throughput.py", "--cases", case.spec, "--repeats", "1", "--rows",
                   str(case.rows), "--epochs", str(case.epochs), "--batch", str(case.batch), "--jit-compile",
                   case.jit_compile, "--no-cache", "--gate", str(gate), "--out", str(work / f"{case.name}.json")]  # fmt: skip
        running[case] = start_command(command, env, work / f"{case.name}.log")
    opened_at = None
    while opened_at is None and time.monotonic() - started < deadline_s:
        ready = {path.name for path in gate.iterdir()}
        if all(str(p.pid) in ready or p.poll() is not None for p in running.values()):
            (gate / "go").write_text("go")
            opened_at = time.monotonic()
            if progress:
                progress(f"all {len(cases)} cases compiled in {opened_at - started:.0f} s; timing them one at a time")
        time.sleep(0.2)
    results = []
    for case, process in running.items():
        left = deadline_s - (time.monotonic() - started)
        code, tail = finish_command(process, left, work / f"{case.name}.log")
        results.append(_figures(case, code, tail, work / f"{case.name}.json", round(time.monotonic() - started, 1)))
        if progress:
            progress(describe(results[-1]))
    for process in running.values():
        if process.poll() is None:
            stop_group(process)
    return results


def _figures(case: Case, code: int, tail: str, out: Path, seconds: float) -> dict:
    if code != 0 or not out.is_file():
        return {**asdict(case), "error": "timed out" if code == 124 else f"exit {code}", "seconds": seconds,
                "output_tail": tail[-1500:]}  # fmt: skip
    measured = json.loads(out.read_text())["throughput"][0]
    measured.pop("epochs_s", None)
    return {**asdict(case), "seconds": seconds, **measured,
            "bare_images_s": round(IMAGES_PER_ROW * measured["bare_samples_s"], 1),
            "trainer_images_s": round(IMAGES_PER_ROW * measured["trainer_samples_s"], 1)}  # fmt: skip


def describe(c: dict) -> str:
    if "error" in c:
        return f"{c['spec']} b{c['batch']} jit {c['jit_compile']}: {c['error']} after {c['seconds']} s\n{c['output_tail'][-800:]}"
    memory = (c.get("gpu_memory") or {}).get("peak_bytes")
    shown = f", peak GPU memory {memory / 2**30:.2f} GiB" if memory else ""
    return (
        f"{c['spec']} b{c['batch']} jit {c['jit_compile']}: bare fit {c['bare_images_s']} images/s, trainer "
        f"{c['trainer_images_s']}; trainer overhead {100 * c['overhead']:.1f} % of wall{shown}"
    )
