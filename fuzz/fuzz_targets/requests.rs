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
    // As a whole event, through lambda_http's own deserialisation.
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(request) = lambda_http::request::from_str(text) {
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
