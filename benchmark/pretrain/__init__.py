"""Self-supervised pre-training of GNN encoders on an unlabelled molecule corpus (Hu et al.
2020), stored as artefacts that fine-tuning methods depend on.

:mod:`.strategies` holds the registry and attribute masking, :mod:`.context` context
prediction, :mod:`.corpus` the seeded sample of the corpus (featurising only it),
:mod:`.encoder` the configuration, the training loop with epoch checkpoints and the artefact
cache entry.
"""

from benchmark.pretrain import context, strategies  # noqa: F401  (registers the strategies)
