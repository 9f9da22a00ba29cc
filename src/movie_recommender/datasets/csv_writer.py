"""A fast writer for tables of plain numbers that writes exactly the text ``DataFrame.to_csv`` writes.

``to_csv`` formats every float one at a time in Python (25M ratings: about a minute). A table whose
columns are all numpy integers and floats is written here by pyarrow's CSV writer instead: integers as
pyarrow prints them (the same digits), and each float column as a dictionary of its distinct values,
each formatted once by pandas itself (``3.0``, ``0.33333334`` for float32, an empty field for NaN), so
the file has the same bytes as ``to_csv(index=False)`` in about a tenth of the time. Any other table
(text, dates, nullable columns, a float column with many distinct values) returns None and is left to
pandas.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import IO

import numpy as np
import pandas as pd

#: Float columns with more distinct values than this (scores, not ratings) are left to pandas.
MAX_DISTINCT_FLOATS = 1 << 16
_SAMPLE_ROWS = 100_000
_BATCH_ROWS = 1 << 20
_BITS = {2: np.uint16, 4: np.uint32, 8: np.uint64}


def _pandas_text(values: np.ndarray) -> list[str]:
    """How ``to_csv`` writes each value of ``values`` in a row of several fields (NaN: an empty field).

    (Alone on its row, a NaN is written ``""``, to tell it from a blank line: see numeric_csv_writer.)
    """
    text = pd.DataFrame({"value": values, "next": 0}).to_csv(index=False, header=False, lineterminator="\n")
    return [line.rpartition(",")[0] for line in text.split("\n")[:-1]]


def _float_dictionary(values: np.ndarray):
    """(codes, texts) of a float column: the texts of its distinct bit patterns, or None when too many.

    Bit patterns, not values: 0.0 and -0.0 are equal floats but ``to_csv`` writes them differently.
    """
    bits = values.view(_BITS[values.dtype.itemsize])
    if len(pd.unique(bits[:_SAMPLE_ROWS])) > MAX_DISTINCT_FLOATS:
        return None
    codes, distinct = pd.factorize(bits, sort=False)
    if len(distinct) > MAX_DISTINCT_FLOATS:
        return None
    return codes.astype(np.int32, copy=False), _pandas_text(np.asarray(distinct).view(values.dtype))


def numeric_csv_writer(frame: pd.DataFrame, save_args: dict) -> Callable[[IO[bytes]], None] | None:
    """A function writing ``frame`` as ``frame.to_csv(stream, **save_args)`` would, to a binary stream.

    None when the fast path does not apply: ``save_args`` other than ``index=False``, a column that is not
    a numpy integer or float, a float column with more than :data:`MAX_DISTINCT_FLOATS` distinct values,
    a header that is not ASCII, or a platform whose lines end in other than ``\\n``.
    """
    if save_args != {"index": False} or os.linesep != "\n" or frame.shape[1] == 0:
        return None
    if not all(isinstance(dtype, np.dtype) and dtype.kind in "iuf" for dtype in frame.dtypes):
        return None
    header = frame.iloc[:0].to_csv(index=False, lineterminator="\n")
    if not header.isascii():
        return None
    columns = []
    for position in range(frame.shape[1]):
        values = frame.iloc[:, position].to_numpy()
        if values.dtype.kind == "f":
            dictionary = _float_dictionary(values)
            if dictionary is None or (frame.shape[1] == 1 and "" in dictionary[1]):  # NaN alone on a row: ""
                return None
            columns.append(dictionary)
        else:
            columns.append(values)

    def write(stream: IO[bytes]) -> None:
        import pyarrow as pa
        import pyarrow.csv as pa_csv

        stream.write(header.encode("ascii"))
        if len(frame) == 0:
            return
        # an empty text (NaN) is a null, which pyarrow writes as an empty field
        texts = [
            pa.array([text or None for text in column[1]], pa.string()) if isinstance(column, tuple) else None
            for column in columns
        ]
        names = [f"c{position}" for position in range(len(columns))]  # not written: the header is pandas'

        def batch(start: int) -> pa.RecordBatch:
            arrays = []
            for column, dictionary in zip(columns, texts):
                if dictionary is None:
                    arrays.append(pa.array(column[start : start + _BATCH_ROWS]))
                else:
                    codes = column[0][start : start + _BATCH_ROWS]
                    arrays.append(pa.DictionaryArray.from_arrays(pa.array(codes), dictionary))
            return pa.RecordBatch.from_arrays(arrays, names=names)

        options = pa_csv.WriteOptions(include_header=False, quoting_style="none")
        first = batch(0)
        with pa_csv.CSVWriter(stream, first.schema, write_options=options) as writer:
            writer.write_batch(first)
            for start in range(_BATCH_ROWS, len(frame), _BATCH_ROWS):
                writer.write_batch(batch(start))

    return write
