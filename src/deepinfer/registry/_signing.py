"""Ed25519 signatures of registry indexes (the ``cryptography`` library).

A publisher signs the exact bytes of ``index.json``; the signature goes beside it as ``index.json.sig``::

    {"signatures": [{"keyid": "<16 hex>", "signature": "<base64 of 64 bytes>"}]}

The index pins every card by sha256, so the one signature covers the cards too: a card changed after
signing no longer matches its index entry. What is signed is a fixed context line followed by the index
bytes, so a signature made for something else can never pass as an index signature. Public keys are
written ``ed25519:<base64 of the 32 raw bytes>``; private keys are PKCS#8 PEM files (mode 0600).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from deepinfer._exceptions import InputError, IntegrityError, UsageError

if TYPE_CHECKING:  # cryptography is imported by the functions that use it: listing models never needs it
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

KEY_PREFIX = "ed25519:"
SIGNATURE_SUFFIX = ".sig"
MAX_SIGNATURE_BYTES = 64 << 10
_CONTEXT = b"deepinfer registry index v1\n"


def public_key_text(key: Ed25519PublicKey) -> str:
    from cryptography.hazmat.primitives import serialization

    raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return KEY_PREFIX + base64.b64encode(raw).decode("ascii")


def parse_public_key(text: str) -> Ed25519PublicKey:
    """A public key written ``ed25519:<base64>``; raises UsageError naming the problem."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    if not text.startswith(KEY_PREFIX):
        raise UsageError(f"{text!r}: a public key is written {KEY_PREFIX}<base64 of 32 bytes>")
    try:
        raw = base64.b64decode(text.removeprefix(KEY_PREFIX), validate=True)
        return Ed25519PublicKey.from_public_bytes(raw)
    except (binascii.Error, ValueError):
        raise UsageError(f"{text!r}: not an Ed25519 public key (32 bytes, base64)") from None


def key_id(key: Ed25519PublicKey) -> str:
    """A short name of a public key: the first 16 hex digits of the sha256 of its raw bytes."""
    from cryptography.hazmat.primitives import serialization

    raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


def write_private_key(path: Path) -> str:
    """Create a new key pair, the private key in the new file ``path`` (0600); returns the public key text."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    except FileExistsError:
        raise UsageError(f"{path} already exists; a key file is never overwritten") from None
    except OSError as error:
        raise InputError(f"{path}: cannot create the key file ({error.strerror})") from None
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(pem)
    return public_key_text(key.public_key())


def load_private_key(path: Path) -> Ed25519PrivateKey:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except OSError as error:
        raise InputError(f"{path}: cannot read the key file ({error.strerror})") from None
    except (ValueError, TypeError) as error:
        raise InputError(f"{path}: not an unencrypted PEM private key ({error})") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise InputError(f"{path}: not an Ed25519 private key")
    return key


def sign_index(index: bytes, key: Ed25519PrivateKey) -> bytes:
    """The signature document (``index.json.sig`` bytes) of the index bytes ``index``."""
    signature = key.sign(_CONTEXT + index)
    entry = {"keyid": key_id(key.public_key()), "signature": base64.b64encode(signature).decode("ascii")}
    return (json.dumps({"signatures": [entry]}, indent=2) + "\n").encode("utf-8")


def verify_index(index: bytes, signature_document: bytes | None, trusted: Sequence[str], what: str) -> str:
    """The key id of a trusted key that signed ``index``; else IntegrityError naming ``what``."""
    from cryptography.exceptions import InvalidSignature

    if signature_document is None:
        raise IntegrityError(f"{what}: the index is not signed (no {SIGNATURE_SUFFIX} file), but it must be")
    keys = [parse_public_key(text) for text in trusted]
    for signature in _signatures(signature_document, what):
        for key in keys:
            try:
                key.verify(signature, _CONTEXT + index)
            except InvalidSignature:
                continue
            return key_id(key)
    names = ", ".join(key_id(key) for key in keys)
    raise IntegrityError(
        f"{what}: the index signature does not verify with the trusted key(s) {names} "
        "(the index or its signature changed after signing, or it was signed with another key)"
    )


def _signatures(document: bytes, what: str) -> list[bytes]:
    try:
        parsed: Any = json.loads(document.decode("utf-8"))
        entries = parsed["signatures"]
        found = [base64.b64decode(entry["signature"], validate=True) for entry in entries]
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError, binascii.Error):
        raise IntegrityError(f"{what}: the signature file is malformed") from None
    except (KeyError, TypeError):
        raise IntegrityError(f"{what}: the signature file has no 'signatures' list of objects") from None
    return found
