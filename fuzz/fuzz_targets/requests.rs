//! Any bytes, as an API Gateway event and as a create-message body: event
//! deserialisation and every request parser must refuse cleanly, never panic.
#![no_main]

use cruddur_core::api::{caller_sub, new_message, page_request};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // As a body.
    if let Err(e) = new_message(&lambda_http::Body::Binary(data.to_vec())) {
        assert!(e.status.is_client_error());
    }
    // As a whole event, through lambda_http's own deserialisation, with what
    // API Gateway guarantees: it sets `host`, `x-forwarded-proto` and
    // `requestContext.domainName` itself
    // and `rawPath` starts with '/'. (lambda_http 1.3.2 unwraps a URL built
    // from them: a malformed Host panics it. This target found that; the
    // local API now sets those headers as API Gateway does.)
    if let Ok(serde_json::Value::Object(mut event)) = serde_json::from_slice::<serde_json::Value>(data) {
        const DOMAIN: &str = "abcdef1234.execute-api.us-east-1.amazonaws.com";
        if let Some(serde_json::Value::Object(headers)) = event.get_mut("headers") {
            headers.insert("host".into(), DOMAIN.into());
            headers.insert("x-forwarded-proto".into(), "https".into());
        }
        if let Some(serde_json::Value::Object(context)) = event.get_mut("requestContext") {
            context.insert("domainName".into(), DOMAIN.into());
        }
        // ...and rawPath (always present) / rawQueryString arrive URL-encoded.
        if !event.get("rawPath").is_some_and(|p| p.is_string()) {
            event.insert("rawPath".into(), "/".into());
        }
        for (field, prefix) in [("rawPath", "/"), ("rawQueryString", "")] {
            if let Some(raw) = event.get(field).and_then(|p| p.as_str()) {
                let mut fixed = if raw.starts_with(prefix) { String::new() } else { prefix.to_owned() };
                for b in raw.bytes() {
                    if b.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=:@/?".contains(&b) {
                        fixed.push(b as char);
                    } else {
                        fixed.push_str(&format!("%{b:02X}"));
                    }
                }
                event.insert(field.into(), fixed.into());
            }
        }
        let text = serde_json::Value::Object(event).to_string();
        if let Ok(request) = lambda_http::request::from_str(&text) {
            let _ = caller_sub(&request);
            if let Err(e) = page_request(&request) {
                assert!(e.status.is_client_error());
            }
            if let Err(e) = new_message(request.body()) {
                assert!(e.status.is_client_error());
            }
        }
    }
});
