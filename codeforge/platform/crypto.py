"""Secrets at rest: Fernet (AES-128-CBC + HMAC) with the key from settings."""

from __future__ import annotations

from cryptography.fernet import Fernet, InvalidToken

from codeforge.catalog.errors import CodeForgeError

__all__ = ["Cipher"]


class Cipher:
    def __init__(self, key: bytes) -> None:
        try:
            self._fernet = Fernet(key)
        except ValueError:
            raise CodeForgeError(
                "CODEFORGE_SECRET_KEY is not a valid Fernet key",
                fix="use 32 url-safe base64-encoded bytes, e.g. from `python -c 'from cryptography.fernet "
                "import Fernet; print(Fernet.generate_key().decode())'`",
            ) from None

    def encrypt(self, plain: str) -> str:
        return self._fernet.encrypt(plain.encode()).decode()

    def decrypt(self, token: str, *, ttl: int | None = None) -> str:
        """Plain text of a token; with `ttl`, only if it was made in the last `ttl` seconds."""
        try:
            return self._fernet.decrypt(token.encode(), ttl=ttl).decode()
        except InvalidToken:
            raise CodeForgeError(
                "a stored secret cannot be decrypted with the current key",
                fix="start the platform with the CODEFORGE_SECRET_KEY it had when the secret was stored",
            ) from None
