"""A small real pipeline for a signature, for tests that register versions from logged runs.

Registration loads the file with the trusted types and predicts on a probe row, so a logged run's
model file must be a pipeline that serves, not placeholder bytes.
"""

import numpy as np
import pandas as pd
import skops.io as sio
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer

from experiments.training import as_float


def servable_model_bytes(signature: dict, *, c: float = 1.0) -> bytes:
    numeric = [col["name"] for col in signature["inputs"] if col.get("kind") == "numeric"]
    frame = pd.DataFrame({name: np.arange(8, dtype=float) for name in numeric})
    for col in signature["inputs"]:
        if col["name"] not in numeric:
            frame[col["name"]] = ["a", "b"] * 4
    block = Pipeline(
        [("float", FunctionTransformer(as_float)), ("fill", SimpleImputer(strategy="constant", fill_value=0.0))]
    )
    pipeline = Pipeline([("prep", ColumnTransformer([("num", block, numeric)])), ("model", LogisticRegression(C=c))])
    pipeline.fit(frame, [0, 1] * 4)
    return sio.dumps(pipeline)
