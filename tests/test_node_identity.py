"""node.identity and `swarmtui identity`: peer id, animal name, login files, problems."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import shutil
import stat
import subprocess
import sys

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

from node_checkouts import _pooled_key, libp2p_key_bytes, make_checkout, write_login, write_pem
from swarmtui.node import peerid
from swarmtui.node.identity import identity_report, load_name_words, name_words_from_file
from swarmtui.node.layout import inspect_checkout


def write_private_login(root, **kw):
    """The login files as a careful person leaves them (0600); modal-login itself writes 0644,
    which is a problem of its own (test_login_files_readable_by_others)."""
    write_login(root, **kw)
    for name in ("userData.json", "userApiKey.json"):
        path = root / "modal-login" / "temp-data" / name
        if path.exists():
            path.chmod(0o600)


# Independent cross-check: js-libp2p's peer-id test fixture (test/fixtures/sample-id; the same
# sample is reused by ts-peer-id, swift-libp2p and zig libp2p tests): an RSA-2048 private key in
# the libp2p protobuf and the multihash of its peer id.
LIBP2P_SAMPLE_PRIVKEY = (
    "CAASpgkwggSiAgEAAoIBAQC2SKo/HMFZeBml1AF3XijzrxrfQXdJzjePBZAbdxqKR1Mc6juRHXij6HXYPjlAk01BhF1S3Ll4Lwi0cAHh"
    "ggf457sMg55UWyeGKeUv0ucgvCpBwlR5cQ020i0MgzjPWOLWq1rtvSbNcAi2ZEVn6+Q2EcHo3wUvWRtLeKz+DZSZfw2PEDC+DGPJPl7f8g7z"
    "l56YymmmzH9liZLNrzg/qidokUv5u1pdGrcpLuPNeTODk0cqKB+OUbuKj9GShYECCEjaybJDl9276oalL9ghBtSeEv20kugatTvYy590wFlJk"
    "kvyl+nPxIH0EEYMKK9XRWlu9XYnoSfboiwcv8M3SlsjAgMBAAECggEAZtju/bcKvKFPz0mkHiaJcpycy9STKphorpCT83srBVQi59CdFU6Mj+a"
    "L/xt0kCPMVigJw8P3/YCEJ9J+rS8BsoWE+xWUEsJvtXoT7vzPHaAtM3ci1HZd302Mz1+GgS8Epdx+7F5p80XAFLDUnELzOzKftvWGZmWfSeDnsl"
    "wVONkL/1VAzwKy7Ce6hk4SxRE7l2NE2OklSHOzCGU1f78ZzVYKSnS5Ag9YrGjOAmTOXDbKNKN/qIorAQ1bovzGoCwx3iGIatQKFOxyVCyO1PsJ"
    "YT7JO+kZbhBWRRE+L7l+ppPER9bdLFxs1t5CrKc078h+wuUr05S1P1JjXk68pk3+kQKBgQDeK8AR11373Mzib6uzpjGzgNRMzdYNuExWjxyxAzz"
    "53NAR7zrPHvXvfIqjDScLJ4NcRO2TddhXAfZoOPVH5k4PJHKLBPKuXZpWlookCAyENY7+Pd55S8r+a+MusrMagYNljb5WbVTgN8cgdpim9lbbIF"
    "lpN6SZaVjLQL3J8TWH6wKBgQDSChzItkqWX11CNstJ9zJyUE20I7LrpyBJNgG1gtvz3ZMUQCn3PxxHtQzN9n1P0mSSYs+jBKPuoSyYLt1wwe10/"
    "lpgL4rkKWU3/m1Myt0tveJ9WcqHh6tzcAbb/fXpUFT/o4SWDimWkPkuCb+8j//2yiXk0a/T2f36zKMuZvujqQKBgC6B7BAQDG2H2B/ijofp12ejJ"
    "U36nL98gAZyqOfpLJ+FeMz4TlBDQ+phIMhnHXA5UkdDapQ+zA3SrFk+6yGk9Vw4Hf46B+82SvOrSbmnMa+PYqKYIvUzR4gg34rL/7AhwnbEyD5h"
    "Xq4dHwMNsIDq+l2elPjwm/U9V0gdAl2+r50HAoGALtsKqMvhv8HucAMBPrLikhXP/8um8mMKFMrzfqZ+otxfHzlhI0L08Bo3jQrb0Z7ByNY6M8ep"
    "OmbCKADsbWcVre/AAY0ZkuSZK/CaOXNX/AhMKmKJh8qAOPRY02LIJRBCpfS4czEdnfUhYV/TYiFNnKRj57PPYZdTzUsxa/yVTmECgYBr7slQEjb5"
    "Onn5mZnGDh+72BxLNdgwBkhO0OCdpdISqk0F0Pxby22DFOKXZEpiyI9XYP1C8wPiJsShGm2yEwBPWXnrrZNWczaVuCbXHrZkWQogBDG3HGXNdU4MA"
    "WCyiYlyinIBpPpoAJZSzpGLmWbMWh28+RJS6AQX6KHrK1o2uw=="
)
LIBP2P_SAMPLE_ID_HEX = "122019318b6e5e0cf93a2314bf01269a2cc23cd3dcd452d742cdb9379d8646f6e4a9"


def test_peer_id_matches_libp2p_test_vector():
    raw = base64.b64decode(LIBP2P_SAMPLE_PRIVKEY)
    pid = peerid.peer_id_from_key_bytes(raw)
    assert peerid.b58decode(pid).hex() == LIBP2P_SAMPLE_ID_HEX
    assert pid.startswith("Qm") and len(pid) == 46


@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command")
def test_spki_step_agrees_with_openssl(tmp_path):
    key = _pooled_key(0)
    der = key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.TraditionalOpenSSL,
                            serialization.NoEncryption())
    (tmp_path / "k.der").write_bytes(der)
    spki = subprocess.run(["openssl", "rsa", "-inform", "DER", "-in", str(tmp_path / "k.der"), "-pubout",
                           "-outform", "DER"], capture_output=True, check=True).stdout
    expected = peerid.b58encode(b"\x12\x20" + hashlib.sha256(b"\x08\x00\x12" + peerid.encode_varint(len(spki))
                                                              + spki).digest())
    assert peerid.peer_id_from_key_bytes(peerid.encode_libp2p_key(0, der)) == expected


def test_name_words_are_parsed_not_executed(tmp_path):
    marker = tmp_path / "executed"
    src = (f"open({str(marker)!r}, 'w').write('x')\n"
           "ADJECTIVES = ['agile', 'alert']\nANIMALS: list = ['bat']\n")
    (tmp_path / "hivemind_exp").mkdir()
    (tmp_path / "hivemind_exp" / "name_utils.py").write_text(src)
    assert load_name_words(tmp_path) == (["agile", "alert"], ["bat"])
    assert not marker.exists()


def test_name_words_reject_non_literals(tmp_path):
    p = tmp_path / "n.py"
    p.write_text("ADJECTIVES = sorted(['a'])\nANIMALS = ['b']\n")
    assert name_words_from_file(p) is None
    p.write_text("this is not python (\n")
    assert name_words_from_file(p) is None


def test_animal_name_with_rl_swarm_vectors(tmp_path):
    # rl-swarm's real word lists (kept by the simulator), written as a checkout's name_utils.py,
    # against the known answers of hivemind_exp/tests/test_name_utils.py and issue #119.
    from importlib import resources

    words = json.loads(resources.files("swarmtui.sim").joinpath("data/name_words.json").read_text())
    src = f"ADJECTIVES = {words['ADJECTIVES']!r}\nANIMALS = {words['ANIMALS']!r}\n"
    (tmp_path / "rgym_exp" / "src" / "utils").mkdir(parents=True)
    (tmp_path / "rgym_exp" / "src" / "utils" / "name_utils.py").write_text(src)
    adjectives, animals = load_name_words(tmp_path)
    assert len(adjectives) == 245 and len(animals) == 220
    for peer, name in [("QmYyQSo1c1Ym7orWxLYvCrM2EmxFTANf8wXmmE7DWjhx5N", "thorny fishy meerkat"),
                       ("Qma9T5YraSnpRDZqRR4krcSJabThc8nwZuJV3LercPHufi", "singing keen cow"),
                       ("Qmb8wVVVMTRmG4U1tCdaCCqietuWwpGRSbL53PA5azBViP", "toothy carnivorous bison"),
                       ("QmYii94drSM2nDZ8BAbyzG2EHzC41ko5X1Xt1NcWvv3Xb6", "dormant toothy bat")]:
        assert peerid.animal_name(peer, adjectives, animals) == name


def test_report_on_a_good_key(tmp_path):
    root = make_checkout(tmp_path / "n", "codezero")
    raw = libp2p_key_bytes()
    write_pem(root / "swarm.pem", raw)
    write_private_login(root)
    rep = identity_report(inspect_checkout(root, env={}), backups_dir=tmp_path / "no-backups")
    assert rep.pem_state == "ok" and rep.pem_mode == "0400"
    assert rep.peer_id == peerid.peer_id_from_key_bytes(raw)
    adjectives, animals = load_name_words(root)
    assert rep.animal_name == peerid.animal_name(rep.peer_id, adjectives, animals)
    assert rep.name_words_path.endswith("code_gen_exp/src/utils/name_utils.py")
    assert rep.problems == []
    d = rep.to_dict()
    assert d["login"] == {"user_data": True, "api_key": True, "org_id": "5f1c2b3a-0d9e-4c7b-8a6f-2e4d1c0b9a87",
                          "address": "0x1111111111111111111111111111111111111111", "email": "a@example.org",
                          "keys": 2, "activated": True, "created_at": "2025-07-02T10:00:00.000Z"}
    dumped = json.dumps(d)
    assert "SECRET-PRIVATE-KEY" not in dumped and "privateKey" not in dumped
    assert base64.b64encode(raw).decode()[:40] not in dumped


def test_missing_pem(tmp_path):
    root = make_checkout(tmp_path / "n", "rgym")
    rep = identity_report(inspect_checkout(root, env={}), backups_dir=tmp_path / "b")
    assert rep.pem_state == "missing" and rep.peer_id is None
    assert [p.code for p in rep.problems] == ["pem-missing"]
    assert "new identity" in rep.problems[0].fix


@pytest.mark.parametrize("content, why", [
    (b"-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA\n-----END RSA PRIVATE KEY-----\n", "text PEM"),
    (None, "truncated"),
    (b"", "not a libp2p private key"),
    (b"\x08\x01\x12\x20" + b"\x01" * 32, "Ed25519"),
])
def test_bad_format_pems(tmp_path, content, why):
    root = make_checkout(tmp_path / "n", "hivemind")
    if content is None:
        content = libp2p_key_bytes()[:600]
    write_pem(root / "swarm.pem", content)
    rep = identity_report(inspect_checkout(root, env={}), backups_dir=tmp_path / "b")
    assert rep.pem_state == "bad-format"
    assert why.split()[0].lower() in rep.pem_error.lower() or why in rep.pem_error
    assert rep.peer_id is None
    assert "pem-bad-format" in [p.code for p in rep.problems]


def test_wrong_key_inside_rsa_framing(tmp_path):
    root = make_checkout(tmp_path / "n", "hivemind")
    ec_der = ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption())
    write_pem(root / "swarm.pem", peerid.encode_libp2p_key(0, ec_der))
    rep = identity_report(inspect_checkout(root, env={}), backups_dir=tmp_path / "b")
    assert rep.pem_state == "bad-format" and "not RSA" in rep.pem_error
    ed = ed25519.Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption())
    write_pem(root / "swarm.pem", peerid.encode_libp2p_key(1, ed), mode=0o600)
    rep = identity_report(inspect_checkout(root, env={}), backups_dir=tmp_path / "b")
    assert rep.pem_state == "bad-format" and "Ed25519" in rep.pem_error


def test_pem_readable_by_others(tmp_path):
    root = make_checkout(tmp_path / "n", "codezero")
    write_pem(root / "swarm.pem", libp2p_key_bytes(), mode=0o644)
    rep = identity_report(inspect_checkout(root, env={}), backups_dir=tmp_path / "b")
    assert rep.pem_state == "ok" and rep.peer_id
    (p,) = [p for p in rep.problems if p.code == "pem-mode"]
    assert "0644" in p.message and "chmod 600" in p.fix


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads any file")
def test_unreadable_pem(tmp_path):
    root = make_checkout(tmp_path / "n", "codezero")
    write_pem(root / "swarm.pem", libp2p_key_bytes(), mode=0o000)
    rep = identity_report(inspect_checkout(root, env={}), backups_dir=tmp_path / "b")
    assert rep.pem_state == "unreadable"
    assert "pem-unreadable" in [p.code for p in rep.problems]


def test_pem_path_is_a_directory(tmp_path):
    root = make_checkout(tmp_path / "n", "codezero")
    (root / "swarm.pem").mkdir()
    rep = identity_report(inspect_checkout(root, env={}), backups_dir=tmp_path / "b")
    assert rep.pem_state == "bad-format" and "directory" in rep.pem_error


def test_identity_path_env_is_honoured(tmp_path):
    root = make_checkout(tmp_path / "n", "codezero")
    keys = tmp_path / "keys"
    keys.mkdir()
    raw = libp2p_key_bytes()
    write_pem(keys / "swarm.pem", raw)
    rep = identity_report(inspect_checkout(root, env={"IDENTITY_PATH": str(keys / "swarm.pem")}),
                          backups_dir=tmp_path / "b")
    assert rep.pem_path == str(keys / "swarm.pem") and rep.peer_id == peerid.peer_id_from_key_bytes(raw)


def test_a_docker_way_checkout_has_its_identity_and_login_under_user(tmp_path):
    # docker-compose.yaml (v0.5.0 ... main): ./user/keys -> the container's keys/ (IDENTITY_PATH of
    # the image), ./user/modal-login -> modal-login/temp-data. No ./swarm.pem on such a checkout.
    root = make_checkout(tmp_path / "n", "rgym")
    (root / "user" / "keys").mkdir(parents=True)
    raw = libp2p_key_bytes()
    write_pem(root / "user" / "keys" / "swarm.pem", raw)
    (root / "user" / "modal-login").mkdir(parents=True)
    write_login(root)   # writes modal-login/temp-data: move the files where the container writes them
    for name in ("userData.json", "userApiKey.json"):
        (root / "modal-login" / "temp-data" / name).rename(root / "user" / "modal-login" / name)
        (root / "user" / "modal-login" / name).chmod(0o600)
    rep = identity_report(inspect_checkout(root, env={}), backups_dir=tmp_path / "b")
    assert rep.pem_path == str(root.resolve() / "user" / "keys" / "swarm.pem")
    assert rep.pem_state == "ok" and rep.peer_id == peerid.peer_id_from_key_bytes(raw) and rep.animal_name
    assert rep.login.user_data and rep.login.api_key and rep.login.activated
    # the same checkout looked at the script way: no pem, no login (what `identity` said before)
    rep = identity_report(inspect_checkout(root, env={}, docker=False), backups_dir=tmp_path / "b")
    assert rep.pem_state == "missing" and not rep.login.user_data


def test_no_word_lists_still_shows_the_peer_id(tmp_path):
    root = make_checkout(tmp_path / "n", "codezero", name_utils=None)
    write_pem(root / "swarm.pem", libp2p_key_bytes())
    rep = identity_report(inspect_checkout(root, env={}), backups_dir=tmp_path / "b")
    assert rep.peer_id and rep.animal_name is None
    assert [p.code for p in rep.problems] == ["names-unavailable"]


def test_half_login_and_inactive_key(tmp_path):
    root = make_checkout(tmp_path / "n", "codezero")
    write_pem(root / "swarm.pem", libp2p_key_bytes())
    write_login(root, api_key=False)
    rep = identity_report(inspect_checkout(root, env={}), backups_dir=tmp_path / "b")
    (p,) = [p for p in rep.problems if p.code == "login-half"]
    assert "userApiKey.json is not" in p.message and "http://localhost:3000" in p.fix
    (root / "modal-login" / "temp-data" / "userData.json").unlink()
    write_login(root, user_data=False, keys=1, activated=False)
    rep = identity_report(inspect_checkout(root, env={}), backups_dir=tmp_path / "b")
    codes = [p.code for p in rep.problems]
    assert "login-half" in codes and "login-not-activated" in codes
    assert rep.login.keys == 1 and rep.login.activated is False


def test_corrupt_login_file(tmp_path):
    root = make_checkout(tmp_path / "n", "codezero")
    write_pem(root / "swarm.pem", libp2p_key_bytes())
    write_login(root)
    (root / "modal-login" / "temp-data" / "userData.json").write_text("{not json")
    rep = identity_report(inspect_checkout(root, env={}), backups_dir=tmp_path / "b")
    assert "login-unreadable" in [p.code for p in rep.problems]


def test_eoa_mismatch_when_known(tmp_path):
    root = make_checkout(tmp_path / "n", "codezero")
    write_pem(root / "swarm.pem", libp2p_key_bytes())
    write_private_login(root, address="0xAbC0000000000000000000000000000000000001")
    lay = inspect_checkout(root, env={})
    assert identity_report(lay, known_eoa="0xabc0000000000000000000000000000000000001",
                           backups_dir=tmp_path / "b").problems == []
    rep = identity_report(lay, known_eoa="0x9990000000000000000000000000000000000009", backups_dir=tmp_path / "b")
    (p,) = rep.problems
    assert p.code == "eoa-mismatch" and "0x999" in p.message


def test_several_pem_backups(tmp_path):
    root = make_checkout(tmp_path / "n", "codezero")
    raw = libp2p_key_bytes()
    write_pem(root / "swarm.pem", raw)
    write_pem(root / "swarm.pem.bak", raw, mode=0o600)
    write_pem(root / "other.pem", libp2p_key_bytes(2), mode=0o600)
    backups = tmp_path / "backups"
    backups.mkdir()
    write_pem(backups / "20250101-swarm.pem", libp2p_key_bytes(1), mode=0o600)
    rep = identity_report(inspect_checkout(root, env={}), backups_dir=backups)
    (p,) = [p for p in rep.problems if p.code == "pem-backups"]
    # swarmtui's own backup (another peer id) is listed, never counted: only the checkout's files
    assert "2 other key files in the checkout, 1 with a different peer id" in p.message
    assert "20250101" not in p.message
    same = {os.path.basename(b["path"]): b["same_identity"] for b in rep.backups}
    assert same == {"other.pem": False, "swarm.pem.bak": True, "20250101-swarm.pem": False}


def test_after_a_reset_the_backup_of_the_old_key_in_the_state_dir_is_no_problem(tmp_path):
    root = make_checkout(tmp_path / "n", "codezero")
    write_pem(root / "swarm.pem", libp2p_key_bytes(3))       # the new identity
    backups = tmp_path / "backups"
    backups.mkdir()
    write_pem(backups / "20250101T000000Z-swarm.pem", libp2p_key_bytes(1), mode=0o600)   # the old one
    rep = identity_report(inspect_checkout(root, env={}), backups_dir=backups)
    assert [p.code for p in rep.problems if p.code == "pem-backups"] == []
    assert [b["same_identity"] for b in rep.backups] == [False]


def test_swarmtuis_own_backups_of_the_same_key_are_fine_but_clutter_in_the_checkout_is_not(tmp_path):
    root = make_checkout(tmp_path / "n", "codezero")
    raw = libp2p_key_bytes()
    write_pem(root / "swarm.pem", raw)
    backups = tmp_path / "backups"
    backups.mkdir()
    for stamp in ("20250101T000000Z", "20250102T000000Z", "20250103T000000Z"):
        write_pem(backups / f"{stamp}-swarm.pem", raw, mode=0o600)
    assert identity_report(inspect_checkout(root, env={}), backups_dir=backups).problems == []
    write_pem(root / "swarm.pem.bak", raw, mode=0o600)
    write_pem(root / "old.pem", raw, mode=0o600)
    rep = identity_report(inspect_checkout(root, env={}), backups_dir=backups)
    assert [p.code for p in rep.problems] == ["pem-backups"]


def test_a_single_identical_backup_is_fine(tmp_path):
    root = make_checkout(tmp_path / "n", "codezero")
    raw = libp2p_key_bytes()
    write_pem(root / "swarm.pem", raw)
    write_pem(root / "swarm.pem.bak", raw, mode=0o600)
    rep = identity_report(inspect_checkout(root, env={}), backups_dir=tmp_path / "none")
    assert rep.problems == []


# ---------------------------------------------------------------- the command


def swarmtui(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "swarmtui", *args], capture_output=True, text=True, timeout=60)


def test_cli_json_and_human(tmp_path):
    root = make_checkout(tmp_path / "n", "rgym")
    raw = libp2p_key_bytes()
    write_pem(root / "swarm.pem", raw)
    write_private_login(root)
    out = swarmtui("identity", str(root), "--json")
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert data["peer_id"] == peerid.peer_id_from_key_bytes(raw)
    assert data["era"] == "rgym" and data["pem_state"] == "ok"
    assert "SECRET-PRIVATE-KEY" not in out.stdout
    human = swarmtui("identity", str(root))
    assert human.returncode == 0
    lines = human.stdout.splitlines()
    assert lines[0].startswith("node ") and "RGym (v0.5.2–v0.6)" in lines[0]
    assert any(ln.startswith("peer id    " + data["peer_id"]) for ln in lines)
    assert any(ln.startswith("name       " + data["animal_name"]) for ln in lines)
    assert "2 keys, latest activated" in human.stdout
    assert "SECRET-PRIVATE-KEY" not in human.stdout
    assert lines[-1] == "problems   none"


def test_cli_not_a_checkout(tmp_path):
    out = swarmtui("identity", str(tmp_path))
    assert out.returncode == 2
    assert out.stdout == ""
    assert len(out.stderr.strip().splitlines()) == 1 and "run_rl_swarm.sh is missing" in out.stderr


def test_cli_on_simulator_checkouts(tmp_path):
    sim = pytest.importorskip("swarmtui.sim")
    for era in sim.ERAS:
        root = sim.create_checkout(tmp_path / era, era)
        raw = libp2p_key_bytes()
        write_pem(root / "swarm.pem", raw)
        sim.play_login(root)
        out = swarmtui("identity", str(root), "--json")
        assert out.returncode == 0, out.stderr
        data = json.loads(out.stdout)
        assert data["era"] == era
        assert data["peer_id"] == peerid.peer_id_from_key_bytes(raw)
        assert data["animal_name"] and len(data["animal_name"].split()) == 3
        assert data["login"]["user_data"] and data["login"]["api_key"]
        assert "privateKey" not in out.stdout


# ---------------------------------------------------------------- odd files, secrets readable by others


def _within(seconds, fn):
    """fn() in a thread: a blocking open() fails the test instead of hanging the suite."""
    import threading

    box = {}
    t = threading.Thread(target=lambda: box.update(value=fn()), daemon=True)
    t.start()
    t.join(seconds)
    assert not t.is_alive(), f"blocked for more than {seconds} s"
    return box["value"]


def test_fifo_at_swarm_pem_is_a_problem_not_a_hang(tmp_path):
    root = make_checkout(tmp_path / "n", "codezero")
    os.mkfifo(root / "swarm.pem")
    rep = _within(1.0, lambda: identity_report(inspect_checkout(root, env={}), backups_dir=tmp_path / "b"))
    assert rep.pem_state == "bad-format" and "FIFO" in rep.pem_error
    (p,) = [p for p in rep.problems if p.code == "pem-bad-format"]
    assert "FIFO" in p.message and "restore the original swarm.pem" in p.fix
    out = _within(30.0, lambda: swarmtui("identity", str(root)))
    assert out.returncode == 0 and "pem-bad-format" in out.stdout and "Traceback" not in out.stderr


def test_swarm_pem_linked_to_dev_zero_is_a_problem_not_a_memory_error(tmp_path):
    root = make_checkout(tmp_path / "n", "codezero")
    (root / "swarm.pem").symlink_to("/dev/zero")
    rep = _within(1.0, lambda: identity_report(inspect_checkout(root, env={}), backups_dir=tmp_path / "b"))
    assert rep.pem_state == "bad-format" and "character device" in rep.pem_error
    assert "pem-mode" not in [p.code for p in rep.problems]      # /dev/zero's 0666 is not the key's mode


def test_swarm_pem_linked_to_a_key_elsewhere_is_read(tmp_path):
    root = make_checkout(tmp_path / "n", "codezero")
    elsewhere = tmp_path / "other-disk"
    elsewhere.mkdir()
    raw = libp2p_key_bytes()
    write_pem(elsewhere / "swarm.pem", raw)
    (root / "swarm.pem").symlink_to(elsewhere / "swarm.pem")
    rep = identity_report(inspect_checkout(root, env={}), backups_dir=tmp_path / "b")
    assert rep.pem_state == "ok" and rep.peer_id == peerid.peer_id_from_key_bytes(raw)


def test_fifo_login_file_does_not_hang(tmp_path):
    root = make_checkout(tmp_path / "n", "codezero")
    write_pem(root / "swarm.pem", libp2p_key_bytes())
    write_private_login(root, api_key=False)
    os.mkfifo(root / "modal-login" / "temp-data" / "userApiKey.json")
    rep = _within(1.0, lambda: identity_report(inspect_checkout(root, env={}), backups_dir=tmp_path / "b"))
    assert rep.login.api_key is False and rep.login.user_data is True


def test_login_files_readable_by_others(tmp_path):
    root = make_checkout(tmp_path / "n", "codezero")
    write_pem(root / "swarm.pem", libp2p_key_bytes())
    write_private_login(root)
    key = root / "modal-login" / "temp-data" / "userApiKey.json"
    data = root / "modal-login" / "temp-data" / "userData.json"
    key.chmod(0o644)                        # as modal-login writes it
    data.chmod(0o640)
    rep = identity_report(inspect_checkout(root, env={}), backups_dir=tmp_path / "b")
    found = {p.message.split()[0]: p for p in rep.problems if p.code == "secret-readable"}
    assert set(found) == {str(key), str(data)}
    assert "0644" in found[str(key)].message and found[str(key)].fix.startswith(f"chmod 600 {key}")
    assert "0640" in found[str(data)].message and found[str(data)].fix.startswith(f"chmod 600 {data}")
    assert stat.S_IMODE(key.stat().st_mode) == 0o644         # reported, never chmod'ed for the person
    key.chmod(0o600)
    data.chmod(0o600)
    rep = identity_report(inspect_checkout(root, env={}), backups_dir=tmp_path / "b")
    assert rep.problems == []


def test_cli_shows_every_readable_secret(tmp_path):
    root = make_checkout(tmp_path / "n", "codezero")
    pem = write_pem(root / "swarm.pem", libp2p_key_bytes(), mode=0o644)
    write_login(root)
    for name in ("userData.json", "userApiKey.json"):
        (root / "modal-login" / "temp-data" / name).chmod(0o644)
    out = swarmtui("identity", str(root))
    assert out.returncode == 0
    assert f"pem-mode: {pem} is readable by others (mode 0644)" in out.stdout
    assert out.stdout.count("secret-readable:") == 2
    assert f"fix: chmod 600 {pem}" in out.stdout
    assert f"fix: chmod 600 {root / 'modal-login' / 'temp-data' / 'userApiKey.json'}" in out.stdout
