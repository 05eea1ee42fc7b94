"""The cryptography both Chinese gateways use, over `cryptography`: SHA256withRSA (PKCS#1 v1.5) signatures in
base64, RSA keys in PEM (or bare base64 DER, as the providers' consoles hand them out), and AEAD_AES_256_GCM."""

from __future__ import annotations

import base64
import binascii
from functools import lru_cache

from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM


class KeyError_(ValueError):
    """A key that cannot be read (wrong format, not RSA)."""


def _pem(text: str, kind: str) -> bytes:
    text = text.strip()
    if text.startswith("-----BEGIN"):
        return text.encode()
    body = "\n".join(text[i:i + 64] for i in range(0, len(text), 64))
    return f"-----BEGIN {kind}-----\n{body}\n-----END {kind}-----\n".encode()


@lru_cache(maxsize=64)
def private_key(text: str) -> rsa.RSAPrivateKey:
    """An RSA private key from PEM (PKCS#8 or PKCS#1) or bare base64 PKCS#8."""
    try:
        key = serialization.load_pem_private_key(_pem(text, "PRIVATE KEY"), password=None)
    except (ValueError, TypeError):
        raise KeyError_("not a readable RSA private key") from None
    if not isinstance(key, rsa.RSAPrivateKey):
        raise KeyError_("not an RSA private key")
    return key


@lru_cache(maxsize=64)
def public_key(text: str) -> rsa.RSAPublicKey:
    """An RSA public key from PEM, bare base64 SubjectPublicKeyInfo, or a PEM certificate."""
    text = text.strip()
    try:
        if "CERTIFICATE" in text:
            from cryptography import x509

            key = x509.load_pem_x509_certificate(text.encode()).public_key()
        else:
            key = serialization.load_pem_public_key(_pem(text, "PUBLIC KEY"))
    except (ValueError, TypeError):
        raise KeyError_("not a readable RSA public key or certificate") from None
    if not isinstance(key, rsa.RSAPublicKey):
        raise KeyError_("not an RSA public key")
    return key


def rsa_sign(key_text: str, message: str) -> str:
    signature = private_key(key_text).sign(message.encode("utf-8"), padding.PKCS1v15(), hashes.SHA256())
    return base64.b64encode(signature).decode()


def rsa_verify(key_text: str, message: str | bytes, signature_b64: str) -> bool:
    data = message.encode("utf-8") if isinstance(message, str) else message
    try:
        signature = base64.b64decode(signature_b64 or "", validate=True)
        public_key(key_text).verify(signature, data, padding.PKCS1v15(), hashes.SHA256())
    except (InvalidSignature, binascii.Error, ValueError):
        return False
    return True


def aes_gcm_decrypt(key: str, nonce: str, associated_data: str, ciphertext_b64: str) -> bytes | None:
    """AEAD_AES_256_GCM as WeChat Pay uses it (ciphertext = base64(encrypted || 16-byte tag)); None if the text
    was tampered with or the key is wrong."""
    try:
        return AESGCM(key.encode()).decrypt(nonce.encode(), base64.b64decode(ciphertext_b64, validate=True),
                                            associated_data.encode() if associated_data else None)
    except (InvalidTag, binascii.Error, ValueError):
        return None


def aes_gcm_encrypt(key: str, nonce: str, associated_data: str, plaintext: bytes) -> str:
    """The other direction (what WeChat Pay does to a notification; the fake provider uses it)."""
    return base64.b64encode(AESGCM(key.encode()).encrypt(nonce.encode(), plaintext,
                                                          associated_data.encode() or None)).decode()
