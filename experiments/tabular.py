"""Reading uploaded tables and inferring their schema. Pure: files and DataFrames in, no ORM.

Every way an upload can be wrong becomes a `TableError` with a sentence for the user, raised
before anything is stored.
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import io
from dataclasses import dataclass, field
from typing import IO, BinaryIO

import pandas as pd

PARQUET_MAGIC = b"PAR1"
CHUNK = 1024 * 1024
KINDS = ("numeric", "categorical", "boolean", "datetime", "text")
BOOLEAN_WORDS = {"true", "false", "yes", "no", "y", "n", "t", "f", "on", "off", "1", "0", "1.0", "0.0"}


class TableError(ValueError):
    """An uploaded file that is not a usable table; the message is shown to the user."""


@dataclass(frozen=True)
class Digest:
    sha256: str
    size: int
    format: str  # "csv" or "parquet"
    lines: int = field(
        default=0, compare=False
    )  # newlines in a CSV: its rows plus the header, near enough to refuse a huge one unread


def digest_upload(chunks, *, max_bytes: int, sink: BinaryIO) -> Digest:
    """Copy the upload to `sink` while hashing it, enforcing the size limit and UTF-8 for CSV."""
    sha = hashlib.sha256()
    size = 0
    decoder = codecs.getincrementaldecoder("utf-8")()
    head = b""  # the first bytes, to tell a binary file from a text file with a bad byte
    fmt = None
    lines = 0
    for chunk in chunks:
        if len(head) < 4096:
            head += chunk[: 4096 - len(head)]
        if fmt is None and len(head) >= 4:
            fmt = "parquet" if head[:4] == PARQUET_MAGIC else "csv"
        size += len(chunk)
        if size > max_bytes:
            raise TableError(f"The file is larger than the limit of {max_bytes / 1e6:.0f} MB.")
        sha.update(chunk)
        sink.write(chunk)
        if fmt != "parquet":
            try:
                decoder.decode(chunk)
            except UnicodeDecodeError as exc:
                raise _not_text(head, size - len(chunk) + exc.start) from None
            # NUL is valid UTF-8 but no CSV reader or database takes it; past the first 4 KB it was
            # accepted here and its profile could never be computed.
            if (nul := chunk.find(b"\x00")) >= 0:
                if b"\x00" in head:
                    raise _not_text(head, nul)
                raise TableError(
                    f"The file has a NUL byte at position {size - len(chunk) + nul}; a CSV is text. "
                    "Remove it, or upload Parquet."
                )
            lines += chunk.count(b"\n")
    if size == 0:
        raise TableError("The file is empty.")
    fmt = fmt or ("parquet" if head[:4] == PARQUET_MAGIC else "csv")
    if fmt == "csv":
        if b"\x00" in head:
            raise _not_text(head, head.index(b"\x00"))
        try:
            decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            raise TableError("The file ends in the middle of a UTF-8 character.") from None
    return Digest(sha256=sha.hexdigest(), size=size, format=fmt, lines=lines)


def check_size(handle: IO[bytes], digest: Digest, *, max_rows: int, max_cells: int) -> tuple[int, int]:
    """Rows and columns of the table, from Parquet metadata or the CSV's line count and header, before
    any of it is read: a 540 KB Parquet file can hold 60 million rows (2.5 GB to read, 6 GB to profile).

    Raises TableError when either limit is passed; returns (rows, columns).
    """
    start = handle.tell()
    try:
        if digest.format == "parquet":
            import pyarrow.parquet as pq

            try:
                metadata = pq.ParquetFile(handle).metadata
            except Exception as exc:
                raise TableError(f"The file looks like Parquet but cannot be read: {exc}") from None
            rows, columns = metadata.num_rows, metadata.num_columns
        else:
            names, _ = _check_csv_header(handle)
            rows, columns = max(digest.lines - 1, 0), len(names)
    finally:
        handle.seek(start)
    if rows > max_rows:
        raise TableError(f"The file has {rows:,} rows; the limit is {max_rows:,} (DATASET_MAX_ROWS).")
    if rows * columns > max_cells:
        raise TableError(
            f"The file has {rows:,} rows × {columns:,} columns = {rows * columns:,} values; "
            f"the limit is {max_cells:,} (DATASET_MAX_CELLS)."
        )
    return rows, columns


def _not_text(head: bytes, position: int) -> TableError:
    if b"\x00" in head:
        return TableError("This is not a CSV or Parquet file (it contains binary data).")
    return TableError(
        f"The file is not valid UTF-8 text (bad byte near position {position}). Save it as UTF-8 CSV, or upload Parquet."
    )


def read_table(handle: IO[bytes], fmt: str, *, nrows: int | None = None) -> pd.DataFrame:
    """Read a CSV or Parquet file into a DataFrame, turning parser failures into TableError."""
    if fmt == "parquet":
        try:
            frame = pd.read_parquet(handle)
        except Exception as exc:
            raise TableError(f"The file looks like Parquet but cannot be read: {exc}") from None
        if nrows is not None:
            frame = frame.head(nrows)
        frame = _flatten_parquet(frame)
    else:
        header, sep = _check_csv_header(handle)
        try:
            if nrows is None:
                frame = pd.read_csv(handle, engine="pyarrow", sep=sep)
            else:  # pyarrow has no nrows; the C engine reads only what it needs
                frame = pd.read_csv(handle, nrows=nrows, sep=sep)
        except pd.errors.EmptyDataError:
            raise TableError("The file has no header row.") from None
        except (pd.errors.ParserError, ValueError) as exc:
            message = str(exc).replace("CSV parse error: ", "")
            raise TableError(
                f"The CSV cannot be parsed: {message[:300]}. Check that every row has {len(header)} fields."
            ) from None
    _check_columns([str(c) for c in frame.columns])
    if len(frame.columns) == 0:
        raise TableError("The file has no columns.")
    if nrows is None and len(frame) == 0:
        raise TableError("The file has a header but no data rows.")
    frame.columns = [str(c) for c in frame.columns]
    return frame


def _flatten_parquet(frame: pd.DataFrame) -> pd.DataFrame:
    """Refuse nested or binary columns; turn categoricals into plain values the cleaners understand."""
    for name in frame.columns:
        series = frame[name]
        if isinstance(series.dtype, pd.CategoricalDtype):
            frame[name] = series.astype(object).where(series.notna(), None)
            continue
        if series.dtype == object:
            sample = series.dropna().head(100)
            nested = sample.map(
                lambda v: isinstance(v, list | tuple | dict | set | bytes | bytearray) or hasattr(v, "__array__")
            )
            if nested.any():
                raise TableError(
                    f"Column “{name}” holds lists, structures or binary data; only flat columns "
                    "(numbers, text, booleans, dates) are supported."
                )
    return frame


def _check_csv_header(handle: IO[bytes]) -> tuple[list[str], str]:
    """Read the header ourselves: pandas would silently rename duplicates to `a.1`.

    Also picks the delimiter: a comma unless the header has none and has semicolons, tabs or
    pipes (European spreadsheets export `;`), so such files are not read as one wide column.
    """
    start = handle.tell()
    first = handle.readline(1024 * 1024)
    handle.seek(start)
    if not first.strip():
        raise TableError("The file has no header row.")
    text = first.decode("utf-8-sig", errors="replace")
    sep = ","
    if "," not in text:
        counts = {candidate: text.count(candidate) for candidate in (";", "\t", "|")}
        best = max(counts, key=counts.get)
        if counts[best]:
            sep = best
    try:
        names = next(csv.reader(io.StringIO(text), delimiter=sep))
    except (StopIteration, csv.Error):
        raise TableError("The header row cannot be read as CSV.") from None
    _check_columns(names)
    return names, sep


def _check_columns(names: list[str]) -> None:
    blanks = [i + 1 for i, name in enumerate(names) if not name.strip()]
    if blanks:
        raise TableError(f"Column(s) at position {', '.join(map(str, blanks))} have no name.")
    seen: set[str] = set()
    duplicates = sorted({name for name in names if name in seen or seen.add(name)})
    if duplicates:
        raise TableError(f"Duplicate column names: {', '.join(duplicates)}. Each column needs a unique name.")


def infer_schema(frame: pd.DataFrame) -> list[dict[str, str]]:
    """One entry per column: its name, the pandas dtype and the kind the platform treats it as."""
    return [
        {"name": str(name), "kind": infer_kind(frame[name]), "dtype": str(frame[name].dtype)} for name in frame.columns
    ]


def infer_kind(series: pd.Series) -> str:
    if pd.api.types.is_bool_dtype(series):
        return "boolean"
    if pd.api.types.is_numeric_dtype(series):
        return "numeric"
    if pd.api.types.is_datetime64_any_dtype(series):
        return "datetime"
    values = series.dropna()
    if values.empty:
        return "categorical"
    # Work on the distinct values, not the rows: a million-row column has few of them, or is text.
    uniques = pd.unique(values.to_numpy())
    if len(uniques) <= 64 and {str(u).strip().casefold() for u in uniques} <= BOOLEAN_WORDS:
        return "boolean"
    sample = values.head(200).astype(str)
    if sample.str.match(r"^\d{4}-\d{2}-\d{2}([ T]\d{2}:\d{2}(:\d{2})?)?").all():
        parsed = pd.to_datetime(sample, errors="coerce", format="ISO8601")
        if parsed.notna().all():
            return "datetime"
    if len(uniques) <= max(50, int(0.05 * len(values))):
        return "categorical"
    return "text"
