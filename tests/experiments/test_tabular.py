"""Reading uploads: every malformed file gets a sentence, good files get a schema."""

import hashlib
import io

import pandas as pd
import pytest

from experiments import tabular


def digest(data: bytes, max_bytes: int = 10_000):
    sink = io.BytesIO()
    chunks = [data[i : i + 7] for i in range(0, len(data), 7)] or [b""]
    return tabular.digest_upload(chunks, max_bytes=max_bytes, sink=sink), sink.getvalue()


def test_digest_hashes_and_copies_the_stream():
    data = b"a,b\n1,2\n3,4\n"
    result, copied = digest(data)
    assert result == tabular.Digest(sha256=hashlib.sha256(data).hexdigest(), size=len(data), format="csv")
    assert copied == data


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "empty"),
        (b"a,b\n1,\xff\xfe\n", "not valid UTF-8"),
        (b"a,b\n" + b"1,2\n" * 5000, "larger than the limit"),
    ],
    ids=["empty", "undecodable", "too-large"],
)
def test_digest_refuses(data, message):
    with pytest.raises(tabular.TableError, match=message):
        digest(data)


def test_parquet_is_detected_by_its_magic_bytes():
    buffer = io.BytesIO()
    pd.DataFrame({"x": [1, 2]}).to_parquet(buffer)
    result, _ = digest(buffer.getvalue(), max_bytes=10**7)
    assert result.format == "parquet"
    frame = tabular.read_table(io.BytesIO(buffer.getvalue()), "parquet")
    assert frame["x"].tolist() == [1, 2]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"a,b\n", "no data rows"),
        (b"a,b\n1,2\n3,4,5\n", "cannot be parsed"),
        (b"a,b,a\n1,2,3\n", "Duplicate column names: a"),
        (b"a,,c\n1,2,3\n", "have no name"),
        (b"\n\n", "no header"),
    ],
    ids=["header-only", "ragged", "duplicate-columns", "blank-column-name", "blank"],
)
def test_read_table_refuses(data, message):
    with pytest.raises(tabular.TableError, match=message):
        tabular.read_table(io.BytesIO(data), "csv")


def test_garbage_that_claims_to_be_parquet():
    with pytest.raises(tabular.TableError, match="Parquet"):
        tabular.read_table(io.BytesIO(b"PAR1 not really"), "parquet")


def test_schema_kinds():
    frame = tabular.read_table(
        io.BytesIO(
            b"n,flag,yn,when,cat,free\n"
            + b"".join(
                f"{i},true,{'Yes' if i % 2 else 'no'},2025-01-{i % 28 + 1:02d},c{i % 3},note {i}\n".encode()
                for i in range(100)
            )
        ),
        "csv",
    )
    kinds = {c["name"]: c["kind"] for c in tabular.infer_schema(frame)}
    assert kinds == {
        "n": "numeric",
        "flag": "boolean",
        "yn": "boolean",
        "when": "datetime",
        "cat": "categorical",
        "free": "text",
    }


@pytest.mark.parametrize("sep", [";", "\t", "|"])
def test_other_delimiters_are_detected(sep):
    data = f"a{sep}b{sep}c\n1{sep}2{sep}x\n3{sep}4{sep}y\n".encode()
    frame = tabular.read_table(io.BytesIO(data), "csv")
    assert list(frame.columns) == ["a", "b", "c"] and frame["b"].tolist() == [2, 4]


def test_comma_files_with_semicolons_in_values_stay_comma_separated():
    frame = tabular.read_table(io.BytesIO(b'a,b\n"x;y",1\n'), "csv")
    assert list(frame.columns) == ["a", "b"]


def test_binary_files_are_named_as_such():
    png = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)) * 4
    with pytest.raises(tabular.TableError, match="not a CSV or Parquet"):  # Django hands over 64 KB chunks
        tabular.digest_upload([png], max_bytes=10**6, sink=io.BytesIO())
