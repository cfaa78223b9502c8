//! One HTTP exchange with a seed service (TokenKit, Animus), and what their answers share: the
//! body read whole, JSON read with a plain reason, and the refusals every such service answers
//! alike (a rate limit with its wait, a fault on its side, anything else unexpected).

use reqwest::{RequestBuilder, StatusCode};
use serde::Deserialize;
use url::Url;

use super::native::{network_error, retry_after, ClassifyName};
use crate::error::{Error, Result};

/// An answer: its status, its `Retry-After` in seconds, its body.
pub(super) struct Answer {
    pub(super) status: StatusCode,
    pub(super) retry_after: Option<u64>,
    pub(super) body: Vec<u8>,
}

/// Sends the request and reads the whole answer; no answer is `Error::Network` naming `base`.
pub(super) async fn exchange(base: &Url, builder: RequestBuilder) -> Result<Answer> {
    let response = builder.send().await.map_err(|e| network_error(base, &e))?;
    let status = response.status();
    let wait = retry_after(response.headers());
    let body = response
        .bytes()
        .await
        .map_err(|e| network_error(base, &e))?;
    Ok(Answer {
        status,
        retry_after: wait,
        body: body.to_vec(),
    })
}

/// A successful answer's JSON; a body of another shape says how it differs.
pub(super) fn parse_json<T: for<'de> Deserialize<'de>>(url: &Url, body: &[u8]) -> Result<T> {
    serde_json::from_slice(body).map_err(|e| Error::UnexpectedResponse {
        url: url.to_string(),
        status: 200,
        problem: format!(
            "the answer is not the expected JSON ({})",
            e.classify_name()
        ),
    })
}

/// What `service` answering `status` means when nothing more particular to the call does: 429 a
/// rate limit (`limited`: the sentence that says which), a 5xx a fault that passes, anything else
/// unexpected.
pub(super) fn common_refusal(service: &str, url: &Url, answer: &Answer, limited: &str) -> Error {
    match answer.status {
        StatusCode::TOO_MANY_REQUESTS => Error::RateLimited {
            code: keyhaven_api::ErrorCode::RateLimited,
            retry_after: answer.retry_after,
            message: limited.to_string(),
        },
        // A fault on the service's side passes: the same as a service error (try again).
        other if other.is_server_error() => Error::Service {
            code: keyhaven_api::ErrorCode::Internal,
            message: format!(
                "{service} answered {} (a fault on its side); try again later",
                other.as_u16()
            ),
        },
        other => Error::UnexpectedResponse {
            url: url.to_string(),
            status: other.as_u16(),
            problem: format!("{service} answered with an error"),
        },
    }
}
