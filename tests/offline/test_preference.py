import numpy as np
import pytest

from offline.preference import (
    bucket_to_preference,
    confidence,
    rating_to_bucket,
    rating_to_preference,
    stored_value,
)


def test_half_star_scale_buckets() -> None:
    ratings = np.arange(0.5, 5.01, 0.5)
    assert rating_to_bucket(ratings).tolist() == [1, 1, 1, 1, 2, 2, 3, 3, 4, 4]
    assert rating_to_preference(ratings).tolist() == [-2, -2, -2, -2, -1, -1, 1, 1, 2, 2]


def test_five_point_scale() -> None:
    assert rating_to_preference([1, 2, 3, 4, 5]).tolist() == [-2, -2, -1, 1, 2]


def test_bucket_out_of_range_rejected() -> None:
    with pytest.raises(ValueError, match="bucket outside 1-4"):
        bucket_to_preference([0, 2])
    with pytest.raises(ValueError):
        bucket_to_preference([5])


def test_confidence_and_signed_storage() -> None:
    prefs = np.array([-2, -1, 1, 2])
    assert confidence(prefs, 15.0).tolist() == [31.0, 16.0, 16.0, 31.0]
    assert stored_value(prefs, 15.0).tolist() == [-31.0, -16.0, 16.0, 31.0]
    assert stored_value(prefs, 15.0).dtype == np.float32
