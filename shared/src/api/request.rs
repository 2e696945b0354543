//! Reading an API Gateway HTTP API request: the caller's claims, path and
//! query parameters, and the create-message body. Everything is parsed into
//! domain types here, at the edge.

use lambda_http::request::RequestContext;
use lambda_http::{Body, Request, RequestExt};
use serde::Deserialize;

use super::response::{message_text_code, ApiError};
use crate::domain::{
    CognitoSub, Cursor, GroupUuid, Handle, IdempotencyKey, MessageText, MessageUuid, NewMessage, PageLimit,
    PageRequest, Recipient,
};

/// The caller's Cognito `sub`, from the JWT authorizer's claims in the
/// request context, and nothing else; and only from an access token
/// (`token_use` = `access`): an ID token identifies a user to the frontend,
/// it does not authorise calls. Missing, empty or malformed `sub`, or any
/// other token: 401 (API Gateway's authorizer requires the access token's
/// scope, so it should never let such a request through, but the function
/// does not rely on that).
pub fn caller_sub(request: &Request) -> Result<CognitoSub, ApiError> {
    let claims = api_context(request)
        .and_then(|ctx| ctx.authorizer.as_ref())
        .and_then(|authorizer| authorizer.jwt.as_ref())
        .map(|jwt| &jwt.claims);
    let Some(claims) = claims else { return Err(ApiError::unauthorized()) };
    if claims.get("token_use").map(String::as_str) != Some("access") {
        return Err(ApiError::unauthorized());
    }
    claims.get("sub").and_then(|s| CognitoSub::parse(s).ok()).ok_or_else(ApiError::unauthorized)
}

/// The access token's `username` claim (the Cognito user pool's name of
/// the account), if it has one.
pub fn caller_username(request: &Request) -> Option<String> {
    let context = api_context(request)?;
    let claims = &context.authorizer.as_ref()?.jwt.as_ref()?.claims;
    claims.get("username").cloned()
}

/// API Gateway's id for this request (also in its access logs), for log lines.
pub fn request_id(request: &Request) -> Option<&str> {
    api_context(request).and_then(|ctx| ctx.request_id.as_deref())
}

/// The route API Gateway matched (`GET /api/messages/{message_group_uuid}`).
pub fn route_key(request: &Request) -> Option<&str> {
    api_context(request).and_then(|ctx| ctx.route_key.as_deref())
}

fn api_context(request: &Request) -> Option<&lambda_http::aws_lambda_events::apigw::ApiGatewayV2httpRequestContext> {
    // Only the HTTP API (v2) payload is compiled in; the match stays total
    // if another event source is ever enabled.
    #[allow(unreachable_patterns)]
    match request.request_context_ref()? {
        RequestContext::ApiGatewayV2(ctx) => Some(ctx),
        _ => None,
    }
}

fn query<'a>(request: &'a Request, name: &str) -> Option<&'a str> {
    request.query_string_parameters_ref().and_then(|q| q.first(name))
}

pub fn path_param<'a>(request: &'a Request, name: &str) -> Option<&'a str> {
    request.path_parameters_ref().and_then(|p| p.first(name))
}

/// `limit` (1-100, default 20) and `cursor` (opaque) from the query string.
pub fn page_request(request: &Request) -> Result<PageRequest, ApiError> {
    let limit = PageLimit::parse(query(request, "limit")).map_err(|_| ApiError::bad_request("invalid_limit"))?;
    let cursor = query(request, "cursor")
        .map(|c| Cursor::decode(c).map_err(|_| ApiError::bad_request("invalid_cursor")))
        .transpose()?;
    Ok(PageRequest { limit, cursor })
}

/// The group named in the path (`/api/messages/{message_group_uuid}`).
pub fn group_in_path(request: &Request) -> Result<GroupUuid, ApiError> {
    path_param(request, "message_group_uuid")
        .and_then(|s| GroupUuid::parse(s).ok())
        .ok_or_else(|| ApiError::bad_request("invalid_message_group_uuid"))
}

/// The message named in the path (`/api/messages/{group}/{message_uuid}`).
pub fn message_in_path(request: &Request) -> Result<MessageUuid, ApiError> {
    path_param(request, "message_uuid")
        .and_then(|s| MessageUuid::parse(s).ok())
        .ok_or_else(|| ApiError::bad_request("invalid_message_uuid"))
}

/// The handle in `/api/users/@{handle}/short`. API Gateway path variables are
/// whole segments, so the variable may carry the `@`; one leading `@` is
/// dropped. A handle that cannot exist is a user that does not exist.
pub fn handle_in_path(request: &Request) -> Result<Handle, ApiError> {
    let raw = path_param(request, "handle").unwrap_or("");
    let raw = raw.strip_prefix('@').unwrap_or(raw);
    Handle::parse(raw).map_err(|_| ApiError::new(lambda_http::http::StatusCode::NOT_FOUND, "user_not_found"))
}

/// The body's fields, each optional; unknown fields (a sender, a user uuid,
/// a display name...) are ignored: identity comes from the claims only.
#[derive(Deserialize)]
struct CreateMessageBody {
    #[serde(default)]
    message: Option<String>,
    #[serde(default)]
    handle: Option<String>,
    #[serde(default)]
    message_group_uuid: Option<String>,
}

/// The `Idempotency-Key` request header.
pub const IDEMPOTENCY_KEY_HEADER: &str = "idempotency-key";

/// The request's `Idempotency-Key`, if it sent one: 400
/// `invalid_idempotency_key` unless it is 1 to 255 printable ASCII
/// characters (and sent once).
pub fn idempotency_key(request: &Request) -> Result<Option<IdempotencyKey>, ApiError> {
    let mut values = request.headers().get_all(IDEMPOTENCY_KEY_HEADER).iter();
    let Some(value) = values.next() else { return Ok(None) };
    let invalid = || ApiError::bad_request("invalid_idempotency_key");
    if values.next().is_some() {
        return Err(invalid());
    }
    IdempotencyKey::parse(value.as_bytes()).map(Some).map_err(|_| invalid())
}

/// A request body that must be a JSON object of `T`'s fields: 400
/// `invalid_json` for no body, not JSON, not an object, a field of the
/// wrong type.
fn json_object<T: serde::de::DeserializeOwned>(body: &Body) -> Result<T, ApiError> {
    let bytes: &[u8] = match body {
        Body::Empty => &[],
        Body::Text(text) => text.as_bytes(),
        Body::Binary(bytes) => bytes,
        // Body is non-exhaustive upstream; anything else is not a body we read.
        #[allow(unreachable_patterns)]
        _ => &[],
    };
    let invalid_json = || ApiError::bad_request("invalid_json");
    // An object first: a derived struct would also accept a JSON array.
    let object: serde_json::Map<String, serde_json::Value> =
        serde_json::from_slice(bytes).map_err(|_| invalid_json())?;
    serde_json::from_value(serde_json::Value::Object(object)).map_err(|_| invalid_json())
}

/// The edit body `{"message": "<text>"}` (other fields ignored): 400
/// `invalid_json` as for sending, 422 with the text's code.
pub fn edited_text(body: &Body) -> Result<MessageText, ApiError> {
    #[derive(Deserialize)]
    struct EditMessageBody {
        #[serde(default)]
        message: Option<String>,
    }
    let fields: EditMessageBody = json_object(body)?;
    MessageText::parse(fields.message.as_deref().unwrap_or(""))
        .map_err(|e| ApiError::unprocessable(vec![message_text_code(e)]))
}

/// Parses the create-message body:
/// - 400 `invalid_json`: no body, not JSON, not an object, a field of the wrong type;
/// - 400 `invalid_message_group_uuid`: a group that is not a uuid;
/// - 422 with every validation code that applies (text, neither group nor handle);
/// - 404 `user_not_found`: a handle that no user can have (spaces, `@`...).
pub fn new_message(body: &Body) -> Result<NewMessage, ApiError> {
    let fields: CreateMessageBody = json_object(body)?;
    let present = |v: Option<String>| v.filter(|s| !s.trim().is_empty());
    let group = match present(fields.message_group_uuid) {
        Some(g) => Some(GroupUuid::parse(g.trim()).map_err(|_| ApiError::bad_request("invalid_message_group_uuid"))?),
        None => None,
    };
    let handle = present(fields.handle);

    let mut problems = Vec::new();
    let text = match MessageText::parse(fields.message.as_deref().unwrap_or("")) {
        Ok(text) => Some(text),
        Err(e) => {
            problems.push(message_text_code(e));
            None
        }
    };
    if group.is_none() && handle.is_none() {
        problems.push("message_group_uuid_blank");
        problems.push("user_reciever_handle_blank");
    }
    let (Some(text), true) = (text, problems.is_empty()) else {
        return Err(ApiError::unprocessable(problems));
    };
    let recipient = match (group, handle) {
        (Some(group), _) => Recipient::Group(group),
        (None, Some(handle)) => Recipient::Handle(
            Handle::parse(handle.trim())
                .map_err(|_| ApiError::new(lambda_http::http::StatusCode::NOT_FOUND, "user_not_found"))?,
        ),
        (None, None) => return Err(ApiError::unprocessable(problems)),
    };
    Ok(NewMessage { text, recipient })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(body: &str) -> Result<NewMessage, ApiError> {
        new_message(&Body::Text(body.to_owned()))
    }

    fn codes(body: &str) -> Vec<&'static str> {
        parse(body).unwrap_err().codes
    }

    #[test]
    fn a_reply_and_a_new_message_group_parse() {
        let g = "5ae290ed-55d1-47a0-bc6d-fe2bc2700399";
        let reply = parse(&format!(r#"{{"message":" hi ","message_group_uuid":"{g}"}}"#)).unwrap();
        assert_eq!(reply.text.as_str(), "hi");
        assert_eq!(reply.recipient, Recipient::Group(GroupUuid::parse(g).unwrap()));
        let start = parse(r#"{"message":"hi","handle":"bayko","user_uuid":"ignored","display_name":"x"}"#).unwrap();
        assert_eq!(start.recipient, Recipient::Handle(Handle::parse("bayko").unwrap()));
    }

    #[test]
    fn bodies_that_are_not_json_objects_are_invalid_json() {
        for body in [
            "",
            "not json",
            "[]",
            r#"["hi","bayko"]"#,
            "\"hi\"",
            "42",
            "null",
            r#"{"message": 5}"#,
            r#"{"message":"hi","handle":["bayko"]}"#,
            r#"{"message":"hi","message_group_uuid":{}}"#,
            "{",
        ] {
            assert_eq!(codes(body), vec!["invalid_json"], "{body:?}");
        }
        assert_eq!(new_message(&Body::Empty).unwrap_err().codes, vec!["invalid_json"]);
        assert_eq!(new_message(&Body::Binary(vec![b'{', 0xff, b'}'])).unwrap_err().codes, vec!["invalid_json"]);
    }

    #[test]
    fn validation_reports_every_problem_with_422() {
        let e = parse(r#"{"message":"   "}"#).unwrap_err();
        assert_eq!(e.status, 422);
        assert_eq!(e.codes, vec!["message_blank", "message_group_uuid_blank", "user_reciever_handle_blank"]);
        assert_eq!(codes(r#"{"handle":"bayko"}"#), vec!["message_blank"]);
        let long = "é".repeat(1025);
        assert_eq!(
            codes(&format!(r#"{{"message":"{long}","handle":"bayko"}}"#)),
            vec!["message_exceed_max_chars_1024"]
        );
        assert_eq!(codes(r#"{"message":"a\u0000b","handle":"bayko"}"#), vec!["message_invalid_characters"]);
        assert_eq!(
            codes(r#"{"message":"hi","handle":"","message_group_uuid":null}"#),
            vec!["message_group_uuid_blank", "user_reciever_handle_blank"]
        );
    }

    #[test]
    fn bad_group_uuids_are_400_and_impossible_handles_404() {
        let e = parse(r#"{"message":"hi","message_group_uuid":"nope"}"#).unwrap_err();
        assert_eq!((e.status.as_u16(), e.codes), (400, vec!["invalid_message_group_uuid"]));
        for handle in ["bay ko", "@bayko", "bay/ko"] {
            let e = parse(&format!(r#"{{"message":"hi","handle":"{handle}"}}"#)).unwrap_err();
            assert_eq!((e.status.as_u16(), e.codes), (404, vec!["user_not_found"]), "{handle}");
        }
    }

    mod properties {
        use proptest::prelude::*;

        use super::super::*;

        fn status_of(r: Result<NewMessage, ApiError>) -> u16 {
            r.map(|_| 200).unwrap_or_else(|e| e.status.as_u16())
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(2000))]

            #[test]
            fn any_bytes_as_a_body_are_parsed_or_refused_with_a_4xx(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
                let status = status_of(new_message(&Body::Binary(bytes)));
                prop_assert!(status == 200 || (400..500).contains(&status));
            }

            #[test]
            fn any_json_shaped_body_is_parsed_or_refused_with_a_4xx(
                message in proptest::option::of(".{0,1100}"),
                handle in proptest::option::of(".{0,40}"),
                group in proptest::option::of("[0-9a-f-]{0,40}"),
                extra in proptest::option::of(any::<i64>()),
            ) {
                let mut body = serde_json::Map::new();
                if let Some(m) = message { body.insert("message".into(), m.into()); }
                if let Some(h) = handle { body.insert("handle".into(), h.into()); }
                if let Some(g) = group { body.insert("message_group_uuid".into(), g.into()); }
                if let Some(x) = extra { body.insert("user_uuid".into(), x.into()); }
                let status = status_of(new_message(&Body::Text(serde_json::Value::Object(body).to_string())));
                prop_assert!(status == 200 || (400..500).contains(&status));
            }

            #[test]
            fn limits_and_cursors_never_panic(s in ".{0,700}") {
                let _ = crate::domain::PageLimit::parse(Some(&s));
                let _ = crate::domain::Cursor::decode(&s);
                let _ = crate::domain::Handle::parse(&s);
                let _ = crate::domain::GroupUuid::parse(&s);
                let _ = crate::domain::MessageText::parse(&s);
            }
        }
    }
}
