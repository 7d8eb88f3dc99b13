"""The S3 storage the site uses when AWS_STORAGE_BUCKET_NAME is set: django-storages', with names that
are unique by construction.

django-storages avoids overwriting by asking the bucket whether a name exists, then writing: two uploads
of one path at once both hear "free" and write the same key, and the one refused afterwards deletes, with
its own name, the file the other kept (found by a race test). Here every stored name gets a random suffix,
as the filesystem storage gives a taken name, so no two saves ever share a key, and no HEAD is needed.
"""

from __future__ import annotations

import posixpath

from django.utils.crypto import get_random_string
from storages.backends.s3 import S3Storage as BaseS3Storage


class S3Storage(BaseS3Storage):
    def get_available_name(self, name, max_length=None):
        root, ext = posixpath.splitext(name)
        candidate = f"{root}_{get_random_string(12)}{ext}"
        if max_length is not None and len(candidate) > max_length:
            keep = max(1, len(root) - (len(candidate) - max_length))
            candidate = f"{root[:keep]}_{get_random_string(12)}{ext}"
        return candidate
