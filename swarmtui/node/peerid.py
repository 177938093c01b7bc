"""swarm.pem -> libp2p peer id -> three-word animal name, exactly as hivemind and rl-swarm do.

swarm.pem is not PEM: it is a protobuf `crypto.pb.PrivateKey{Type=RSA(0), Data=DER PKCS#1}`
(hivemind/utils/crypto.py). The peer id is base58btc(0x12 0x20 || sha256(protobuf
`PublicKey{Type=RSA, Data=SubjectPublicKeyInfo DER}`)) (hivemind PeerID.from_identity), and the
animal name indexes md5(peer id) bytes 2, 1, 0 into rl-swarm's word lists (name_utils.py).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Sequence

B58_ALPHABET = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
KEY_TYPE_RSA = 0
KEY_TYPE_NAMES = {0: "RSA", 1: "Ed25519", 2: "Secp256k1", 3: "ECDSA"}


class KeyFormatError(ValueError):
    """The bytes are not a libp2p protobuf private key of a kind hivemind writes."""


def b58encode(data: bytes) -> str:
    number = int.from_bytes(data, "big")
    out = []
    while number:
        number, rem = divmod(number, 58)
        out.append(B58_ALPHABET[rem])
    pad = len(data) - len(data.lstrip(b"\0"))
    return "1" * pad + "".join(reversed(out))


def b58decode(text: str) -> bytes:
    number = 0
    for ch in text:
        idx = B58_ALPHABET.find(ch)
        if idx < 0:
            raise ValueError(f"not base58: {ch!r}")
        number = number * 58 + idx
    body = number.to_bytes((number.bit_length() + 7) // 8, "big") if number else b""
    pad = len(text) - len(text.lstrip("1"))
    return b"\0" * pad + body


def encode_varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _read_varint(data: bytes, pos: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        if pos >= len(data) or shift > 63:
            raise KeyFormatError("truncated varint")
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            return value, pos


@dataclass(frozen=True)
class Libp2pKey:
    key_type: int
    data: bytes

    @property
    def type_name(self) -> str:
        return KEY_TYPE_NAMES.get(self.key_type, f"type {self.key_type}")


def parse_libp2p_key(raw: bytes) -> Libp2pKey:
    """Decode the two fields of a libp2p `PrivateKey` protobuf; reject anything else."""
    if raw.lstrip().startswith(b"-----BEGIN"):
        raise KeyFormatError("this is a text PEM file, not hivemind's binary libp2p key")
    key_type: int | None = None
    data: bytes | None = None
    pos = 0
    while pos < len(raw):
        tag, pos = _read_varint(raw, pos)
        field, wire = tag >> 3, tag & 7
        if wire == 0:
            value, pos = _read_varint(raw, pos)
            if field == 1:
                key_type = value
        elif wire == 2:
            length, pos = _read_varint(raw, pos)
            if pos + length > len(raw):
                raise KeyFormatError("truncated key data")
            if field == 2:
                data = raw[pos:pos + length]
            pos += length
        else:
            raise KeyFormatError(f"unexpected protobuf wire type {wire}")
    if key_type is None or data is None:
        raise KeyFormatError("not a libp2p private key (type or data field missing)")
    return Libp2pKey(key_type, data)


def encode_libp2p_key(key_type: int, data: bytes) -> bytes:
    """The protobuf framing libp2p uses for both PrivateKey and PublicKey messages."""
    return b"\x08" + encode_varint(key_type) + b"\x12" + encode_varint(len(data)) + data


def rsa_public_spki(private_der: bytes) -> bytes:
    """SubjectPublicKeyInfo DER of a PKCS#1 DER RSA private key."""
    from cryptography.hazmat.primitives import serialization

    try:
        private = serialization.load_der_private_key(private_der, password=None)
    except (ValueError, TypeError) as exc:
        raise KeyFormatError(f"the RSA key inside does not load: {exc}") from None
    from cryptography.hazmat.primitives.asymmetric import rsa

    if not isinstance(private, rsa.RSAPrivateKey):
        raise KeyFormatError(f"the key inside is {type(private).__name__}, not RSA")
    return private.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def peer_id_from_public_spki(spki: bytes) -> str:
    public_proto = encode_libp2p_key(KEY_TYPE_RSA, spki)
    return b58encode(b"\x12\x20" + hashlib.sha256(public_proto).digest())


def peer_id_from_key_bytes(raw: bytes) -> str:
    """The `Qm...` peer id of the bytes of a swarm.pem."""
    key = parse_libp2p_key(raw)
    if key.key_type != KEY_TYPE_RSA:
        raise KeyFormatError(f"key type is {key.type_name}; hivemind writes RSA keys")
    return peer_id_from_public_spki(rsa_public_spki(key.data))


def animal_name(peer_id: str, adjectives: Sequence[str], animals: Sequence[str], no_spaces: bool = False) -> str:
    """rl-swarm's `get_name_from_peer_id`."""
    digest = hashlib.md5(peer_id.encode()).digest()
    words = [adjectives[digest[2] % len(adjectives)], adjectives[digest[1] % len(adjectives)],
             animals[digest[0] % len(animals)]]
    return ("_" if no_spaces else " ").join(words)
