"""Forge the tokens a real Cognito (or moto) never hands out, for the local
API's end-to-end tests. Takes a real access token and prints a variant:

  expired   the same claims with `exp` an hour ago, signed with the emulator's
            own key (the signature is valid; only the time is wrong)
  otherkey  the same claims, signed by a freshly generated RSA key that claims
            the emulator's key id (`kid`)

Run with the project's .venv python (moto and joserfc are installed there).
"""

import base64
import json
import sys
import time

from joserfc import jwt
from joserfc.jwk import RSAKey
from moto.utilities.utils import load_resource


def claims_of(token: str) -> dict:
    payload = token.split(".")[1]
    payload += "=" * (-len(payload) % 4)
    return json.loads(base64.urlsafe_b64decode(payload))


def main() -> int:
    mode, token = sys.argv[1], sys.argv[2]
    claims = claims_of(token)
    header = {"kid": "dummy", "alg": "RS256"}
    if mode == "expired":
        now = int(time.time())
        claims.update(iat=now - 7200, auth_time=now - 7200, exp=now - 3600)
        key = RSAKey.import_key(load_resource("cognitoidp/resources/jwks-private.json"))
    elif mode == "otherkey":
        key = RSAKey.generate_key(2048)
    else:
        print(f"unknown mode {mode}", file=sys.stderr)
        return 2
    print(jwt.encode(header, claims, key))
    return 0


if __name__ == "__main__":
    sys.exit(main())
