import numpy as np

from offline.matrix import IdMap, interaction_matrix


def test_id_map_round_trip_and_unknown() -> None:
    m = IdMap.from_values([30, 10, 20, 10])
    assert m.ids.tolist() == [10, 20, 30]
    assert m.index_of([20, 99, 10, 5]).tolist() == [1, -1, 0, -1]
    assert m.get(30) == 2 and m.get(31) is None
    assert IdMap.from_values([]).index_of([1]).tolist() == [-1]
    assert m.indices([20, 99, 10, 5]) == [1, -1, 0, -1] and m.indices([]) == []


def test_interaction_matrix() -> None:
    m = interaction_matrix(np.array([0, 1, 1]), np.array([2, 0, 1]), [5.0, -3.0, 1.0], (2, 3))
    assert m.shape == (2, 3) and m.dtype == np.float32
    assert m.toarray().tolist() == [[0, 0, 5], [-3, 1, 0]]
