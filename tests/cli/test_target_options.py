"""Target options are checked before any work: an option a target does not take, a value
of the wrong type, an option for a target the run does not measure; and listed."""

from __future__ import annotations

import json

import pytest

from edgenn.cli import main
from edgenn.core import BadInputError
from edgenn.core.registry import TARGETS, create_target, target_options


def test_every_target_lists_its_options():
    for name in TARGETS.names():
        assert isinstance(target_options(name), dict)
    assert target_options("cpu") == {"optimization": {"type": "str", "default": "'extended'"}}
    assert target_options("snn-fast")["timesteps"] == {"type": "int", "default": "64"}


def test_an_unknown_option_names_the_valid_ones():
    with pytest.raises(BadInputError, match=r"target cpu has no option 'foo'; its options: "
                                            r"optimization \(default 'extended'\)"):
        create_target("cpu", foo=1)


def test_a_value_of_the_wrong_type_is_refused():
    with pytest.raises(BadInputError, match="timesteps='abc' must be int"):
        create_target("snn-fast", timesteps="abc")
    with pytest.raises(BadInputError, match="optimization 'fastest' is not one of"):
        create_target("cpu", optimization="fastest")


@pytest.mark.parametrize("argv, message", [
    (["--targets", "cpu", "--target-option", "cpu.foo=1"], "target cpu has no option 'foo'"),
    (["--targets", "cpu", "--target-option", "snn-fast.timesteps=8"],
     "--target-option for snn-fast, which this run does not measure"),
    (["--targets", "cpu", "--target-option", "warp.x=1"], "unknown target(s): warp"),
])
def test_run_refuses_bad_options_before_anything_is_written(argv, message, tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["run", *argv, "--epochs", "1", "--out", str(out), "-q"]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1 and "Traceback" not in err
    assert not out.exists()


def test_targets_options_lists_them(capsys):
    assert main(["targets", "--options"]) == 0
    out = capsys.readouterr().out
    assert "optimization" in out and "timesteps" in out and "'extended'" in out
    assert main(["targets", "--json"]) == 0
    listed = {row["name"]: row for row in json.loads(capsys.readouterr().out)}
    assert listed["tflite"]["options"]["xnnpack"]["default"] == "True"
