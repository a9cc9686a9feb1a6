"""The metadata branch: clinical features → RandomForest → three class probabilities per visit.

The fusion network sees these probabilities as an input, so the training rows' probabilities must
look like the validation rows' will: they are **out-of-fold** (each from a model that never saw
that row's patient), while validation rows get the model fitted on the whole training split.
Encoders (imputation, one-hot, scaling) are fitted inside every fit, on its training rows only.
None of it depends on searched knobs, so each fold's result is cached and shared by all trials.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import RandomForestClassifier
from sklearn.impute import SimpleImputer
from sklearn.model_selection import StratifiedGroupKFold
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from trainer._files import atomic_directory
from trainer.config import RFSettings
from trainer.data import Fold, Metadata
from trainer.model._alpha import class_alpha
from trainer.schema import N_CLASSES

_CACHE_VERSION = 1


@dataclass(frozen=True)
class MetadataProbabilities:
    train: np.ndarray  # (n_train, 3) out-of-fold
    val: np.ndarray  # (n_val, 3) from the model fitted on all training visits
    train_inner_fold: np.ndarray  # which inner fold held out each training visit


def feature_frame(metadata: Metadata) -> pd.DataFrame:
    """The candidate feature columns, with text columns as plain objects and gaps marked ``"missing"``."""
    frame = metadata.frame[metadata.feature_columns].copy()
    for column in frame.columns:
        if not pd.api.types.is_numeric_dtype(frame[column]):
            frame[column] = frame[column].astype("string").str.strip().fillna("missing").astype(object)
    return frame


def make_encoder(frame: pd.DataFrame) -> ColumnTransformer:
    """Median-impute and scale numbers, one-hot encode text; unseen categories encode as all zeros."""
    numeric = [c for c in frame.columns if pd.api.types.is_numeric_dtype(frame[c])]
    text = [c for c in frame.columns if c not in numeric]
    return ColumnTransformer(
        [
            (
                "numeric",
                make_pipeline(SimpleImputer(strategy="median", keep_empty_features=True), StandardScaler()),
                numeric,
            ),
            ("text", OneHotEncoder(handle_unknown="ignore", sparse_output=False), text),
        ]
    )


def fit_metadata_model(features: pd.DataFrame, labels: np.ndarray, settings: RFSettings) -> Pipeline:
    """Encoder + RandomForest fitted on these rows only."""
    alpha = class_alpha(labels, settings.alpha_cap)
    forest = RandomForestClassifier(
        n_estimators=settings.trees,
        max_depth=settings.max_depth,
        min_samples_leaf=settings.min_leaf,
        class_weight={c: float(a) for c, a in enumerate(alpha)},
        random_state=settings.seed,
        n_jobs=-1,
    )
    return Pipeline([("encode", make_encoder(features)), ("forest", forest)]).fit(features, labels)


def predict_proba(model: Pipeline, features: pd.DataFrame) -> np.ndarray:
    """Probabilities over all three classes, even if the model's training rows lacked one."""
    out = np.zeros((len(features), N_CLASSES))
    # One thread: parallel prediction adds the trees' votes in whatever order the threads finish, so
    # the same model on the same rows differed in the last bit from run to run.
    model.named_steps["forest"].n_jobs = 1
    out[:, model.classes_] = model.predict_proba(features)
    return out


def fold_probabilities(metadata: Metadata, fold: Fold, settings: RFSettings) -> MetadataProbabilities:
    """Out-of-fold probabilities for the fold's training visits and full-model ones for its validation visits."""
    features = feature_frame(metadata)
    train_x, train_y = features.iloc[fold.train], metadata.labels[fold.train]
    train_patients = metadata.patients[fold.train]
    n_inner = min(settings.oof_folds, len(np.unique(train_patients)))
    inner = StratifiedGroupKFold(n_splits=n_inner, shuffle=True, random_state=settings.seed)
    oof = np.zeros((len(fold.train), N_CLASSES))
    inner_fold = np.full(len(fold.train), -1)
    for k, (fit_rows, held_out) in enumerate(inner.split(train_x, train_y, groups=train_patients)):
        model = fit_metadata_model(train_x.iloc[fit_rows], train_y[fit_rows], settings)
        oof[held_out] = predict_proba(model, train_x.iloc[held_out])
        inner_fold[held_out] = k
    full = fit_metadata_model(train_x, train_y, settings)
    return MetadataProbabilities(oof, predict_proba(full, features.iloc[fold.val]), inner_fold)


def cached_fold_probabilities(
    metadata: Metadata, fold: Fold, settings: RFSettings, cache_dir: Path
) -> MetadataProbabilities:
    """:func:`fold_probabilities`, computed once per (data, fold, RF settings) and shared through the cache."""
    digest = hashlib.sha256(json.dumps([_CACHE_VERSION, asdict(settings)], default=str).encode())
    digest.update(pd.util.hash_pandas_object(metadata.frame, index=False).to_numpy().tobytes())
    digest.update(fold.train.tobytes() + b"|" + fold.val.tobytes())
    target = Path(cache_dir) / "metadata" / f"fold{fold.index}-{digest.hexdigest()[:16]}"

    def build(tmp: Path) -> None:
        probs = fold_probabilities(metadata, fold, settings)
        np.savez(tmp / "probs.npz", train=probs.train, val=probs.val, train_inner_fold=probs.train_inner_fold)

    with atomic_directory(target, build) as ready, np.load(ready / "probs.npz", allow_pickle=False) as saved:
        return MetadataProbabilities(saved["train"], saved["val"], saved["train_inner_fold"])
