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
    // API Gateway guarantees (cruddur_devkit::events::with_gateway_guarantees).
    if let Ok(serde_json::Value::Object(event)) = serde_json::from_slice::<serde_json::Value>(data) {
        let text = cruddur_devkit::events::with_gateway_guarantees(event).to_string();
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
