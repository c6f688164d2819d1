"""kdbench: a fair, reproducible benchmark of knowledge distillation for graph neural networks.

The engine (this package) holds the method registry, data loading and split protocols,
backbones, the one training loop every method shares, metrics, MLflow tracking and the CLI.
Methods live one per file in the top-level ``methods`` package; dataset cards in ``datasets/``.
"""

__version__ = "0.1.0"
