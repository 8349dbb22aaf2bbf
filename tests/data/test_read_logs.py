"""read_logs: a team's own files (CSV, Parquet, JSON Lines, dsjson) into the one schema; errors name row and column."""

from __future__ import annotations

import json

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from recloop.data import Featuriser, LoggedFeedback, LogSpec, read_logs
from recloop.data.logs import events_table, read_parquet

CSV = "ts,sku,p,click,f1,f2,other\n" \
      "2026-01-01T00:00:00,SKU-b,0.5,1,0.1,2,x\n" \
      "2026-01-01T00:00:01,SKU-a,0.25,0,0.3,1,y\n" \
      "2026-01-01T00:00:02,SKU-b,0.5,0,0.2,0,z\n"
SPEC = LogSpec(action="sku", propensity="p", reward="click", context_cols=("f*",), timestamp="ts")


def _csv(tmp_path, text=CSV, name="logs.csv"):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_csv_with_flat_feature_columns_and_string_ids(tmp_path):
    logs = read_logs(_csv(tmp_path), SPEC)
    assert isinstance(logs, LoggedFeedback)
    assert logs.item_ids.tolist() == ["SKU-a", "SKU-b"] and logs.action.tolist() == [1, 0, 1]
    assert logs.chosen_items().tolist() == ["SKU-b", "SKU-a", "SKU-b"]
    np.testing.assert_array_equal(logs.context, [[0.1, 2], [0.3, 1], [0.2, 0]])
    np.testing.assert_array_equal(logs.propensity, [0.5, 0.25, 0.5])
    assert logs.timestamp[2] - logs.timestamp[0] == np.timedelta64(2, "s")
    assert Featuriser.from_dict(logs.featuriser) == Featuriser.dense(2)


def test_the_flat_columns_can_be_a_comma_string_as_on_the_command_line(tmp_path):
    spec = LogSpec(action="sku", propensity="p", reward="click", context_cols="f1, f2")
    assert read_logs(_csv(tmp_path), spec).context.shape == (3, 2)


@pytest.mark.parametrize("text, spec, message", [
    (CSV.replace("0.3,1,y", ",1,y"), SPEC, r"row 1, column 'f1': null"),
    (CSV.replace("0.25", "0"), SPEC, r"row 1, column 'p': propensity 0.0 is outside \(0, 1\]"),
    (CSV.replace("0.25", "1.5"), SPEC, r"row 1, column 'p': propensity 1.5"),
    (CSV.replace("0.5,0,0.2", "0.5,,0.2"), SPEC, r"row 2, column 'click': null"),
    (CSV.replace(",SKU-a,", ",,"), SPEC, r"row 1, column 'sku': null action"),
    (CSV, LogSpec(action="item", propensity="p", reward="click"), r"no column 'item' for action"),
    (CSV, LogSpec(action="sku", propensity="p", reward="click", context_cols=("g*",)), "no column matches"),
    (CSV.replace("0.1,2", "nan,2"), SPEC, r"row 0, column 'f1': null"),  # pyarrow reads NaN as missing
    (CSV.replace("0.1,2", "inf,2"), SPEC, r"row 0, column 'f1': not finite"),
])
def test_bad_rows_are_named_never_zero_filled(tmp_path, text, spec, message):
    with pytest.raises(ValueError, match=message):
        read_logs(_csv(tmp_path, text), spec)


def test_list_and_json_object_context_columns(tmp_path):
    rows = [{"item": 7, "prob": 0.5, "r": 1.0, "ctx": [1.0, 2.0]}, {"item": 3, "prob": 0.5, "r": 0.0, "ctx": [0.0, 1.0]}]
    path = tmp_path / "l.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in rows))
    logs = read_logs(path, LogSpec(action="item", propensity="prob", reward="r", context="ctx"))
    assert logs.item_ids.tolist() == [3, 7] and logs.context.tolist() == [[1.0, 2.0], [0.0, 1.0]]
    # a short list is an error, not [0, 1, 0, 0]
    rows[1]["ctx"] = [1.0]
    path.write_text("\n".join(json.dumps(r) for r in rows))
    with pytest.raises(ValueError, match=r"row 1, column 'ctx': context has shape \(1,\); expected \(2,\)"):
        read_logs(path, LogSpec(action="item", propensity="prob", reward="r", context="ctx"))
    rows[1]["ctx"] = None
    path.write_text("\n".join(json.dumps(r) for r in rows))
    with pytest.raises(ValueError, match=r"row 1, column 'ctx': null context"):
        read_logs(path, LogSpec(action="item", propensity="prob", reward="r", context="ctx"))


def test_json_object_contexts_are_featurised_and_the_featuriser_saved(tmp_path):
    ctx = [{"user": {"age": 31, "country": "de"}, "device": "mobile"}, {"user": {"age": 40, "country": "fr"}, "device": "web"}]
    text = "sku,p,click,ctx\n" + "".join(f"{s},0.5,{r},\"{json.dumps(c).replace(chr(34), chr(34) * 2)}\"\n"
                                        for s, r, c in zip(["a", "b"], [1, 0], ctx))
    logs = read_logs(_csv(tmp_path, text), LogSpec(action="sku", propensity="p", reward="click", context="ctx",
                                                  n_features=256))
    f = Featuriser.from_dict(logs.featuriser)
    assert f == Featuriser(n_features=256, interactions=False, seed=0)
    np.testing.assert_array_equal(logs.context, np.stack([f.context(c) for c in ctx]))
    bad = text.replace("31", "NaN")
    with pytest.raises(ValueError, match=r"row 0, column 'ctx': context feature 'user.age' is not finite"):
        read_logs(_csv(tmp_path, bad), LogSpec(action="sku", propensity="p", reward="click", context="ctx"))


def test_candidates_column_and_unknown_action(tmp_path):
    text = 'sku,p,click,cands\nb,0.5,1,"[""a"", ""b""]"\nc,0.2,0,"[""c"", ""a"", ""d""]"\n'
    spec = LogSpec(action="sku", propensity="p", reward="click", candidates="cands")
    logs = read_logs(_csv(tmp_path, text), spec)
    assert logs.candidates.tolist() == [["a", "b", ""], ["c", "a", "d"]]
    assert logs.candidate_mask.tolist() == [[True, True, False], [True, True, True]]
    assert logs.action.tolist() == [1, 0] and logs.chosen_items().tolist() == ["b", "c"]
    with pytest.raises(ValueError, match=r"row 1: action 'z' is not among its candidates .*unknown action"):
        read_logs(_csv(tmp_path, text.replace("c,0.2", "z,0.2")), spec)


def test_cost_instead_of_reward_and_a_yaml_spec(tmp_path):
    (tmp_path / "spec.yaml").write_text("action: sku\npropensity: p\ncost: click\ncontext_cols: [f1, f2]\n")
    spec = LogSpec.from_yaml(tmp_path / "spec.yaml")
    assert read_logs(_csv(tmp_path), spec).reward.tolist() == [-1.0, 0.0, 0.0]
    (tmp_path / "bad.yaml").write_text("acton: sku\n")
    with pytest.raises(ValueError, match=r"unknown data spec key\(s\) \['acton'\]"):
        LogSpec.from_yaml(tmp_path / "bad.yaml")


def test_plain_parquet_and_unknown_format(tmp_path):
    table = pa.table({"sku": ["x", "y", "x"], "p": [0.5, 0.5, 0.5], "click": [1, 0, 1], "f1": [1.0, 2.0, 3.0]})
    pq.write_table(table, tmp_path / "u.parquet")
    logs = read_logs(tmp_path / "u.parquet", LogSpec(action="sku", propensity="p", reward="click", context_cols=["f1"]))
    assert logs.item_ids.tolist() == ["x", "y"] and logs.context.ravel().tolist() == [1.0, 2.0, 3.0]
    with pytest.raises(ValueError, match="cannot tell the format"):
        read_logs(_csv(tmp_path, name="logs.txt"), SPEC)
    with pytest.raises(ValueError, match="not a readable Parquet file"):
        read_logs(_csv(tmp_path, name="fake.parquet"), SPEC)


def test_dsjson_decision_service_events(tmp_path):
    events = [
        {"_label_cost": -1.0, "_label_probability": 0.8, "_label_Action": 2, "_labelIndex": 1, "Timestamp": "2026-01-01T00:00:00.000Z",
         "Version": "1", "EventId": "e1", "a": [2, 1],
         "c": {"user": {"age": 31}, "_multi": [{"id": "news"}, {"id": "sports"}]}, "p": [0.8, 0.2]},
        {"_label_cost": 0.0, "_label_probability": 0.1, "_label_Action": 1, "Timestamp": "2026-01-01T00:00:05.000Z",
         "EventId": "e2", "a": [1, 2], "c": {"user": {"age": 40}, "_multi": [{"id": "news"}, {"id": "sports"}]},
         "p": [0.1, 0.9]},
    ]
    path = tmp_path / "log.dsjson"
    path.write_text("\n".join(json.dumps(e) for e in events))
    logs = read_logs(path, LogSpec(n_features=64))
    assert logs.chosen_items().tolist() == ["sports", "news"]
    assert logs.reward.tolist() == [1.0, -0.0] and logs.propensity.tolist() == [0.8, 0.1]
    assert logs.event_id.tolist() == ["e1", "e2"] and logs.policy_version.tolist() == ["1", "unknown"]
    f = Featuriser.from_dict(logs.featuriser)
    np.testing.assert_array_equal(logs.context[1], f.context({"user": {"age": 40}}))
    events[1]["_label_Action"] = 5
    path.write_text("\n".join(json.dumps(e) for e in events))
    with pytest.raises(ValueError, match=r"line 2: chosen action 4 is not among its 2 actions"):
        read_logs(path)


def test_served_logs_and_user_logs_are_the_same_object(tmp_path):
    """The server's export (events_table) reads back through read_logs as the same LoggedFeedback."""
    table = events_table(event_id=["e1", "e2", "e3"], timestamp_s=[1.0, 2.0, 3.0], context=[[1.0], [0.0], [2.0]],
                         candidates=[["a", "b"], ["b", "a", "c"], ["a"]], chosen=["b", "c", "a"],
                         propensity=[0.5, 0.3, 1.0], reward=[1.0, 0.0, None], policy_version=["v1"] * 3)
    pq.write_table(table, tmp_path / "served.parquet")
    with pytest.warns(UserWarning, match="left out 1 events that have no reward yet"):
        served = read_logs(tmp_path / "served.parquet")
    with pytest.warns(UserWarning):
        again = read_parquet(tmp_path / "served.parquet")
    assert isinstance(served, LoggedFeedback) and served.n == 2
    assert served.chosen_items().tolist() == ["b", "c"] and again.chosen_items().tolist() == ["b", "c"]
    # and a user's file written back by recloop is read as it is, item ids and featuriser included
    user = read_logs(_csv(tmp_path), SPEC)
    user.to_parquet(tmp_path / "user.parquet")
    back = read_logs(tmp_path / "user.parquet")
    assert back.item_ids.tolist() == user.item_ids.tolist() and back.featuriser == user.featuriser
    np.testing.assert_array_equal(back.context, user.context)
