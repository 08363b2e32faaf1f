"""sshkeys: each member's own SSH public keys, validated, idempotent to add, audited; nobody
sees or removes another member's keys."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from tests.platform.conftest import Org

pytestmark = pytest.mark.skipif(shutil.which("ssh-keygen") is None, reason="ssh-keygen (OpenSSH) absent")


def _keygen(folder: Path, name: str, *args: str) -> tuple[str, str]:
    """A real key pair made by ssh-keygen: (public line, private text)."""
    path = folder / name
    subprocess.run(["ssh-keygen", "-q", "-N", "", "-C", f"{name}@laptop", "-f", str(path), *args], check=True)
    return (path.with_suffix(".pub").read_text(), path.read_text())


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[str, str]]:
    folder = tmp_path_factory.mktemp("keys")
    return {
        "ed": _keygen(folder, "ed", "-t", "ed25519"),
        "ecdsa": _keygen(folder, "ecdsa", "-t", "ecdsa"),
        "rsa1024": _keygen(folder, "weak", "-t", "rsa", "-b", "1024"),
    }


def _fingerprint(public: str) -> str:
    out = subprocess.run(["ssh-keygen", "-l", "-f", "-"], input=public, capture_output=True, text=True, check=True)
    return out.stdout.split()[1]


def test_add_list_remove_own_keys(org: Org, keys: dict[str, tuple[str, str]]) -> None:
    public = keys["ed"][0]
    added = org.ok("viewer", "sshkeys.add", {"public_key": public})
    assert added["name"] == "ed@laptop"  # the key's comment
    assert added["key_type"] == "ssh-ed25519" and added["fingerprint"] == _fingerprint(public)
    assert added["public_key"] == " ".join(public.split()[:2])
    # The same key again, under any name, is the key already there (ssh-config adds on every run).
    assert org.ok("viewer", "sshkeys.add", {"public_key": public, "name": "other"})["name"] == "ed@laptop"
    org.ok("viewer", "sshkeys.add", {"public_key": keys["ecdsa"][0], "name": "work"})
    assert [k["name"] for k in org.ok("viewer", "sshkeys.list")["items"]] == ["ed@laptop", "work"]
    assert org.ok("viewer", "sshkeys.remove", {"name": "work"})["name"] == "work"
    assert [k["name"] for k in org.ok("viewer", "sshkeys.list")["items"]] == ["ed@laptop"]
    gone = org.call("viewer", "sshkeys.remove", {"name": "work"})
    assert gone.status_code == 404 and "sshkeys list" in gone.json()["fix"]


def test_a_name_holds_one_key(org: Org, keys: dict[str, tuple[str, str]]) -> None:
    org.ok("developer", "sshkeys.add", {"public_key": keys["ed"][0], "name": "laptop"})
    clash = org.call("developer", "sshkeys.add", {"public_key": keys["ecdsa"][0], "name": "laptop"})
    assert clash.status_code == 409 and "laptop" in clash.json()["detail"]


def test_keys_are_each_members_own(org: Org, keys: dict[str, tuple[str, str]]) -> None:
    org.ok("developer", "sshkeys.add", {"public_key": keys["ed"][0], "name": "dev"})
    # Not even an owner sees or removes another member's keys: a bridge trusts only the
    # keys of the member whose token opened the tunnel, and lists them with that token.
    assert org.ok("owner", "sshkeys.list")["items"] == []
    assert org.call("owner", "sshkeys.remove", {"name": "dev"}).status_code == 404
    # Another member may hold the same key: it grants nothing without their token.
    assert org.ok("viewer", "sshkeys.add", {"public_key": keys["ed"][0]})["fingerprint"]
    assert [k["name"] for k in org.ok("developer", "sshkeys.list")["items"]] == ["dev"]


@pytest.mark.parametrize(
    ("which", "words"),
    [
        ("private", "private key"),
        ("garbage", "not an OpenSSH public key"),
        ("truncated", "not an OpenSSH public key"),
        ("two", "2 keys"),
        ("rsa1024", "1024-bit RSA"),
        ("ssh2", "not in OpenSSH format"),
        ("empty", "empty"),
    ],
)
def test_bad_keys_are_refused_clearly(org: Org, keys: dict[str, tuple[str, str]], which: str, words: str) -> None:
    public, private = keys["ed"]
    value = {
        "private": private,
        "garbage": "hello world",
        "truncated": public[:40],
        "two": public + keys["ecdsa"][0],
        "rsa1024": keys["rsa1024"][0],
        "ssh2": "---- BEGIN SSH2 PUBLIC KEY ----\nAAAA\n---- END SSH2 PUBLIC KEY ----",
        "empty": "# only a comment\n",
    }[which]
    response = org.call("developer", "sshkeys.add", {"public_key": value})
    assert response.status_code == 422, response.text
    problem = response.json()
    assert words in problem["detail"]
    assert problem["errors"][0]["field"] == "public_key" and problem["errors"][0]["fix"]
    assert private.split("\n")[1] not in response.text  # a pasted private key is never echoed
    assert org.ok("developer", "sshkeys.list")["items"] == []


def test_changes_are_audited(org: Org, keys: dict[str, tuple[str, str]]) -> None:
    org.ok("developer", "sshkeys.add", {"public_key": keys["ed"][0], "name": "laptop"})
    org.ok("developer", "sshkeys.remove", {"name": "laptop"})
    records = org.ok("admin", "audit.list", {"limit": 100})["items"]
    seen = {(r["operation"], r["actor"], r["target"], r["outcome"]) for r in records}
    assert ("sshkeys.add", "acme-developer", "laptop", "succeeded") in seen
    assert ("sshkeys.remove", "acme-developer", "laptop", "succeeded") in seen
