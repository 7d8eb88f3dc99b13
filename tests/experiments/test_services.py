"""Dataset services: uploads with dedupe, profiling on a worker, bad input leaving nothing behind, cleaning."""

import hashlib
import io

import pandas as pd
import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files.storage import default_storage

from experiments import services
from experiments.models import Dataset, DatasetVersion
from mlops_site.models import AuditEvent, Job
from tests.builders import MESSY_CSV, upload

pytestmark = pytest.mark.django_db

RECIPE = [
    {"op": "trim_strings", "columns": ["city"]},
    {"op": "casefold_strings", "columns": ["city"]},
    {"op": "standardize_booleans", "columns": ["owns_home"]},
    {"op": "drop_duplicates"},
    {"op": "drop_missing_target", "column": "defaulted"},
    {"op": "impute", "column": "income", "strategy": "median"},
]


def stored_files() -> list[str]:
    try:
        return default_storage.listdir("datasets")[0]
    except FileNotFoundError:
        return []


def test_upload_records_hash_counts_schema_and_profiles_on_a_worker(version, scientist):
    assert version.number == 1
    assert version.sha256 == hashlib.sha256(MESSY_CSV).hexdigest()
    assert (version.row_count, version.column_count, version.size_bytes) == (8, 5, len(MESSY_CSV))
    assert {c["name"]: c["kind"] for c in version.schema} == {
        "id": "numeric",
        "income": "numeric",
        "owns_home": "boolean",
        "city": "categorical",
        "defaulted": "numeric",
    }
    assert version.profile_job.status == Job.Status.SUCCEEDED
    income = next(c for c in version.profile["columns"] if c["name"] == "income")
    expected = pd.read_csv(io.BytesIO(MESSY_CSV))["income"]
    assert income["nulls"] == 1 and income["mean"] == pytest.approx(expected.mean())
    checks = {(r["check"], r["column"]): r["status"] for r in version.quality}
    assert checks[("duplicate_rows", None)] != "pass"
    assert checks[("missing_target", "defaulted")] == "fail"
    assert checks[("inconsistent_spellings", "owns_home")] == "warn"
    assert AuditEvent.objects.filter(action="dataset_version.created", target_id=str(version.pk)).exists()


def test_identical_content_returns_the_existing_version(version, dataset, scientist):
    again, created = services.upload_version(dataset, upload("renamed.csv"), actor=scientist)
    assert not created and again.pk == version.pk
    assert DatasetVersion.objects.count() == 1 and len(stored_files()) == 1


def test_second_upload_gets_the_next_number(version, dataset, scientist):
    other, created = services.upload_version(dataset, upload(content=MESSY_CSV + b"8,1,no,Nice,0\n"), actor=scientist)
    assert created and other.number == 2


BAD_FILES = {
    "not-a-table": (b"\x89PNG\r\n\x1a\n\x00\x00binary", "not a CSV or Parquet"),
    "empty": (b"", "empty"),
    "header-only": (b"a,b\n", "no data rows"),
    "ragged": (b"a,b\n1,2\n3,4,5\n", "cannot be parsed"),
    "undecodable": (b"a,b\n1,caf\xe9\n", "not valid UTF-8"),
    "duplicate-columns": (b"a,a\n1,2\n", "Duplicate column names"),
}


@pytest.mark.parametrize("case", BAD_FILES)
def test_bad_files_are_refused_and_leave_nothing_behind(dataset, scientist, case):
    content, message = BAD_FILES[case]
    before = (DatasetVersion.objects.count(), Job.objects.count(), AuditEvent.objects.count())
    with pytest.raises(ValidationError) as error:
        services.upload_version(dataset, upload(content=content), actor=scientist)
    assert message in " ".join(error.value.message_dict["file"])
    assert (DatasetVersion.objects.count(), Job.objects.count(), AuditEvent.objects.count()) == before
    assert stored_files() == []


def test_file_over_the_size_limit(settings, dataset, scientist):
    settings.DATASET_MAX_UPLOAD_BYTES = 50
    with pytest.raises(ValidationError, match="larger than the limit"):
        services.upload_version(dataset, upload(), actor=scientist)
    assert DatasetVersion.objects.count() == 0 and stored_files() == []


def test_unknown_target_column(dataset, scientist):
    with pytest.raises(ValidationError) as error:
        services.upload_version(dataset, upload(), actor=scientist, target="nope")
    assert "target" in error.value.message_dict
    assert DatasetVersion.objects.count() == 0 and stored_files() == []


def test_reviewer_cannot_create_or_upload(reviewer, dataset):
    with pytest.raises(PermissionDenied):
        services.create_dataset(name="x", actor=reviewer)
    with pytest.raises(PermissionDenied):
        services.upload_version(dataset, upload(), actor=reviewer)
    assert Dataset.objects.count() == 1


def test_dataset_names_are_unique_ignoring_case(dataset, scientist):
    with pytest.raises(ValidationError, match="already exists"):
        services.create_dataset(name="LOANS", actor=scientist)


def test_cleaning_creates_a_profiled_child_with_lineage(version, scientist, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        job = services.start_cleaning(version, RECIPE, actor=scientist)
    job.refresh_from_db()
    assert job.status == Job.Status.SUCCEEDED, job.error
    child = DatasetVersion.objects.get(parent=version)
    assert job.target == child and child.number == 2
    assert child.recipe == services.validate_recipe(version, RECIPE)
    frame = services.load_frame(child)
    # 8 rows - 1 duplicate - 1 missing target
    assert len(frame) == child.row_count == 6
    assert sorted(frame["city"].unique()) == ["lyon", "nice", "paris"]
    assert frame["income"].isna().sum() == 0
    assert child.profile is not None and child.quality is not None
    assert {(r["check"], r["column"]): r["status"] for r in child.quality}[("duplicate_rows", None)] == "pass"


def test_same_recipe_on_same_parent_gives_the_same_hash(version, scientist, django_capture_on_commit_callbacks):
    first, created = services.apply_cleaning(version, services.validate_recipe(version, RECIPE), actor=scientist)
    second, created_again = services.apply_cleaning(version, services.validate_recipe(version, RECIPE), actor=scientist)
    assert created and not created_again and first.pk == second.pk
    with services.open_version(first) as handle:
        assert hashlib.sha256(handle.read()).hexdigest() == first.sha256


@pytest.mark.parametrize(
    "steps",
    [
        [{"op": "impute", "column": "missing_column", "strategy": "median"}],
        [{"op": "explode"}],
        "not a list",
        [],
    ],
    ids=["missing-column", "unknown-op", "not-a-list", "empty"],
)
def test_invalid_recipe_is_refused_before_anything_is_queued(version, scientist, steps):
    jobs_before = Job.objects.count()
    with pytest.raises(ValidationError):
        services.start_cleaning(version, steps, actor=scientist)
    assert Job.objects.count() == jobs_before and DatasetVersion.objects.count() == 1


def test_preview_shows_first_rows_after_the_recipe(version):
    preview = services.preview_recipe(version, RECIPE, actor=version.created_by, rows=3)
    assert preview["columns"] == ["id", "income", "owns_home", "city", "defaulted"]
    assert len(preview["rows"]) == 3 and preview["rows"][1][3] == "paris"
    assert preview["rows_read"] == 8 and preview["rows_after"] == 6


def test_parquet_upload_with_categoricals_is_profiled_and_cleanable(
    dataset, scientist, django_capture_on_commit_callbacks
):
    frame = pd.DataFrame(
        {
            "city": pd.Categorical(["Paris ", "paris", "Lyon", None]),
            "n": pd.array([1, None, 3, 4], dtype="Int64"),
            "when": pd.to_datetime(["2025-01-01", "2025-01-02", None, "2025-01-04"]).tz_localize("UTC"),
        }
    )
    buffer = io.BytesIO()
    frame.to_parquet(buffer)
    with django_capture_on_commit_callbacks(execute=True):
        version, created = services.upload_version(dataset, upload("data.parquet", buffer.getvalue()), actor=scientist)
    version.refresh_from_db()
    assert created and version.format == "parquet" and version.profile is not None
    steps = [{"op": "trim_strings", "columns": ["city"]}, {"op": "casefold_strings", "columns": ["city"]}]
    child, _ = services.apply_cleaning(version, services.validate_recipe(version, steps), actor=scientist)
    assert sorted(services.load_frame(child)["city"].dropna().unique()) == ["lyon", "paris"]


def test_parquet_with_nested_columns_is_refused(dataset, scientist):
    buffer = io.BytesIO()
    pd.DataFrame({"tags": [["a", "b"], ["c"]]}).to_parquet(buffer)
    with pytest.raises(ValidationError, match="lists, structures or binary"):
        services.upload_version(dataset, upload("nested.parquet", buffer.getvalue()), actor=scientist)
    assert DatasetVersion.objects.count() == 0 and stored_files() == []


def test_reupload_with_another_target_is_refused(version, dataset, scientist):
    with pytest.raises(ValidationError) as error:
        services.upload_version(dataset, upload(), actor=scientist, target="income")
    assert "target" in error.value.message_dict


def test_impute_of_an_all_missing_column_is_refused_before_queueing(
    dataset, scientist, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        version, _ = services.upload_version(dataset, upload(content=b"a,b\n1,\n2,\n"), actor=scientist)
    version.refresh_from_db()
    with pytest.raises(ValidationError) as error:
        services.start_cleaning(version, [{"op": "impute", "column": "b", "strategy": "median"}], actor=scientist)
    assert "steps[0].column" in error.value.message_dict


def test_impute_and_clip_ignore_infinities(dataset, scientist):
    version, _ = services.upload_version(dataset, upload(content=b"x,y\n1,a\n2,b\n3,c\ninf,d\n,e\n"), actor=scientist)
    steps = [
        {"op": "impute", "column": "x", "strategy": "mean"},
        {"op": "clip_outliers", "column": "x", "method": "iqr"},
    ]
    child, _ = services.apply_cleaning(version, services.validate_recipe(version, steps), actor=scientist)
    values = services.load_frame(child)["x"].tolist()
    assert values[:3] == [1.0, 2.0, 3.0] and values[4] == 2.0 and values[3] < float("inf")


def test_retry_after_the_child_was_stored_still_profiles_it(version, scientist):
    steps = services.validate_recipe(version, [{"op": "drop_duplicates"}])
    child, _ = services.apply_cleaning(version, steps, actor=scientist)
    DatasetVersion.objects.filter(pk=child.pk).update(profile=None, quality=None, profiled_at=None)  # died here
    again, created = services.apply_cleaning(version, steps, actor=scientist)
    assert again.pk == child.pk and not created and again.profile is not None


def test_recipe_that_removes_every_row_fails_clearly(version, scientist):
    steps = services.validate_recipe(
        version,
        [
            {"op": "map_values", "column": "defaulted", "mapping": {"0": None, "1": None}},
            {"op": "drop_missing_target", "column": "defaulted"},
        ],
    )
    with pytest.raises(ValueError, match="removed every row"):
        services.apply_cleaning(version, steps, actor=scientist)
    assert DatasetVersion.objects.count() == 1
