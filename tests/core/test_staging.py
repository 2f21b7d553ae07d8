"""The build directory a run replaces only when it completes, and the lock around it."""

from __future__ import annotations

import os

import pytest

from edgenn.core import BadInputError
from edgenn.core.staging import SEAL, sibling, staged_build


def build(out, text="old"):
    (out / "model").mkdir(parents=True)
    (out / "model" / "checkpoint.pt").write_text(text)
    (out / "manifest.json").write_text(text)
    return out


def files(root):
    """The build's files as a run wrote them (not the seal staging adds)."""
    return {str(p.relative_to(root)): p.read_text() for p in sorted(root.rglob("*"))
            if p.is_file() and p.name != SEAL}


def test_a_completed_build_replaces_the_previous_one_whole(tmp_path):
    out = build(tmp_path / "out")
    with staged_build(out) as staged:
        assert staged.path.parent == tmp_path and staged.path != out
        assert files(out)["model/checkpoint.pt"] == "old"  # untouched while building
        (staged.path / "report.json").write_text("new")
    assert files(out) == {"report.json": "new"}  # nothing of the old build is mixed in
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]  # no lock, no staging


@pytest.mark.parametrize("failure", [RuntimeError("bug"), KeyboardInterrupt(),
                                     BadInputError("late bad input")])
def test_a_failed_build_leaves_the_previous_one_exactly_as_it_was(tmp_path, failure):
    out = build(tmp_path / "out")
    before = files(out)
    with pytest.raises(type(failure)):
        with staged_build(out) as staged:
            (staged.path / "model").mkdir()
            (staged.path / "model" / "checkpoint.pt").write_text("half")
            raise failure
    assert files(out) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_a_second_run_into_the_same_out_is_refused_while_the_first_builds(tmp_path):
    out = tmp_path / "out"
    with staged_build(out):
        with pytest.raises(BadInputError, match=rf"another edgenn run \(process {os.getpid()}\) "
                                                rf"is building {out}"):
            with staged_build(out):
                pass
    with staged_build(out):  # free again once the first is done
        pass


def test_the_cli_refuses_a_second_run_with_one_line(tmp_path, capsys):
    from edgenn.cli.program import main

    out = tmp_path / "out"
    with staged_build(out):
        assert main(["run", "--out", str(out), "--targets", "cpu", "--quiet"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("edgenn: error: another edgenn run") and "\n" not in err


def test_a_build_left_aside_by_a_killed_run_is_put_back(tmp_path):
    out = tmp_path / "out"
    build(sibling(out, "previous"))  # killed between moving OUT aside and the new one in
    with pytest.raises(RuntimeError):
        with staged_build(out):
            assert files(out)["manifest.json"] == "old"
            raise RuntimeError
    assert files(out)["manifest.json"] == "old"


def test_a_directory_of_other_files_is_never_replaced(tmp_path, monkeypatch):
    mine = tmp_path / "photos"
    mine.mkdir()
    (mine / "holiday.jpg").write_text("precious")
    with pytest.raises(BadInputError, match="not an edgenn build"):
        with staged_build(mine):
            pass
    monkeypatch.chdir(mine)
    with pytest.raises(BadInputError, match="holds the current directory"):
        with staged_build("."):
            pass
    assert files(mine) == {"holiday.jpg": "precious"}


def test_paths_recorded_while_building_point_into_out(tmp_path):
    out = tmp_path / "out"
    with staged_build(out) as staged:
        inside = str(staged.path / "model" / "model.onnx")
        moved = staged.relocate({"a": [inside, "elsewhere"], "b": (str(staged.path),)})
    assert moved == {"a": [str(out / "model" / "model.onnx"), "elsewhere"], "b": (str(out),)}


def test_an_out_that_is_a_link_becomes_the_build_and_its_target_is_left(tmp_path):
    elsewhere = build(tmp_path / "elsewhere")
    out = tmp_path / "out"
    out.symlink_to(elsewhere)
    with staged_build(out) as staged:
        (staged.path / "report.json").write_text("new")
    assert files(out) == {"report.json": "new"} and not out.is_symlink()
    assert files(elsewhere)["manifest.json"] == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["elsewhere", "out"]


def test_a_ctrl_c_during_a_deferred_block_lands_after_it():
    import signal

    from edgenn.core.files import interrupts_deferred

    finished, before = [], signal.getsignal(signal.SIGINT)  # brian2 may have its own
    with pytest.raises(KeyboardInterrupt):
        with interrupts_deferred():
            os.kill(os.getpid(), signal.SIGINT)
            finished.append(True)  # the block ran to its end
    assert finished == [True]
    assert signal.getsignal(signal.SIGINT) is before  # the handler is put back


def _completed(out, text):
    with staged_build(out) as staged:
        build(staged.path, text)
    return files(out)


def test_a_sealed_build_left_aside_intact_is_put_back(tmp_path):
    out = tmp_path / "out"
    clean = _completed(out, "old")
    assert (out / SEAL).is_file()
    os.replace(out, sibling(out, "previous"))  # killed between the two renames
    with pytest.raises(RuntimeError):
        with staged_build(out):
            raise RuntimeError
    assert files(out) == clean


def test_a_damaged_build_left_aside_is_never_put_back_and_the_run_rebuilds(tmp_path,
                                                                            caplog):
    out = tmp_path / "out"
    clean = _completed(out, "new")
    seal = (out / SEAL).read_text()
    previous = sibling(out, "previous")
    os.replace(out, previous)
    (previous / "model" / "checkpoint.pt").write_text("bit rot")
    with pytest.raises(RuntimeError):  # a failed run: nothing damaged appears as OUT
        with staged_build(out):
            raise RuntimeError
    assert not out.exists() and not previous.exists()
    assert any("is damaged" in r.getMessage() and r.levelname == "WARNING"
               for r in caplog.records)
    assert _completed(out, "new") == clean  # the rerun's build equals a clean run's
    assert (out / SEAL).read_text() == seal
