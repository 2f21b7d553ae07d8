"""Recipes: the shipped default, init/show, validation messages, running a recipe."""

from __future__ import annotations

import json

import pytest

from edgenn.cli import main
from edgenn.core import BadInputError
from edgenn.run.recipe import default_text, load_recipe, parse, run_config_from_recipe


def test_default_recipe_is_valid_and_builds_the_default_run(tmp_path):
    recipe = load_recipe(None)
    config = run_config_from_recipe(recipe, tmp_path)
    assert config.model == "cnn" and config.data is None and config.targets is None
    assert config.latency.runs == 200 and config.latency.batch_size == 1
    assert set(config.compression.variants) == {"int8-dynamic", "int8-static", "fp16",
                                                "pruned", "pruned-int8"}


def test_show_default_prints_the_shipped_file(capsys):
    assert main(["recipe", "show", "default"]) == 0
    assert capsys.readouterr().out == default_text()


def test_init_writes_an_editable_copy_and_refuses_to_overwrite(tmp_path, capsys):
    path = tmp_path / "mine.toml"
    assert main(["recipe", "init", str(path), "-q"]) == 0
    assert path.read_text() == default_text()
    assert main(["recipe", "init", str(path)]) == 2
    assert "exists; pass --force" in capsys.readouterr().err


@pytest.mark.parametrize("text, message", [
    ('[train]\noptimizer = "adamw"\n',
     "'train.optimizer' = 'adamw' is not allowed (allowed: adam, sgd, rmsprop, adagrad)"),
    ("[train]\nepoch = 3\n", "unknown key 'train.epoch' (allowed: epochs,"),
    ("[latency]\nruns = 0\n", "'latency.runs' = 0: runs must be ≥ 1"),
    ('[latency]\nruns = "many"\n', "'latency.runs' = 'many' must be of type int"),
    ("[compression]\nprune_sparsity = 1.0\n",
     "'compression.prune_sparsity' = 1.0: sparsity must be in [0, 1)"),
    ("[quantum]\nx = 1\n", "unknown section [quantum]"),
    ("[train\n", "not valid TOML"),
])
def test_validation_names_key_value_and_allowed_values(text, message):
    with pytest.raises(BadInputError) as error:
        parse(text, "r.toml")
    assert message in str(error.value)


def test_every_problem_is_reported_at_once():
    with pytest.raises(BadInputError) as error:
        parse('[train]\noptimizer = "x"\nepochs = 0\n', "r.toml")
    assert "train.optimizer" in str(error.value) and "train.epochs" in str(error.value)


def test_bad_recipe_exits_2_with_one_line(tmp_path, capsys):
    path = tmp_path / "bad.toml"
    path.write_text('[targets]\nrun = ["cpu"]\n[train]\nloss = "hinge"\n')
    assert main(["run", str(path), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "'train.loss' = 'hinge' is not allowed" in err[0]
    assert not (tmp_path / "out").exists()


def test_run_a_recipe_with_command_line_overrides(tmp_path):
    path = tmp_path / "quick.toml"
    path.write_text('[train]\nepochs = 2\n[compression]\nvariants = []\n'
                    '[targets]\nrun = ["pytorch", "cpu"]\n[latency]\nruns = 3\nwarmup = 1\n')
    out = tmp_path / "out"
    assert main(["run", str(path), "--runs", "4", "--out", str(out), "--quiet"]) == 0
    report = json.loads((out / "report.json").read_text())
    assert report["settings"]["runs"] == 4 and report["settings"]["train"]["epochs"] == 2
    assert [r["target"] for r in report["rows"]] == ["pytorch", "cpu"]
    assert all(len(r["latency_samples_ms"]) == 4 for r in report["rows"])


def test_a_single_target_may_be_a_string(tmp_path):
    recipe = {"targets": {"run": "cpu"}}
    assert run_config_from_recipe(recipe, tmp_path).targets == ("cpu",)


def test_the_generated_default_recipe_is_the_dataclasses_defaults(tmp_path):
    """default_text() is generated from the config classes: parsed back, it builds the
    very config that no recipe at all builds, and it names every key of the schema."""
    from edgenn.run.recipe import KEYS, build_config

    text = default_text()
    assert run_config_from_recipe(parse(text, "default"), tmp_path) == build_config(None, tmp_path)
    for section, keys in KEYS.items():
        assert f"[{section}]" in text
        assert all(f"{key} = " in text for key in keys), section


def test_a_new_train_field_is_a_recipe_key_without_restating_it():
    from dataclasses import fields

    from edgenn.frontend.train import TrainConfig
    from edgenn.run.recipe import KEYS

    assert {f.name for f in fields(TrainConfig)} <= set(KEYS["train"])
