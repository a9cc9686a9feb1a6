"""How long a TensorFlow ``fit`` epoch waits before its first batch, and how often.

Found while measuring the trainer against a bare ``fit`` (``bench/throughput.py``): epoch times of
any long ``model.fit`` have two humps, the same CPU seconds apart by ~0.2 s of wall time, and the
extra time sits between ``on_epoch_begin`` and the first batch, where Keras starts the epoch's
data iterator. Both the trainer and a bare fit pay it; this records it on its own, for one model,
``--runs`` fresh fits of ``--epochs`` epochs each (the first epoch, tracing, is not counted).

    python bench/epoch_start.py                  # small@64, 256 rows, 3 fits of 12 epochs

Ends with one JSON line.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import numpy as np
from _common import configure, emit, fusion_model, machine, parse_case, random_rows

#: An epoch counts as having waited when its first batch starts this late.
WAITED_S = 0.1


def epoch_starts(backbone: str, size: int, precision: str, n_rows: int, epochs: int, batch: int) -> list[dict]:
    """Per epoch of one ``fit``: seconds to the first batch, the epoch's wall and CPU seconds."""
    import keras

    from trainer.model import focal_loss

    configure(precision)
    inputs, labels = random_rows(n_rows, size, 0)
    model = fusion_model(backbone, size, precision)
    model.compile(optimizer=keras.optimizers.Adam(1e-4), loss=focal_loss(np.ones(3), 2.0))
    found: list[dict] = []

    class _Stamps(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
            self.began = (time.perf_counter(), time.process_time())
            self.first_batch = None

        def on_train_batch_begin(self, batch: int, logs: dict | None = None) -> None:
            if self.first_batch is None:
                self.first_batch = time.perf_counter()

        def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
            wall, cpu = self.began
            found.append({"to_first_batch_s": self.first_batch - wall, "wall_s": time.perf_counter() - wall,
                          "cpu_s": time.process_time() - cpu})  # fmt: skip

    model.fit(inputs, keras.utils.to_categorical(labels, 3), batch_size=batch, epochs=epochs, shuffle=True,
              verbose=0, callbacks=[_Stamps()])  # fmt: skip
    return found[1:]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--case", default="small@64", help="backbone@size[:precision]")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--rows", type=int, default=256)
    parser.add_argument("--epochs", type=int, default=12)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    backbone, size, precision = parse_case(args.case)
    epochs = [e for _ in range(args.runs) for e in epoch_starts(backbone, size, precision, args.rows, args.epochs,
                                                                   args.batch)]  # fmt: skip
    waited = [e for e in epochs if e["to_first_batch_s"] >= WAITED_S]
    prompt = [e for e in epochs if e["to_first_batch_s"] < WAITED_S]
    median = lambda key, group: round(statistics.median(e[key] for e in group), 3) if group else None  # noqa: E731
    summary = {
        "bench": "epoch_start", "machine": machine(), "case": args.case, "rows": args.rows, "runs": args.runs,
        "epochs_counted": len(epochs), "waited": len(waited), "waited_threshold_s": WAITED_S,
        **{f"{group}_{key}": median(key, members) for group, members in (("waited", waited), ("prompt", prompt))
           for key in ("to_first_batch_s", "wall_s", "cpu_s")},
        "epochs": [{k: round(v, 3) for k, v in e.items()} for e in epochs],
    }  # fmt: skip
    print(f"{args.case}: {len(waited)} of {len(epochs)} epochs waited ≥ {WAITED_S} s for their first batch; "
          f"median wait {summary['waited_to_first_batch_s']} s (else {summary['prompt_to_first_batch_s']} s); "
          f"epoch wall {summary['waited_wall_s']} vs {summary['prompt_wall_s']} s, CPU {summary['waited_cpu_s']} vs "
          f"{summary['prompt_cpu_s']} s")  # fmt: skip
    emit(summary, args.out)


if __name__ == "__main__":
    main()
