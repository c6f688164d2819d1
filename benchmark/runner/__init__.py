"""The Optuna-driven runner: sweep files → cells → one study per cell → final seeds → MLflow."""
