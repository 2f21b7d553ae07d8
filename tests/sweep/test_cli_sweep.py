"""`edgenn sweep` on the command line: init, dry run, bad input. Nothing is built here."""

from __future__ import annotations

import json

from edgenn.cli import main


def test_init_writes_an_example_and_refuses_to_overwrite_it(tmp_path, capsys):
    path = tmp_path / "sweep.toml"
    assert main(["sweep", "init", str(path), "-q"]) == 0
    assert "[space.compression]" in path.read_text()
    assert main(["sweep", "init", str(path)]) == 2
    assert f"edgenn: error: {path} exists (use --force to overwrite)" in capsys.readouterr().err
    assert main(["sweep", "init", str(path), "--force", "-q"]) == 0


def test_a_dry_run_prints_the_plan_alone_as_json(tmp_path, capsys):
    path = tmp_path / "sweep.toml"
    main(["sweep", "init", str(path), "-q"])
    capsys.readouterr()
    assert main(["sweep", str(path), "--dry-run", "--plan-for", "2x8", "--json",
                 "--out", str(tmp_path / "out")]) == 0
    plan = json.loads(capsys.readouterr().out)
    assert (plan["points"], plan["to_run"], plan["build_slots"]) == (18, 18, 16)
    assert [n["timed_measurements"] for n in plan["nodes"]] == [9, 9]
    assert not (tmp_path / "out").exists()  # nothing built, nothing written


def test_bad_input_is_one_line_and_exit_2(tmp_path, capsys):
    path = tmp_path / "sweep.toml"
    path.write_text('[space.compression]\nprune_sparsity = [0.5, 1.5]\n')
    assert main(["sweep", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "'compression.prune_sparsity' = 1.5" in err
    assert main(["sweep", str(tmp_path / "none.toml")]) == 2
    assert "sweep file not found" in capsys.readouterr().err
    main(["sweep", "init", str(tmp_path / "ok.toml"), "-q"])
    assert main(["sweep", str(tmp_path / "ok.toml"), "--dry-run", "--plan-for", "8"]) == 2
    assert "--plan-for '8': give NODESxCPUS, e.g. 8x16" in capsys.readouterr().err
    assert main(["sweep", str(tmp_path / "ok.toml"), "--plan-for", "2x2"]) == 2
