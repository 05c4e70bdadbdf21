import pytest

from trainer.lfw import read_pairs, read_people


def test_pairs_file_with_folds(tmp_path):
    path = tmp_path / "pairs.txt"
    path.write_text("2\t1\nA\t1\t2\nA\t1\tB\t3\nC\t2\t4\nC\t1\tD\t1\n")
    pairs = read_pairs(path)
    assert [(p.left, p.right, p.same, p.fold) for p in pairs] == [
        ("A/A_0001.jpg", "A/A_0002.jpg", True, 0),
        ("A/A_0001.jpg", "B/B_0003.jpg", False, 0),
        ("C/C_0002.jpg", "C/C_0004.jpg", True, 1),
        ("C/C_0001.jpg", "D/D_0001.jpg", False, 1),
    ]


def test_pairs_file_that_breaks_its_header(tmp_path):
    path = tmp_path / "pairs.txt"
    path.write_text("2\nA\t1\t2\n")
    with pytest.raises(ValueError, match="promises 4 pairs"):
        read_pairs(path)
    path.write_text("1\nA\t1\n")
    with pytest.raises(ValueError, match=":2: expected 3 or 4 fields"):
        read_pairs(path)


@pytest.mark.lfw
def test_real_lfw_protocol_files(lfw):
    dev = read_pairs(lfw / "pairsDevTest.txt")
    assert len(dev) == 1000 and sum(p.same for p in dev) == 500
    full = read_pairs(lfw / "pairs.txt")
    assert len(full) == 6000 and len({p.fold for p in full}) == 10
    train, test = read_people(lfw / "peopleDevTrain.txt"), read_people(lfw / "peopleDevTest.txt")
    assert not train & test
    assert {p.left.split("/")[0] for p in dev} <= test
