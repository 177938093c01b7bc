"""Create swarm.pem the way hivemind does: libp2p protobuf PrivateKey{RSA, DER PKCS#1}, mode 0400."""

from __future__ import annotations

import os
from pathlib import Path

from swarmtui.node.peerid import KEY_TYPE_RSA, encode_libp2p_key, peer_id_from_key_bytes


def new_identity_bytes() -> bytes:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    der = key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.TraditionalOpenSSL,
                            serialization.NoEncryption())
    return encode_libp2p_key(KEY_TYPE_RSA, der)


def write_new_identity(path: Path) -> str:
    """Write a fresh key to `path` (never over an existing file) and return its peer id."""
    path = Path(path)
    if not path.parent.is_dir():
        raise FileNotFoundError(f"The directory `{path.parent}` for saving the identity does not exist")
    raw = new_identity_bytes()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(raw)
    os.chmod(path, 0o400)  # hivemind leaves it read-only
    return peer_id_from_key_bytes(raw)


def read_peer_id(path: Path) -> str:
    return peer_id_from_key_bytes(Path(path).read_bytes())
