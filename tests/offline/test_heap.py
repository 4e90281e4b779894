"""retained_heap: re-entrant, harmless where glibc is missing, and big arrays work inside it."""
from __future__ import annotations

import numpy as np

from offline import heap


def test_nested_blocks_restore_only_at_the_outermost(monkeypatch) -> None:
    calls: list[tuple[str, int, int]] = []

    class FakeLibc:
        def mallopt(self, param: int, value: int) -> int:
            calls.append(("mallopt", param, value))
            return 1

        def malloc_trim(self, pad: int) -> int:
            calls.append(("trim", pad, 0))
            return 1

    monkeypatch.setattr(heap, "_glibc", lambda: FakeLibc())
    with heap.retained_heap() as outer:
        with heap.retained_heap() as inner:
            assert outer and inner
        assert len(calls) == 2  # the inner block changed nothing
    assert calls == [
        ("mallopt", heap.M_MMAP_MAX, 0), ("mallopt", heap.M_TRIM_THRESHOLD, heap.RETAINED_TRIM_THRESHOLD),
        ("mallopt", heap.M_MMAP_MAX, heap.DEFAULT_MMAP_MAX),
        ("mallopt", heap.M_TRIM_THRESHOLD, heap.DEFAULT_TRIM_THRESHOLD), ("trim", 0, 0),
    ]


def test_without_glibc_it_does_nothing(monkeypatch) -> None:
    monkeypatch.setattr(heap, "_glibc", lambda: None)
    with heap.retained_heap() as arranged:
        assert arranged is False


def test_large_arrays_are_allocated_and_freed_inside() -> None:
    with heap.retained_heap():
        for _ in range(3):
            a = np.ones(8_000_000)  # 64 MB, above glibc's mmap threshold
            assert a.sum() == 8_000_000
            del a
