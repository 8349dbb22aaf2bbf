import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from recloop.core import persist
from recloop.core.registry import make, names
from recloop.core.schedules import Exponential, InverseTime, Linear, schedule
from recloop.core.seeding import as_generator, spawn_seeds


def test_persist_round_trips_arrays_rngs_and_ids(tmp_path):
    rng = np.random.default_rng(3)
    rng.random(5)
    state = {"w_": np.arange(6.0).reshape(2, 3), "rng_": rng, "ids_": ["a", 7], "t_": 4,
             "nested_": {"k": np.ones(2)}}
    path = persist.save(tmp_path / "m", kind="policy", name="ucb1", params={"c": 1.0}, state=state)
    assert path.suffix == ".npz" and not list(tmp_path.glob(".tmp-*"))
    meta = persist.load(path)
    assert meta["params"] == {"c": 1.0} and meta["state"]["ids_"] == ["a", 7] and meta["state"]["t_"] == 4
    np.testing.assert_array_equal(meta["state"]["w_"], state["w_"])
    np.testing.assert_array_equal(meta["state"]["nested_"]["k"], np.ones(2))
    assert meta["state"]["rng_"].random() == rng.random()


def test_persist_refuses_missing_and_foreign_files(tmp_path):
    with pytest.raises(FileNotFoundError, match="no saved model"):
        persist.load(tmp_path / "nope.npz")
    junk = tmp_path / "junk.npz"
    junk.write_bytes(b"not a zip")
    with pytest.raises(ValueError, match="not a recloop model"):
        persist.load(junk)


@given(st.floats(0, 1), st.floats(0, 1), st.integers(1, 10_000), st.integers(0, 20_000))
def test_linear_schedule_stays_between_its_ends(start, end, steps, t):
    v = Linear(start, end, steps)(t)
    assert min(start, end) - 1e-12 <= v <= max(start, end) + 1e-12
    assert Linear(start, end, steps)(steps + t) == pytest.approx(end)


def test_schedules_from_specs():
    assert schedule(0.3)(100) == 0.3
    assert schedule({"kind": "inverse_time", "scale": 10})(99) == pytest.approx(0.1)
    assert InverseTime(10)(0) == 1.0 and Exponential(1.0, 0.5, 0.1)(10) == 0.1
    with pytest.raises(ValueError, match="unknown schedule kind"):
        schedule({"kind": "cosine"})


def test_seeding():
    assert as_generator(5).random() == as_generator(5).random()
    g = np.random.default_rng(1)
    assert as_generator(g) is g
    with pytest.raises(TypeError, match="seed"):
        as_generator("five")
    assert spawn_seeds(0, 3) == spawn_seeds(0, 3) and len(set(spawn_seeds(0, 3))) == 3


def test_registry_errors_suggest_names():
    assert "ucb1" in names("policy")
    with pytest.raises(KeyError, match="Did you mean"):
        make("policy", "thompsen")
    with pytest.raises(TypeError, match="policy 'ucb1'"):
        make("policy", "ucb1", colour="red")


def test_cli_errors_print_whole_messages_and_exit_2():
    import typer
    from rich.console import Console

    from recloop.apps.console import fail

    console = Console(width=30, record=True, force_terminal=False)
    path = "/a/very/long/path/that/would/wrap/in/a/narrow/terminal/ratings.dat"
    with pytest.raises(typer.Exit) as exc:
        try:
            raise KeyError(f"MovieLens folder {path} does not exist [sic]")
        except KeyError as err:
            fail(console, err)
    assert exc.value.exit_code == 2
    # KeyError's own text (not its quoted repr), unwrapped, with markup-like brackets kept literally
    assert f"error: MovieLens folder {path} does not exist [sic]" in console.export_text()
