"""MLflow's REST surface (`/api/2.0/mlflow/`, `/api/2.0/mlflow-artifacts/`, `/api/3.0/mlflow/`) over the site's services.

The real `mlflow` client pointed at the site (`MLFLOW_TRACKING_URI`) tracks runs, logs models and uses the
registry here. This app only translates: each view reshapes MLflow's JSON into a call of the existing
services (experiments, registry) and their answers back, and turns their errors into MLflow's shape.
"""
