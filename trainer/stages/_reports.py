"""What the trainer reports after every epoch (Keras-free, so the search can import it cheaply)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class EpochReport:
    """What the trainer tells the ``on_epoch`` hook after every epoch of every stage."""

    fold: int
    stage: str
    epoch: int  # 1-based within the stage
    step: int  # global step: fold · E + stage offset + epoch − 1
    val_qwk: float
    val_kappa: float
    train_loss: float
    pred_histogram: list[int]  # validation visits predicted I, P, R
    train_batches: int = 0  # optimizer steps in this epoch (0: unknown)
    train_qwk: float = float("nan")  # running QWK of the training rows during the epoch (rows, not visits)
    val_loss: float = float("nan")  # focal loss of the validation rows, with the stage's alpha and gamma
    baseline_qwk: float = float("nan")  # this fold's metadata-only (RandomForest) QWK: what fusion must beat
    patience: int = 0  # the stage's early-stopping patience (0: unknown)
    cached: bool = False  # reported again from the pre-training store: recorded when it was trained, not trained now
    #: Wall seconds of the epoch: its training steps and the validation after them. A graph traced or compiled
    #: in this epoch is in it (a stage's first epoch of a new graph), so this shows what compiling costs.
    seconds: float = float("nan")
    #: How far training moved the stage's trainable weights since the stage began: ‖w − w₀‖ / ‖w₀‖ over all of
    #: them. BatchNorm's moving statistics are not trained and not counted: at a learning rate too low to learn,
    #: they alone can still move a model's validation predictions (docs/pruning.md, ``images_add_nothing``).
    weight_change: float = float("nan")


class StopStage(Exception):
    """Raised by an ``on_epoch`` hook to end the current stage, not the run: the stage restores its best
    weights as if early stopping had fired (a degenerate stage 2 is then simply not kept)."""
