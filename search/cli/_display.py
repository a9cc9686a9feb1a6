"""Live progress of a training run in the terminal: fold, stage, epoch and validation QWK."""

from __future__ import annotations

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from trainer.stages import EpochReport


class TrainingDisplay:
    """Rich progress bars driven by the trainer's callbacks; use as a context manager."""

    def __init__(self, console: Console, n_folds: int, epochs_per_fold: int) -> None:
        self.progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[status]}"),
            TimeElapsedColumn(),
            console=console,
        )
        self.epochs_per_fold = max(epochs_per_fold, 1)
        self._run = self.progress.add_task("folds", total=n_folds, status="")
        self._epochs = None
        self._images = None

    def __enter__(self) -> TrainingDisplay:
        self.progress.start()
        return self

    def __exit__(self, *exc) -> None:
        self.progress.stop()

    def on_images(self, modality: str, done: int, total: int) -> None:
        if self._images is None:
            self._images = self.progress.add_task("preprocessing images", total=total, status="")
        self.progress.update(self._images, completed=done, total=total, status=modality)

    def on_epoch(self, report: EpochReport) -> None:
        if self._epochs is None:
            self._epochs = self.progress.add_task("epochs", total=self.epochs_per_fold, status="")
        within_fold = report.step - report.fold * self.epochs_per_fold + 1
        histogram = "/".join(str(n) for n in report.pred_histogram)
        self.progress.update(
            self._epochs,
            completed=within_fold,
            description=f"fold {report.fold} {report.stage}",
            status=f"epoch {report.epoch}  val QWK {report.val_qwk:.3f}  pred I/P/R {histogram}"
            + ("  (from the pre-training store)" if report.cached else ""),
        )

    def on_fold(self, result) -> None:
        self.progress.advance(self._run)
        if self._epochs is not None:
            self.progress.update(self._epochs, completed=0)
        line = f"fold {result.fold}: QWK {result.scores.qwk:.3f}  (metadata only {result.metadata_scores.qwk:.3f})"
        if result.fusion_weight is not None:
            line += f"  fusion w {result.fusion_weight:.2f}"
        self.progress.console.log(line)


def results_table(summary: dict) -> Table:
    table = Table(title="validation per visit", show_footer=True)
    columns = [
        ("fold", "mean"),
        ("QWK", "qwk"),
        ("kappa", "kappa"),
        ("accuracy", "accuracy"),
        ("macro F1", "macro_f1"),
        ("metadata QWK", "metadata_qwk"),
    ]
    for header, key in columns:
        footer = "mean" if key == "mean" else f"{summary[key]:.3f}"
        table.add_column(header, footer=footer, justify="right")
    table.add_column("visits", justify="right")
    table.add_column("pred I/P/R", justify="right")
    for fold in summary["folds"]:
        table.add_row(
            str(fold["fold"]),
            *(f"{fold[key]:.3f}" for _, key in columns[1:]),
            str(fold["n_val_visits"]),
            "/".join(str(n) for n in fold["pred_histogram"]),
        )
    return table
