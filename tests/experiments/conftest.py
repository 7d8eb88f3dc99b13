import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from experiments import services
from experiments.demo_data import credit_scoring_frame

MESSY_CSV = (
    b"id,income,owns_home,city,defaulted\n"
    b"1,50000,yes,Paris,0\n"
    b"2,,Yes,paris ,1\n"
    b"3,62000,no,Lyon,0\n"
    b"3,62000,no,Lyon,0\n"
    b"4,58000,N,Lyon,\n"
    b"5,1000000,no,Nice,0\n"
    b"6,51000,yes,Nice,1\n"
    b"7,49000,no,Paris,0\n"
)


def upload(name: str = "data.csv", content: bytes = MESSY_CSV) -> SimpleUploadedFile:
    return SimpleUploadedFile(name, content, content_type="text/csv")


@pytest.fixture
def dataset(scientist):
    return services.create_dataset(name="loans", description="test", actor=scientist)


@pytest.fixture
def version(dataset, scientist, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        created, _ = services.upload_version(dataset, upload(), actor=scientist, target="defaulted")
    created.refresh_from_db()
    return created


@pytest.fixture
def credit(scientist, django_capture_on_commit_callbacks):
    dataset = services.create_dataset(name="credit", actor=scientist)
    frame = credit_scoring_frame(rows=800, seed=3).drop(columns=["customer_id"])
    frame = frame[frame["defaulted"].notna() & (frame["age"] < 200)].drop_duplicates()
    with django_capture_on_commit_callbacks(execute=True):
        version, _ = services.upload_version(
            dataset, upload(content=frame.to_csv(index=False).encode()), actor=scientist, target="defaulted"
        )
    experiment = services.create_experiment(name="credit default", actor=scientist)
    return experiment, version
