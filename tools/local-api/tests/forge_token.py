"""Forge the tokens a real Cognito (or moto) never hands out, for the local
API's end-to-end tests. Takes a real access token and prints a variant:

  expired   the same claims with `exp` an hour ago, signed with the emulator's
            own key (the signature is valid; only the time is wrong)
  otherkey  the same claims, signed by a freshly generated RSA key that claims
            the emulator's key id (`kid`)
  none      the same claims, unsigned (`alg: none`)
  hs256     the same claims, HMAC-signed with the emulator's public key as the secret
  unknownkid the same claims, signed with the emulator's key under a key id it does not publish
  wrongiss  signed with the emulator's key, `iss` another pool's
  futurenbf signed with the emulator's key, `nbf` an hour ahead
  futureiat signed with the emulator's key, `iat` an hour ahead
  foreignaud signed with the emulator's key, an `aud` of another app client
            beside the genuine `client_id` (API Gateway reads `aud` first)

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


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def main() -> int:
    mode, token = sys.argv[1], sys.argv[2]
    claims = claims_of(token)
    header = {"kid": "dummy", "alg": "RS256"}
    moto_key = lambda: RSAKey.import_key(load_resource("cognitoidp/resources/jwks-private.json"))
    now = int(time.time())
    if mode == "expired":
        claims.update(iat=now - 7200, auth_time=now - 7200, exp=now - 3600)
        key = moto_key()
    elif mode == "otherkey":
        key = RSAKey.generate_key(2048)
    elif mode == "none":
        print(b64(json.dumps({"alg": "none", "kid": "dummy"}).encode()) + "." + b64(json.dumps(claims).encode()) + ".")
        return 0
    elif mode == "hs256":
        import hashlib
        import hmac

        public = json.dumps(load_resource("cognitoidp/resources/jwks-public.json"))
        signing_input = b64(json.dumps({"alg": "HS256", "kid": "dummy"}).encode()) + "." + b64(json.dumps(claims).encode())
        signature = hmac.new(public.encode(), signing_input.encode(), hashlib.sha256).digest()
        print(signing_input + "." + b64(signature))
        return 0
    elif mode == "unknownkid":
        header["kid"] = "not-a-published-kid"
        key = moto_key()
    elif mode == "wrongiss":
        claims["iss"] = claims["iss"].rsplit("/", 1)[0] + "/us-east-1_someoneelse"
        key = moto_key()
    elif mode == "futurenbf":
        claims["nbf"] = now + 3600
        key = moto_key()
    elif mode == "foreignaud":
        claims["aud"] = "another-app-client-id"
        key = moto_key()
    elif mode == "futureiat":
        claims["iat"] = now + 3600
        key = moto_key()
    else:
        print(f"unknown mode {mode}", file=sys.stderr)
        return 2
    print(jwt.encode(header, claims, key))
    return 0


if __name__ == "__main__":
    sys.exit(main())
