"""Pages of the experiments app: datasets (`datasets.py`) and experiments, runs and training (`runs.py`)."""
