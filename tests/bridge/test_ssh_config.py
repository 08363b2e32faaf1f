"""What `codeforge ssh-config` writes: the managed block (read back by OpenSSH itself with
`ssh -G`), idempotent rewrites that keep the user's own entries, and the key pair."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from codeforge.bridge.ssh_config import (
    BEGIN,
    END,
    HostEntry,
    alias_for,
    ensure_key_pair,
    read_block_entries,
    read_known_hosts,
    render_block,
    replace_block,
    write_known_hosts,
)

FOREIGN_TOP = "# my own settings\nHost github.com\n  User git\n  IdentityFile ~/.ssh/github\n"
FOREIGN_BOTTOM = "\nHost *\n  ServerAliveInterval 30\n"
KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIAbcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"


def _block(tmp: Path, *entries: HostEntry, command: list[str] | None = None) -> str:
    return render_block(
        entries,
        identity=tmp / "my keys" / "id_ed25519",
        known_hosts=tmp / "known_hosts",
        command=command or ["/opt/code forge/bin/codeforge"],
        environment={"CODEFORGE_CONFIG_DIR": str(tmp / "cfg")},
    )


DEMO = HostEntry("codeforge-demo", "ws://127.0.0.1:8765/?x=%41", "alice", KEY)
API = HostEntry("codeforge-api", "wss://dev.example.com:9000", "alice", KEY)


def test_a_rewrite_keeps_every_foreign_byte_and_is_idempotent(tmp_path: Path) -> None:
    original = FOREIGN_TOP + FOREIGN_BOTTOM
    once = replace_block(original, _block(tmp_path, DEMO))
    assert once.startswith(original) and once.count(BEGIN) == 1 and once.rstrip().endswith(END)
    assert replace_block(once, _block(tmp_path, DEMO)) == once  # the same run again: the same file
    # The user adds entries after the block; a new run with other bridges changes only the block.
    edited = once + "Host after\n  User me\n"
    twice = replace_block(edited, _block(tmp_path, DEMO, API))
    before, _, rest = twice.partition(BEGIN)
    block, _, after = rest.partition(END)
    assert before == original + "\n" and after == "\nHost after\n  User me\n"
    assert "Host codeforge-api" in block and "Host codeforge-demo" in block


def test_a_file_without_a_final_newline_or_an_empty_one(tmp_path: Path) -> None:
    assert replace_block("Host x\n  User y", _block(tmp_path, DEMO)).startswith("Host x\n  User y\n\n" + BEGIN)
    assert replace_block("", _block(tmp_path, DEMO)).startswith(BEGIN)


def test_a_block_without_its_end_marker_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="no end marker"):
        replace_block(FOREIGN_TOP + BEGIN + "\nHost codeforge-x\n", _block(tmp_path, DEMO))


def test_entries_read_back_from_the_block_and_known_hosts(tmp_path: Path) -> None:
    text = replace_block(FOREIGN_TOP, _block(tmp_path, DEMO, API))
    write_known_hosts(tmp_path / "known_hosts", [DEMO, API])
    assert read_known_hosts(tmp_path / "known_hosts") == {"codeforge-demo": KEY, "codeforge-api": KEY}
    assert read_block_entries(text, read_known_hosts(tmp_path / "known_hosts")) == {
        "codeforge-demo": DEMO,
        "codeforge-api": API,
    }
    assert read_block_entries(FOREIGN_TOP, {}) == {}


def test_aliases_are_unique_per_project() -> None:
    assert alias_for("demo") == "codeforge-demo"
    assert alias_for("demo", ["codeforge-demo"]) == "codeforge-demo-2"
    assert alias_for("my project!", []) == "codeforge-my-project"


@pytest.mark.skipif(shutil.which("ssh") is None, reason="OpenSSH client absent")
def test_openssh_reads_the_entry_as_written(tmp_path: Path) -> None:
    config = tmp_path / "config"
    config.write_text(replace_block(FOREIGN_TOP, _block(tmp_path, DEMO)))
    out = subprocess.run(
        ["ssh", "-G", "-F", str(config), "codeforge-demo"], capture_output=True, text=True, check=True
    ).stdout
    seen = dict(line.split(" ", 1) for line in out.splitlines() if " " in line)
    assert seen["user"] == "alice"
    assert seen["identityfile"] == str(tmp_path / "my keys" / "id_ed25519")
    assert seen["userknownhostsfile"] == str(tmp_path / "known_hosts")
    assert seen["stricthostkeychecking"] == "true" and seen["hostkeyalias"] == "codeforge-demo"
    assert seen["identitiesonly"] == "yes"
    # ssh expands %-tokens in ProxyCommand when it runs it (-G shows it before): the URL's % is
    # doubled so that it reaches `codeforge connect` as written; the path's space is quoted.
    assert seen["proxycommand"] == (
        f"env CODEFORGE_CONFIG_DIR={tmp_path / 'cfg'} '/opt/code forge/bin/codeforge' "
        "connect 'ws://127.0.0.1:8765/?x=%%41' --ssh"
    )
    # The user's own entry is untouched by ours.
    github = subprocess.run(["ssh", "-G", "-F", str(config), "github.com"], capture_output=True, text=True, check=True)
    assert "user git" in github.stdout and "proxycommand" not in github.stdout


def test_the_key_pair_is_made_once_and_private(tmp_path: Path) -> None:
    private, public = ensure_key_pair(tmp_path / "ssh")
    assert private.stat().st_mode & 0o777 == 0o600
    assert public.startswith("ssh-ed25519 ")
    assert ensure_key_pair(tmp_path / "ssh") == (private, public)
    if shutil.which("ssh-keygen"):  # OpenSSH reads the private key and derives the same public one
        derived = subprocess.run(["ssh-keygen", "-y", "-f", str(private)], capture_output=True, text=True, check=True)
        assert derived.stdout.split()[:2] == public.split()
