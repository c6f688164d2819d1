"""Reading and aggregating results: the final runs of an MLflow store (:mod:`.mlflow_sql`,
:mod:`.aggregate`), their protocol kinds and marks (:mod:`.kinds`), and where a store keeps its
runs (:mod:`.stores`); the committed record of results (:mod:`.record`), written from a store
(:mod:`.record_export`), paired comparisons of rows against a baseline (:mod:`.compare`) and
the docs' tables generated from the record (:mod:`.tables`). Core: used by ``kdbench export``,
``kdbench tables``, the leaderboard and the docs alike."""
