"""What a sweep shows while it runs, none of it on the driver's critical path: the progress lines (progress),
TensorBoard's event files (tensorboard), MLflow runs (mlflow_log) sent through a side channel that never blocks
the driver's loop (sidechannel)."""
