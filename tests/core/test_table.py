"""ColumnTable's lookups: a column's rows for a value, scanned or sorted."""

from __future__ import annotations

import numpy as np
import pytest

from visualizer.core.table import ColumnTable


def _table(values: list[int]) -> ColumnTable:
    table = ColumnTable({"stream": "i"})
    table.values("stream").extend(values)
    return table


def test_rows_of_scans_once_then_sorts(monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(7)
    values = rng.integers(-1, 40, 5_000).tolist()
    table = _table(values)
    sorts: list[int] = []
    real_argsort = np.argsort

    def argsort(a: np.ndarray, **kw: object) -> np.ndarray:
        sorts.append(len(a))
        return real_argsort(a, **kw)

    monkeypatch.setattr(np, "argsort", argsort)
    expected = {v: [i for i, x in enumerate(values) if x == v] for v in range(-1, 41)}
    assert table.rows_of("stream", 5).tolist() == expected[5]
    assert sorts == []                       # the first lookup: a scan
    for v in range(-1, 41):                  # then one sort serves them all
        assert table.rows_of("stream", v).tolist() == expected[v]
    assert sorts == [5_000]
    table.values("stream").append(5)         # grown: a scan again, then a new sort
    assert table.rows_of("stream", 5).tolist() == expected[5] + [5_000]
    assert sorts == [5_000]
    assert table.rows_of("stream", 6).tolist() == expected[6]
    assert sorts == [5_000, 5_001]
    assert list(map(list, table.rows_of_each("stream", 3))) == [expected[v] for v in range(3)]


def test_rows_of_a_value_the_column_lacks_is_empty() -> None:
    table = _table([0, 1, 1, 2])
    assert table.rows_of("stream", 9).tolist() == []
    assert table.rows_of("stream", 9).tolist() == []
