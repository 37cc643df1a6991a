"""Property tests for mer.labels (quadrants, grids, k-means schemes, encoding) and the SYNTHETIC lyrics helpers."""
import numpy as np
import pandas as pd
import pytest

from mer import labels as L
from mer.config import data_skip_reason, require_data

G = np.linspace(-1, 1, 161)
DENSE = np.c_[np.meshgrid(G, G)[0].ravel(), np.meshgrid(G, G)[1].ravel()]   # (valence, arousal) on a dense grid


def va(n, seed=0, loc=0.0, scale=0.45):
    return np.clip(np.random.default_rng(seed).normal(loc, scale, (n, 2)), -1, 1)


@pytest.mark.parametrize("v,a,q", [(0.2, 0.3, "Q1"), (-0.2, 0.3, "Q2"), (-0.2, -0.3, "Q3"), (0.2, -0.3, "Q4"),
                                   (0, 0, "Q1"), (0, -1, "Q4"), (-1, 0, "Q2")])
def test_quadrant_and_tie_rule(v, a, q):
    assert L.quadrant(v, a) == q
    sv, sa = L.quadrant_to_va_signs(q)
    assert L.quadrant(sv * 0.5, sa * 0.5) == q


def test_quadrant_vectorised_matches_signs():
    q = L.quadrant(DENSE[:, 0], DENSE[:, 1])
    assert set(q) == set(L.QUADRANTS)
    signs = np.array([L.quadrant_to_va_signs(x) for x in q])
    assert np.all((DENSE >= 0) == (signs > 0))


def test_quadrant_bad_input():
    with pytest.raises(ValueError, match="NaN"): L.quadrant([0.1, np.nan], [0.1, 0.2])
    with pytest.raises(ValueError, match="unknown quadrant"): L.quadrant_to_va_signs("Q0")


@pytest.mark.parametrize("n", [4, 16, 64])
def test_grid_every_class_reachable_and_count_exact(n):
    lab = L.grid_labels(DENSE[:, 0], DENSE[:, 1], n=n)
    assert lab.min() == 0 and lab.max() == n - 1                  # never more outputs than n (the seed's 16 -> 64 bug)
    assert len(np.unique(lab)) == n
    s = L.label_scheme(f"grid{n}")
    assert len(s.classes_) == n
    # equal cells: on a uniform grid of points each cell gets the same share (up to the boundary column)
    counts = np.bincount(lab, minlength=n)
    assert counts.max() / counts.min() < 1.3
    np.testing.assert_array_equal(s.transform(s.class_centers(np.arange(n))), np.arange(n))


def test_grid_rejects_non_square():
    for n in (2, 8, 32):
        with pytest.raises(ValueError, match="perfect square"): L.grid_labels(0.1, 0.1, n=n)


@pytest.mark.parametrize("n", [4, 16, 64])
def test_kmeans_reachable_deterministic(n):
    train = va(500, seed=1)
    a, b = L.KMeansLabels(n, seed=0).fit(train), L.KMeansLabels(n, seed=0).fit(train)
    np.testing.assert_array_equal(a.centers_, b.centers_)
    np.testing.assert_array_equal(a.transform(DENSE), b.transform(DENSE))
    assert len(np.unique(a.transform(DENSE))) == n
    assert a.centers_.shape == (n, 2) and a.classes_ == list(range(n))
    np.testing.assert_array_equal(a.transform(a.class_centers(np.arange(n))), np.arange(n))


def test_kmeans_fits_on_train_only():
    train, test = va(300, seed=2), va(100, seed=3, loc=0.6, scale=0.2)
    km = L.KMeansLabels(4, seed=0).fit(train)
    before = km.centers_.copy()
    km.transform(test)
    np.testing.assert_array_equal(km.centers_, before)           # assigning test points never refits
    assert km.n_train_ == 300
    # the centres are those of the training points alone, not of train + test
    assert not np.allclose(L.KMeansLabels(4, seed=0).fit(np.vstack([train, test])).centers_, before)
    # mer.train's class_targets fits on the training rows it is given
    train_mod = pytest.importorskip("mer.train")
    allva = np.vstack([train, test])
    y, classes = train_mod.class_targets("kmeans4", train, allva, seed=0)
    assert classes == [0, 1, 2, 3]
    np.testing.assert_array_equal(y, km.transform(allva))
    y, classes = train_mod.class_targets("grid16", train, allva)
    assert classes == sorted(set(y.tolist())) and set(classes) <= set(range(16))
    # grid classes are the cells that hold songs: two corners give two classes, not 16 with 14 empty (scored as F1 0)
    corners = np.array([[0.9, 0.9], [0.8, 0.95], [-0.9, -0.9]])
    y, classes = train_mod.class_targets("grid16", corners, corners)
    assert classes == [0, 15] and y.tolist() == [15, 15, 0]


def test_kmeans_errors_and_roundtrip():
    with pytest.raises(RuntimeError, match="not fitted"): L.KMeansLabels(4).transform(va(5))
    with pytest.raises(ValueError, match=r"\(n, 2\)"): L.KMeansLabels(4).fit(np.zeros((10, 3)))
    with pytest.raises(ValueError, match="distinct"): L.KMeansLabels(4).fit(np.zeros((10, 2)))
    km = L.KMeansLabels(16, seed=5).fit(va(200))
    np.testing.assert_array_equal(L.scheme_from_dict(km.to_dict()).transform(DENSE), km.transform(DENSE))


def test_encode_decode_roundtrip():
    q = L.quadrant(DENSE[:50, 0], DENSE[:50, 1])
    oh = L.one_hot(q, L.QUADRANTS)
    assert oh.shape == (50, 4) and oh.dtype == np.float32 and np.all(oh.sum(1) == 1)
    np.testing.assert_array_equal(L.decode(oh, L.QUADRANTS), q)
    np.testing.assert_array_equal(L.from_index(L.to_index(q, L.QUADRANTS), L.QUADRANTS), q)
    with pytest.raises(ValueError, match="Q7"): L.to_index(["Q1", "Q7"], L.QUADRANTS)
    with pytest.raises(ValueError, match=r"probs must be"): L.decode(np.zeros((2, 3)), L.QUADRANTS)


def test_fourq_signs_agree_with_quadrants():
    reason = data_skip_reason("4Q", "labels.csv")
    if reason: pytest.skip(reason)
    df = pd.read_csv(require_data("4Q", "labels.csv"))
    np.testing.assert_array_equal(L.quadrant(df.valence_sign, df.arousal_sign), df.quadrant.to_numpy())


def test_synthetic_lyrics_and_tokenizer():
    from mer.models.delbouys import synthetic_lyrics, LyricsTokenizer, POSITIVE_WORDS, NEGATIVE_WORDS
    rng = np.random.default_rng(0)
    songs = pd.DataFrame({"song_id": [str(i) for i in range(2, 122)], "valence": rng.uniform(-1, 1, 120),
                          "arousal": rng.uniform(-1, 1, 120)})
    ly = synthetic_lyrics(songs, seed=7)
    assert ly.synthetic.all() and "SYNTHETIC" in ly.attrs["note"]
    pd.testing.assert_frame_equal(ly, synthetic_lyrics(songs, seed=7))
    share = [sum(w in POSITIVE_WORDS for w in t.split()) / max(1, sum(w in POSITIVE_WORDS + NEGATIVE_WORDS for w in t.split()))
             for t in ly.lyrics]
    assert np.corrcoef(share, songs.valence)[0, 1] > 0.7
    tk = LyricsTokenizer(max_vocab=300, max_len=64).fit(ly.lyrics[:80])
    ids = tk.transform(ly.lyrics)
    assert ids.shape == (120, 64) and ids.dtype == np.int32 and 0 <= ids.min() and ids.max() < tk.vocab_size <= 300
    assert (LyricsTokenizer.from_dict(tk.to_dict()).transform(ly.lyrics) == ids).all()
