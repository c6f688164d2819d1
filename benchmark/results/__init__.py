"""Reading and aggregating results: the final runs of an MLflow store (:mod:`.mlflow_sql`,
:mod:`.aggregate`), their protocol kinds and marks (:mod:`.kinds`), and where a store keeps its
runs (:mod:`.stores`); the committed record of results (:mod:`.record`), written from a store
(:mod:`.record_export`) and, once, from the pre-runner studies (:mod:`.record_migration`).
Core: used by ``kdbench export``, the leaderboard and the docs alike."""
