"""The visits a run learns from: the metadata table and its image rows (:func:`load_dataset`), the images cropped
and cached (:func:`load_images`), patient-grouped folds, the data's fingerprint, and :func:`prepare`, which reads
all of it as a config asks. The column names and modalities are :mod:`trainer.schema`."""

from trainer._lazy import lazy_exports

_EXPORTS = {
    "Dataset": "trainer.data._dataset",
    "Fold": "trainer.data._folds",
    "Metadata": "trainer.data._dataset",
    "check_data": "trainer.data._inputs",
    "data_fingerprint": "trainer.data._fingerprint",
    "describe_difference": "trainer.data._fingerprint",
    "fingerprint_like": "trainer.data._fingerprint",
    "load_dataset": "trainer.data._dataset",
    "load_images": "trainer.data._images",
    "patient_folds": "trainer.data._folds",
    "prepare": "trainer.data._inputs",
    "read_metadata": "trainer.data._dataset",
}

__all__ = sorted(_EXPORTS)
__getattr__ = lazy_exports(__name__, _EXPORTS)
