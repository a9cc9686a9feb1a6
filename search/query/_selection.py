"""What the chosen configuration will really score: the study's best CV QWK corrected for having been chosen.

The best of many noisy cross-validation estimates is biased upwards (the winner's curse; Cawley & Talbot, JMLR
2010). BBC-CV (bootstrap bias-corrected CV, Tsamardinos et al., Machine Learning 107, 2018) corrects it without
training anything: draw patients with replacement; on the drawn visits choose the trial with the best mean fold
QWK, as the study chose; score that trial's out-of-fold predictions on the visits of the patients not drawn. The
mean of those scores estimates the QWK of *choosing the best trial*, on new patients; their 2.5th and 97.5th
percentiles give the interval; how often each trial is chosen says which trials are tied with the best.

Patients, not visits, are drawn: one patient's visits are not independent. It needs the complete trials'
out-of-fold predictions (search.study._oof; trials before 2026-12-07 have none) and at least
:data:`MIN_TRIALS` of them: with one trial there is no choice to correct, and the estimate is that trial's own.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from search.study import OutOfFold, StudyVisits

#: Complete trials with out-of-fold predictions needed before the estimate corrects for a choice.
MIN_TRIALS = 2
_CLASSES = 3
_PENALTY = (np.subtract.outer(np.arange(_CLASSES), np.arange(_CLASSES)) ** 2) / (_CLASSES - 1) ** 2


@dataclass(frozen=True)
class SelectionEstimate:
    """The chosen trial's expected QWK on new patients, and how sure the choice is."""

    best_trial: int  # the study's best trial (highest mean fold QWK)
    naive_qwk: float  # its own CV value: what the study reports
    estimate: float  # BBC-CV: expected QWK of choosing the best trial, on new patients
    low: float  # 95 % interval (percentiles of the bootstrap's out-of-bag QWKs)
    high: float
    trials: int  # complete trials with out-of-fold predictions the estimate chose among
    bootstraps: int
    win_shares: dict[int, float]  # trial number → share of bootstrap draws it was chosen in, largest first

    @property
    def optimism(self) -> float:
        """How much the naive value overstates the estimate."""
        return self.naive_qwk - self.estimate

    def tied_with_best(self, share: float = 0.05) -> dict[int, float]:
        """Trials chosen in at least ``share`` of the draws: those the data cannot tell apart from the best."""
        return {number: s for number, s in self.win_shares.items() if s >= share}

    def describe(self) -> list[str]:
        """What ``best`` and ``report`` print: the estimate, its interval and basis, and the trials tied."""
        if self.trials < MIN_TRIALS:
            return [
                f"expected QWK on new patients {self.estimate:.3f} (95 % interval {self.low:.3f}–{self.high:.3f}; "
                f"bootstrap over patients of trial {self.best_trial}'s out-of-fold predictions: one complete trial, "
                "no choice to correct yet)"
            ]
        tied = ", ".join(f"trial {n} {share:.0%}" for n, share in self.tied_with_best().items())
        return [
            f"expected QWK on new patients {self.estimate:.3f} (95 % interval {self.low:.3f}–{self.high:.3f}; "
            f"BBC-CV over {self.trials} complete trials, {self.bootstraps} bootstrap draws of patients): the best "
            f"trial's own {self.naive_qwk:.3f} is {self.optimism:+.3f} from it",
            f"chosen in the bootstrap draws (trials the data cannot tell apart from the best): {tied}",
        ]


def selection_estimate(
    numbers: list[int],
    values: list[float],
    predictions: list[OutOfFold],
    visits: StudyVisits,
    bootstraps: int = 1000,
    seed: int = 0,
) -> SelectionEstimate:
    """BBC-CV over the trials ``numbers`` with study values ``values`` and out-of-fold ``predictions``.

    Raises ValueError when no trial is given or the predictions do not cover the visits."""
    if not numbers:
        raise ValueError("no complete trial with out-of-fold predictions")
    labels, patients = visits.labels, visits.patients
    folds = predictions[0].folds
    if any(len(p.folds) != len(labels) or not np.array_equal(p.folds, folds) for p in predictions):
        raise ValueError("the trials' out-of-fold predictions do not share the study's visits and folds")
    if (folds < 0).any():
        raise ValueError("some visits have no out-of-fold prediction")
    n_folds = int(folds.max()) + 1
    predicted = np.stack([p.predicted for p in predictions])  # (trials, visits)
    # one-hot (visits, trials·3): a weighted confusion matrix of every trial is one matrix product
    # float32: the weighted counts are integers far below 2**24, exact; half the memory of float64 for big studies
    chosen_onehot = np.zeros((len(labels), len(numbers) * _CLASSES), dtype=np.float32)
    chosen_onehot[np.arange(len(labels))[:, None], np.arange(len(numbers)) * _CLASSES + predicted.T] = 1.0
    label_onehot = np.eye(_CLASSES, dtype=np.float32)[labels]  # (visits, 3)

    # each fold's visits, sliced once: a draw's in-bag QWK per fold reads only that fold's rows
    by_fold = [(rows, label_onehot[rows], chosen_onehot[rows]) for rows in (np.flatnonzero(folds == f)
                                                                            for f in range(n_folds))]  # fmt: skip
    rng = np.random.default_rng(seed)
    n_patients = int(patients.max()) + 1
    wins = np.zeros(len(numbers))
    out_of_bag = []
    for _ in range(bootstraps):
        drawn = np.bincount(rng.integers(0, n_patients, n_patients), minlength=n_patients)
        weight = drawn[patients].astype(np.float32)  # each visit counted as often as its patient was drawn
        in_bag = np.mean([_qwks(labels_f, chosen_f, weight[rows]) for rows, labels_f, chosen_f in by_fold], axis=0)
        choice = int(np.argmax(in_bag))  # the study's rule: the highest mean fold QWK (first of a tie)
        left_out = weight == 0
        if not left_out.any():
            continue
        wins[choice] += 1
        columns = slice(choice * _CLASSES, (choice + 1) * _CLASSES)
        out_of_bag.append(_qwks(label_onehot[left_out], chosen_onehot[left_out, columns], None)[0])
    best = int(np.argmax(values))
    scores = np.array(out_of_bag)
    shares = {numbers[i]: float(wins[i] / wins.sum()) for i in np.argsort(-wins) if wins[i] > 0}
    return SelectionEstimate(
        best_trial=numbers[best],
        naive_qwk=float(values[best]),
        estimate=float(scores.mean()),
        low=float(np.percentile(scores, 2.5)),
        high=float(np.percentile(scores, 97.5)),
        trials=len(numbers),
        bootstraps=len(scores),
        win_shares=shares,
    )


def _qwks(label_onehot: np.ndarray, chosen_onehot: np.ndarray, weight: np.ndarray | None) -> np.ndarray:
    """Quadratic weighted kappa of every trial's predictions, visits weighted by ``weight`` (None: 1 each)."""
    weighted = label_onehot if weight is None else label_onehot * weight[:, None]
    confusion = (weighted.T @ chosen_onehot).reshape(_CLASSES, -1, _CLASSES).transpose(1, 0, 2)  # (trials, 3, 3)
    total = confusion.sum(axis=(1, 2))
    expected = (
        np.einsum("ti,tj->tij", confusion.sum(axis=2), confusion.sum(axis=1)) / np.maximum(total, 1e-12)[:, None, None]
    )
    observed_cost = (confusion * _PENALTY).sum(axis=(1, 2))
    expected_cost = (expected * _PENALTY).sum(axis=(1, 2))
    with np.errstate(invalid="ignore", divide="ignore"):
        kappa = 1.0 - observed_cost / expected_cost
    # one class predicted and labelled everywhere: no agreement beyond chance to measure, so 0 (never NaN)
    return np.where(expected_cost > 0, kappa, 0.0)
