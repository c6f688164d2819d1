"""The one training loop every method shares, its data feeders and its losses."""
