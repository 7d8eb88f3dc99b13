"""The platform self-check job: proves a worker can reach the database, storage and the ML stack."""

from __future__ import annotations

import hashlib
import platform
import secrets
import time
from typing import Any

from django.core.cache import cache
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import connection


def run(ctx) -> dict[str, Any]:
    results: dict[str, Any] = {"python": platform.python_version()}

    ctx.progress(5, "Checking the database and the shared cache")
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()
    results["database"] = connection.vendor
    probe = secrets.token_hex(8)
    key = f"selfcheck-probe-{probe}"  # unique per run: several self-checks may run at once
    cache.set(key, probe, 60)
    if cache.get(key) != probe:
        raise RuntimeError("The shared cache did not return what was written to it.")
    results["cache"] = "ok"

    ctx.progress(25, "Writing, hashing and reading back an artifact in storage")
    payload = secrets.token_bytes(256 * 1024)
    digest = hashlib.sha256(payload).hexdigest()
    name = default_storage.save(f"selfcheck/{probe}.bin", ContentFile(payload))
    try:
        with default_storage.open(name, "rb") as handle:
            if hashlib.sha256(handle.read()).hexdigest() != digest:
                raise RuntimeError("The artifact read back from storage does not match its sha256.")
    finally:
        default_storage.delete(name)
    backend = default_storage._wrapped if hasattr(default_storage, "_wrapped") else default_storage
    results["storage"] = {
        "backend": f"{type(backend).__module__}.{type(backend).__name__}",
        "where": getattr(backend, "bucket_name", None) or str(getattr(backend, "location", "")),
        "bytes": len(payload),
        "sha256": digest,
    }

    ctx.progress(50, "Training a small scikit-learn pipeline with 5-fold cross-validation")
    started = time.perf_counter()
    import sklearn
    from sklearn.datasets import make_classification
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import cross_val_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    features, target = make_classification(n_samples=2000, n_features=20, n_informative=8, random_state=0)
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))
    scores = cross_val_score(model, features, target, cv=5, scoring="accuracy")
    results["sklearn"] = {
        "version": sklearn.__version__,
        "cv_accuracy_mean": round(float(scores.mean()), 4),
        "fit_seconds": round(time.perf_counter() - started, 3),
    }
    ctx.log(f"cross-validated accuracy {scores.mean():.4f} ± {scores.std():.4f}")
    ctx.progress(95, "All checks passed")
    return results
