"""Password hashes: argon2id PHC strings, made and verified by the service (pulse stores
them, validates their format and never sees a password).

    python -m pulse_api.passwords < password.txt     # prints the hash of the first line
"""

import sys

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

# argon2-cffi's defaults: argon2id, RFC 9106's low-memory profile (t=3, m=64 MiB, p=4).
HASHER = PasswordHasher()

# Verified against when the e-mail is unknown, so that an unknown address costs as much
# time as a wrong password and sign-in does not reveal which addresses have accounts.
_DUMMY = HASHER.hash("no such user")


def hash_password(password: str) -> str:
    return HASHER.hash(password)


def verify(phc: str | None, password: str) -> bool:
    """True if the password matches the hash. No hash (unknown user, or a user without a
    password) and hashes of other algorithms (bcrypt, scrypt: pulse accepts them, this
    service does not verify them) are False."""
    try:
        return HASHER.verify(phc or _DUMMY, password) and phc is not None
    except (VerificationError, InvalidHashError):
        return False


if __name__ == "__main__":
    line = sys.stdin.readline().rstrip("\r\n")
    if not line:
        sys.exit("usage: python -m pulse_api.passwords < file-with-the-password")
    print(hash_password(line))
