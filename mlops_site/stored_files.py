"""What the platform stores, table by table, so a storage can be verified file by file (`manage.py verify_storage`).

Each app declares its tables from `ready()`; the kernel never imports them. Kept apart from
`mlops_site.storage` so booting does not import boto3.
"""

from __future__ import annotations

import hashlib

from django.apps import apps
from django.core.files.storage import default_storage

STORED_FILES: dict[str, tuple[str, str]] = {}


def register(model_label: str, *, name_field: str = "file", sha256_field: str = "sha256") -> None:
    """Declare a table whose rows name a file in the default storage and record its sha256 (from an app's
    `ready()`), so `manage.py verify_storage` checks every stored file without the kernel knowing the apps."""
    STORED_FILES[model_label] = (name_field, sha256_field)


def verify(*, chunk: int = 1024 * 1024):
    """Yield (model label, row pk, file name, problem or None) for every registered stored file.

    Each file is read in chunks and hashed: a file missing from the storage, or holding other bytes than
    its row recorded, is named with what is wrong.
    """
    for label, (name_field, sha_field) in sorted(STORED_FILES.items()):
        model = apps.get_model(label)
        for pk, name, expected in model.objects.order_by("pk").values_list("pk", name_field, sha_field).iterator():
            digest = hashlib.sha256()
            try:
                with default_storage.open(name, "rb") as handle:
                    while block := handle.read(chunk):
                        digest.update(block)
            except OSError:
                yield label, pk, name, "missing from storage"
                continue
            yield (
                label,
                pk,
                name,
                None if digest.hexdigest() == expected else f"sha256 {digest.hexdigest()} ≠ {expected}",
            )
