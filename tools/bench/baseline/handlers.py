"""The benchmark's baseline: what the original Cruddur Python backend did for
the same four routes, as Lambda handlers, run with awslambdaric against the
same Runtime API emulator and the same table as the Rust functions.

Kept as the original: a boto3 client created at import; one query per list,
`begins_with(<sort key>, <current year>)`, newest first, cut at 20; a reply is
one PutItem keyed by the bare timestamp (the group rows were refreshed later
by a DynamoDB-stream function, not counted here); no membership check.

Adapted, and said so: the original resolved the caller's `sub` (and a handle)
through PostgreSQL; here that one round trip is a GetItem on the same table's
COGNITO#/HANDLE# items. The group rows the original's stream function kept
do not exist in this table: its list reads this table's list indexes instead
(both of them, each of the user's SHARDS partitions, one Query after the
other, with the original's year filter on the activity key, merged and cut at
20), and maps a conversation item to the caller's view.
"""

import datetime
import json
import os
import uuid

import boto3

TABLE = os.environ.get("DDB_MESSAGE_TABLE", "cruddur-messages")
client = boto3.client(
    "dynamodb",
    endpoint_url=os.environ.get("AWS_ENDPOINT_URL_DYNAMODB") or os.environ.get("AWS_ENDPOINT_URL") or None,
)


def _json(status, body):
    return {"statusCode": status, "headers": {"content-type": "application/json"}, "body": json.dumps(body)}


def _caller(event):
    sub = event["requestContext"]["authorizer"]["jwt"]["claims"]["sub"]
    item = client.get_item(TableName=TABLE, Key={"pk": {"S": f"COGNITO#{sub}"}, "sk": {"S": "COGNITO"}}).get("Item")
    if item is None:
        return None
    return {
        "uuid": item["user_uuid"]["S"],
        "handle": item["handle"]["S"],
        "display_name": item["display_name"]["S"],
    }


# shared/src/store/keys.rs: SHARDS.
SHARDS = 3


def list_message_groups(event, context):
    user = _caller(event)
    if user is None:
        return _json(404, ["user_not_found"])
    year = str(datetime.datetime.now(datetime.timezone.utc).year)
    items = []
    for side in ("a", "b"):
        for shard in range(SHARDS):
            response = client.query(
                TableName=TABLE,
                IndexName=f"list-{side}-index",
                KeyConditionExpression=f"list_{side} = :pk AND begins_with(activity, :year)",
                ExpressionAttributeValues={":pk": {"S": f"LIST#{user['uuid']}#{shard}"}, ":year": {"S": year}},
                ScanIndexForward=False,
                Limit=20,
            )
            items += [(side, item) for item in response["Items"]]
    items.sort(key=lambda pair: pair[1]["activity"]["S"], reverse=True)
    other = {"a": "b", "b": "a"}
    results = [
        {
            "uuid": item["message_group_uuid"]["S"],
            "display_name": item[f"member_{other[side]}_display_name"]["S"],
            "handle": item[f"member_{other[side]}_handle"]["S"],
            "message": item["last_message"]["S"],
            "created_at": item["last_message_at"]["S"],
        }
        for side, item in items[:20]
    ]
    return _json(200, results)


def list_messages(event, context):
    user = _caller(event)
    if user is None:
        return _json(404, ["user_not_found"])
    group = event["pathParameters"]["message_group_uuid"]
    year = str(datetime.datetime.now(datetime.timezone.utc).year)
    response = client.query(
        TableName=TABLE,
        KeyConditionExpression="pk = :pk AND begins_with(sk, :year)",
        ExpressionAttributeValues={":pk": {"S": f"MSG#{group}"}, ":year": {"S": year}},
        ScanIndexForward=False,
        Limit=20,
    )
    items = list(reversed(response["Items"]))
    results = [
        {
            "uuid": item["message_uuid"]["S"],
            "display_name": item["user_display_name"]["S"],
            "handle": item["user_handle"]["S"],
            "message": item["message"]["S"],
            "created_at": item["created_at"]["S"],
        }
        for item in items
    ]
    return _json(200, results)


def create_message(event, context):
    user = _caller(event)
    if user is None:
        return _json(404, ["user_not_found"])
    body = json.loads(event.get("body") or "{}")
    group = body["message_group_uuid"]
    created_at = datetime.datetime.now(datetime.timezone.utc).isoformat()
    message_uuid = str(uuid.uuid4())
    client.put_item(
        TableName=TABLE,
        Item={
            "pk": {"S": f"MSG#{group}"},
            "sk": {"S": created_at},
            "message_uuid": {"S": message_uuid},
            "message_group_uuid": {"S": group},
            "message": {"S": body["message"]},
            "user_uuid": {"S": user["uuid"]},
            "user_display_name": {"S": user["display_name"]},
            "user_handle": {"S": user["handle"]},
            "created_at": {"S": created_at},
        },
    )
    return _json(
        200,
        {
            "message_group_uuid": group,
            "uuid": user["uuid"],
            "display_name": user["display_name"],
            "handle": user["handle"],
            "message": body["message"],
            "created_at": created_at,
        },
    )


def users_short(event, context):
    handle = event["pathParameters"]["handle"].lstrip("@").lower()
    item = client.get_item(TableName=TABLE, Key={"pk": {"S": f"HANDLE#{handle}"}, "sk": {"S": "HANDLE"}}).get("Item")
    if item is None:
        return _json(404, ["user_not_found"])
    return _json(
        200,
        {"uuid": item["user_uuid"]["S"], "handle": item["handle"]["S"], "display_name": item["display_name"]["S"]},
    )
