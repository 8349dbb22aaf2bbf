"""MovieLens loaders and the chronological leave-one-out split."""

from __future__ import annotations

import numpy as np
import pytest

from recloop.data.movielens import (cache_dir, ensure_ml100k, fetch_ml100k, load_atomic, load_grouplens,
                                    load_movielens)
from recloop.data.splits import leave_one_out, sequences_split

ROWS = [(1, 10, 5, 100), (1, 11, 3, 50), (1, 12, 4, 300), (1, 13, 2, 200),
        (2, 11, 4, 10), (2, 10, 1, 20), (2, 12, 5, 30)]


def test_grouplens_100k_folder(tmp_path, write_grouplens):
    write_grouplens(tmp_path, ROWS)
    ml = load_movielens(tmp_path)
    assert (ml.n_users, ml.n_interactions) == (2, 7)
    assert ml.n_items == 6  # 10..13 rated, 99 and 7 only in u.item: still in the catalogue
    i = ml.item_index(7)
    assert ml.titles[i] == "Café Society" and ml.years[i] == 1995
    assert ml.genre_labels(i) == "Action, Comedy"
    assert ml.user_features["occupation"][ml.user_index(2)] == "other"


def test_grouplens_1m_folder(tmp_path):
    (tmp_path / "ratings.dat").write_text("1::5::4::978300760\n1::6::3::978300761\n2::5::5::978300762\n")
    (tmp_path / "movies.dat").write_text("5::Heat (1995)::Action|Crime|Thriller\n6::Sabrina (1995)::Comedy\n")
    ml = load_movielens(tmp_path)
    assert ml.name == "ml-1m" and ml.n_items == 2 and ml.titles[0] == "Heat"
    assert ml.genre_labels(0) == "Action, Crime, Thriller"


def test_atomic_files(tmp_path):
    (tmp_path / "toy.inter").write_text("user_id:token\titem_id:token\trating:float\ttimestamp:float\n"
                                        "1\t2\t3\t10\n1\t3\t4\t11\n")
    (tmp_path / "toy.item").write_text("item_id:token\tmovie_title:token_seq\trelease_year:token\tclass:token_seq\n"
                                       "2\tToy Story\t1995\tAnimation Comedy\n3\tHeat\t1995\tAction\n")
    ml = load_atomic(tmp_path, "toy")
    assert ml.titles == ("Toy Story", "Heat") and ml.genre_labels(0) == "Animation, Comedy"


def test_missing_and_malformed_files(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_movielens(tmp_path / "nope")
    with pytest.raises(FileNotFoundError, match="holds no MovieLens data"):
        load_movielens(tmp_path)
    (tmp_path / "u.data").write_text("1\t2\t5\t100\n")
    with pytest.raises(FileNotFoundError, match="u.item"):
        load_grouplens(tmp_path)
    (tmp_path / "u.data").write_text("1\t2\tfive\t100\n")
    (tmp_path / "u.item").write_text("")
    with pytest.raises(ValueError, match="u.data:1: malformed"):
        load_grouplens(tmp_path)
    (tmp_path / "u.data").write_text("1\t2\t5\n")
    with pytest.raises(ValueError, match="user<TAB>item"):
        load_grouplens(tmp_path)


def test_unknown_ids(tmp_path, write_grouplens):
    write_grouplens(tmp_path, ROWS)
    ml = load_movielens(tmp_path)
    with pytest.raises(KeyError, match="unknown user id 42"):
        ml.user_index(42)
    with pytest.raises(KeyError, match="unknown item id 5"):
        ml.item_index(5)


def test_cache_without_wheel_is_a_clear_error_and_never_downloads(tmp_path, monkeypatch):
    import subprocess

    def no_network(*args, **kwargs):
        raise AssertionError(f"run time must not download: {args}")

    monkeypatch.setattr(subprocess, "run", no_network)
    with pytest.raises(FileNotFoundError, match="run `recloop data fetch` once"):
        ensure_ml100k(tmp_path)
    monkeypatch.setenv("RECLOOP_CACHE", str(tmp_path))
    with pytest.raises(FileNotFoundError, match="MovieLens-100k is not set up"):
        load_movielens()


def test_fetch_extracts_from_a_wheel_already_fetched(tmp_path):
    import zipfile

    wheels = tmp_path / "wheels"
    wheels.mkdir()
    with zipfile.ZipFile(wheels / "recbole-1.2.1-py3-none-any.whl", "w") as zf:
        zf.writestr("recbole/dataset_example/ml-100k/ml-100k.inter",
                    "user_id:token\titem_id:token\trating:float\ttimestamp:float\n1\t10\t4\t5\n")
        zf.writestr("recbole/dataset_example/ml-100k/ml-100k.item", "item_id:token\tmovie_title:token_seq\n10\tX\n")
        zf.writestr("recbole/dataset_example/ml-100k/ml-100k.user", "user_id:token\tage:token\n1\t20\n")
    folder = fetch_ml100k(tmp_path)
    assert folder == tmp_path / "ml-100k" and (folder / "ml-100k.inter").read_text().endswith("1\t10\t4\t5\n")


def test_split_is_chronological_and_leak_free(tmp_path, write_grouplens):
    write_grouplens(tmp_path, ROWS)
    ml = load_movielens(tmp_path)
    split = leave_one_out(ml)
    u1 = ml.user_index(1)
    # user 1 in time order: 11 (t50), 10 (t100), 13 (t200), 12 (t300)
    assert [ml.item_ids[i] for i in split.sequences[u1]] == [11, 10, 13, 12]
    users, hist, test = split.eval_set("test")
    _, vhist, valid = split.eval_set("valid")
    row = list(users).index(u1)
    assert ml.item_ids[test[row]] == 12 and ml.item_ids[valid[row]] == 13
    assert [ml.item_ids[i] for i in hist[row]] == [11, 10, 13]
    assert [ml.item_ids[i] for i in split.train_sequence(u1)] == [11, 10]


def test_no_leakage_on_random_logs():
    rng = np.random.default_rng(0)
    n = 3000
    users, items = rng.integers(0, 50, n), rng.integers(0, 200, n)
    times = rng.integers(0, 10_000, n)
    split = sequences_split(users, items, None, times, n_users=50, n_items=200)
    for u in split.eval_users:
        t = split.timestamps[u]
        assert np.all(np.diff(t) >= 0)
        train_t = t[:-2]
        assert train_t.max() <= t[-2] <= t[-1]  # no test/valid interaction earlier than a train one
        assert len(split.train_sequence(u)) == len(split.sequences[u]) - 2
    assert split.item_counts().sum() == sum(len(s) - 2 if len(s) >= 3 else len(s) for s in split.sequences)


def test_short_users_have_no_targets():
    split = sequences_split([0, 0, 1, 1, 1], [0, 1, 0, 1, 2])
    assert split.eval_users.tolist() == [1]
    assert split.train_sequence(0).tolist() == [0, 1]
    with pytest.raises(ValueError, match="'valid' or 'test'"):
        split.eval_set("train")


@pytest.mark.skipif(not (cache_dir() / "ml-100k" / "ml-100k.inter").is_file(), reason="ML-100k not cached here")
def test_real_ml100k():
    ml = load_movielens()
    assert (ml.n_users, ml.n_items, ml.n_interactions) == (943, 1682, 100000)
    split = leave_one_out(ml)
    assert len(split.eval_users) == 943
    assert ml.titles[ml.item_index(1)] == "Toy Story"


def test_metadata_item_embeddings_are_cached_cosines_of_genres_and_decade(tmp_path, write_grouplens):
    from recloop.data.movielens import metadata_item_embeddings

    write_grouplens(tmp_path / "ml", ROWS + [(2, 13, 4, 40)])
    ml = load_movielens(tmp_path / "ml")
    emb = metadata_item_embeddings(ml, cache=tmp_path / "cache")
    assert emb.shape == (ml.n_items, len(ml.genre_names) + 9) and emb.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(emb, axis=1), 1.0, rtol=1e-6)
    # Items 10 and 12 (1990, 1992): same genres, same decade -> identical; item 7 is from 1995
    # too; every toy film shares the genres, so all cosines are at least the genre half (0.5).
    a, b = ml.item_index(10), ml.item_index(12)
    np.testing.assert_allclose(emb[a], emb[b])
    assert np.all(emb @ emb.T >= 0.5 - 1e-6)
    # Cached: a second call reads the file (proved by editing it), and use_cache=False recomputes.
    (path,) = (tmp_path / "cache" / "embeddings").glob("*.npy")
    np.save(path, np.zeros_like(emb))
    assert not metadata_item_embeddings(ml, cache=tmp_path / "cache").any()
    np.testing.assert_allclose(metadata_item_embeddings(ml, cache=tmp_path / "cache", use_cache=False), emb)


def test_metadata_embedding_decades_separate_old_and_new_films():
    from recloop.data.movielens import MovieLens, metadata_item_embeddings

    genres = np.array([[1, 0], [1, 0], [1, 0], [0, 1]], np.int8)
    ml = MovieLens(name="toy", users=np.zeros(1, np.int64), items=np.zeros(1, np.int64),
                   ratings=np.ones(1, np.float32), timestamps=np.zeros(1, np.int64), user_ids=np.array([1]),
                   item_ids=np.arange(4), titles=("a", "b", "c", "d"), years=np.array([1925, 1995, 1999, 0]),
                   genres=genres, genre_names=("x", "y"), user_features={})
    emb = metadata_item_embeddings(ml, use_cache=False)
    cos = emb @ emb.T
    assert cos[1, 2] == pytest.approx(1.0)   # same genre, same decade
    assert cos[0, 1] == pytest.approx(0.5)   # same genre, different decade
    assert cos[2, 3] == pytest.approx(0.0, abs=1e-7)  # nothing shared (year unknown)
