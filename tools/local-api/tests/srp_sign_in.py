"""Signs a user in the way the Cruddur frontend does (Amplify's Auth.signIn:
USER_SRP_AUTH, then the PASSWORD_VERIFIER challenge), with pycognito's SRP
implementation, against the local pool. Prints the access token, then a
token obtained by refreshing (REFRESH_TOKEN_AUTH), one per line.

  srp_sign_in.py <endpoint> <pool id> <client id> <email> <password>
"""

import sys

import boto3
from pycognito.aws_srp import AWSSRP


def main() -> int:
    endpoint, pool_id, client_id, email, password = sys.argv[1:6]
    idp = boto3.client(
        "cognito-idp",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="local",
        aws_secret_access_key="local",
    )
    srp = AWSSRP(username=email, password=password, pool_id=pool_id, client_id=client_id, client=idp)
    tokens = srp.authenticate_user()["AuthenticationResult"]
    refreshed = idp.initiate_auth(
        ClientId=client_id,
        AuthFlow="REFRESH_TOKEN_AUTH",
        AuthParameters={"REFRESH_TOKEN": tokens["RefreshToken"]},
    )["AuthenticationResult"]
    print(tokens["AccessToken"])
    print(refreshed["AccessToken"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
