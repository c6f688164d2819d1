"""Reading and aggregating results: the final runs of an MLflow store (:mod:`.mlflow_sql`,
:mod:`.aggregate`), their protocol kinds and marks (:mod:`.kinds`), and where a store keeps its
runs (:mod:`.stores`). Core: used by ``kdbench export``, the leaderboard and the docs alike."""
