"""Atomic writes: complete file or previous file, never a partial one; normal permissions."""

import os

import pytest

from blspeech.fileio import atomic_write, write_text_atomic


def test_write_replaces_atomically(tmp_path):
    target = tmp_path / "out.txt"
    write_text_atomic(target, "old\n")
    with pytest.raises(RuntimeError):
        with atomic_write(target) as handle:
            handle.write("partial")
            raise RuntimeError("interrupted")
    assert target.read_text() == "old\n"
    assert os.listdir(tmp_path) == ["out.txt"]
    write_text_atomic(target, "new\n")
    assert target.read_text() == "new\n"


def test_mode_follows_umask(tmp_path):
    old = os.umask(0o022)
    try:
        write_text_atomic(tmp_path / "f", "x")
    finally:
        os.umask(old)
    assert (tmp_path / "f").stat().st_mode & 0o777 == 0o644


def test_a_rewrite_keeps_the_files_permissions_and_writes_through_a_symlink(tmp_path):
    script = tmp_path / "run.sh"
    write_text_atomic(script, "echo old\n")
    script.chmod(0o750)
    write_text_atomic(script, "echo new\n")
    assert script.stat().st_mode & 0o777 == 0o750 and script.read_text() == "echo new\n"
    link = tmp_path / "link.txt"
    link.symlink_to(script)
    write_text_atomic(link, "echo through\n")
    assert link.is_symlink() and script.read_text() == "echo through\n"
