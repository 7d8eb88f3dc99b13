"""Uploads that could never be profiled, or would take the machine down to read, are refused at upload."""

import io

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from django.core.exceptions import ValidationError
from django.core.files.storage import default_storage

from experiments import services
from experiments.models import DatasetVersion
from mlops_site.models import Job
from tests.builders import upload

pytestmark = pytest.mark.django_db


def parquet_bytes(rows: int, columns: int = 1) -> bytes:
    zeros = pa.array(np.zeros(rows, dtype=np.int8))
    buffer = io.BytesIO()
    pq.write_table(pa.table({f"c{i}": zeros for i in range(columns)}), buffer, compression="zstd")
    return buffer.getvalue()


def assert_nothing_stored():
    assert not DatasetVersion.objects.exists() and not Job.objects.exists()
    _, files = default_storage.listdir("datasets") if default_storage.exists("datasets") else ([], [])
    assert files == []


def test_a_csv_with_a_nul_after_the_first_4_kb_is_refused(dataset, scientist):
    rows = b"".join(b"%d,%d\n" % (i, i % 2) for i in range(2000))
    content = b"a,b\n" + rows + b"1,\x00\n"
    assert content.index(b"\x00") > 4096
    with pytest.raises(ValidationError, match="NUL byte at position"):
        services.upload_version(dataset, upload(content=content), actor=scientist)
    assert_nothing_stored()


def test_a_small_parquet_file_of_six_million_rows_is_refused_before_it_is_read(dataset, scientist):
    content = parquet_bytes(6_000_000)
    assert len(content) < 100_000  # tiny on disk, 6 million rows in memory
    with pytest.raises(ValidationError, match=r"6,000,000 rows; the limit is 5,000,000 \(DATASET_MAX_ROWS\)"):
        services.upload_version(dataset, upload("big.parquet", content), actor=scientist)
    assert_nothing_stored()


def test_the_cell_limit_counts_rows_times_columns(settings, dataset, scientist):
    settings.DATASET_MAX_CELLS = 1_000
    with pytest.raises(ValidationError, match=r"= 1,200 values; the limit is 1,000 \(DATASET_MAX_CELLS\)"):
        services.upload_version(dataset, upload("wide.parquet", parquet_bytes(300, 4)), actor=scientist)
    csv = b"a,b,c\n" + b"1,2,3\n" * 400
    with pytest.raises(ValidationError, match="DATASET_MAX_CELLS"):
        services.upload_version(dataset, upload(content=csv), actor=scientist)
    assert_nothing_stored()
    settings.DATASET_MAX_ROWS = 100
    with pytest.raises(ValidationError, match="400 rows; the limit is 100"):
        services.upload_version(dataset, upload(content=b"a\n" + b"1\n" * 400), actor=scientist)
    assert_nothing_stored()


def test_a_file_within_the_limits_is_accepted_through_the_api(dataset, scientist):
    from tests.builders import token_client

    answer = token_client(scientist).post(
        f"/api/datasets/{dataset.pk}/versions/",
        {"file": upload("ok.parquet", parquet_bytes(500, 2))},
        format="multipart",
    )
    assert answer.status_code == 201, answer.content
    assert DatasetVersion.objects.get().row_count == 500
