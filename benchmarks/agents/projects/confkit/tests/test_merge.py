from confkit.merge import diff, merge


def test_later_layers_win_key_by_key():
    assert merge({"a": {"x": "1", "y": "1"}}, {"a": {"y": "2"}, "b": {"z": "3"}}) == {
        "a": {"x": "1", "y": "2"},
        "b": {"z": "3"},
    }


def test_merge_does_not_change_layers():
    first = {"a": {"x": "1"}}
    merge(first, {"a": {"x": "2"}})
    assert first == {"a": {"x": "1"}}


def test_diff():
    assert diff({"a": {"x": "1", "y": "1"}}, {"a": {"x": "2", "z": "3"}}) == ["~ a.x: 1 -> 2", "- a.y", "+ a.z = 3"]
