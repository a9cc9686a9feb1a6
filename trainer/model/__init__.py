"""The fused classifier and how it is scored: the image branches and the fusion network (Keras), the RandomForest
over clinical metadata whose probabilities it fuses, the focal loss and its class weights, the scores (QWK, kappa,
collapse share), and the compile-once cache that keeps one compiled model per graph and process."""

from trainer._lazy import lazy_exports

_EXPORTS = {
    # the network (Keras)
    "ImageBranches": "trainer.model._network",
    "RF_INPUT": "trainer.model._network",
    "build_fusion_model": "trainer.model._network",
    "build_image_branches": "trainer.model._network",
    "build_pretrain_model": "trainer.model._network",
    "freeze_backbones": "trainer.model._network",
    "fusion_weight": "trainer.model._network",
    "leaf_layers": "trainer.model._network",
    "unfreeze_top": "trainer.model._network",
    # compiled once per graph and process
    "free_memory": "trainer.model._compiled",
    "ready_to_train": "trainer.model._compiled",
    "start_fold": "trainer.model._compiled",
    # the RandomForest over clinical metadata
    "MetadataProbabilities": "trainer.model._metadata",
    "cached_fold_probabilities": "trainer.model._metadata",
    "feature_frame": "trainer.model._metadata",
    "fit_metadata_model": "trainer.model._metadata",
    "fold_probabilities": "trainer.model._metadata",
    "predict_proba": "trainer.model._metadata",
    # loss and class weights
    "alpha_weights": "trainer.model._losses",
    "class_alpha": "trainer.model._alpha",
    "focal_loss": "trainer.model._losses",
    # scores
    "COLLAPSE_SHARE": "trainer.model._metrics",
    "MIN_IMPROVEMENT": "trainer.model._metrics",
    "Scores": "trainer.model._metrics",
    "improves": "trainer.model._metrics",
    "qwk_interval": "trainer.model._metrics",
    "score": "trainer.model._metrics",
    "score_visits": "trainer.model._metrics",
    "top_class_share": "trainer.model._metrics",
    "visit_probabilities": "trainer.model._metrics",
}

__all__ = sorted(_EXPORTS)
__getattr__ = lazy_exports(__name__, _EXPORTS)
