//! Optional API keys: who may use `/v1/*`.
//!
//! A client presents a key as `Authorization: Bearer KEY` or, where it cannot set headers (a
//! browser WebSocket), as the `token` query parameter. Keys are compared in constant time so the
//! time to refuse a guess says nothing about how much of it was right. With no keys configured
//! the API is open. [`authorize`] is what both the HTTP middleware and the WebSocket upgrade
//! handler call.

use axum::extract::{Query, Request, State};
use axum::http::header::{AUTHORIZATION, UPGRADE, WWW_AUTHENTICATE};
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use crate::http::error::ApiError;
use crate::state::AppState;

/// The accepted keys (cheap to clone). Debug output never shows them.
#[derive(Clone, Default)]
pub struct ApiKeys {
    keys: Arc<[Box<[u8]>]>,
}

impl fmt::Debug for ApiKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ApiKeys({} hidden)", self.keys.len())
    }
}

/// Why a request was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// Keys are required and the request carries none.
    #[error("an API key is required: send `Authorization: Bearer KEY` or `?token=KEY`")]
    Missing,
    /// The request carries a key that is not one of the configured keys.
    #[error("the API key is not valid")]
    Invalid,
}

impl AuthError {
    /// Machine-readable code for error bodies.
    pub fn code(self) -> &'static str {
        match self {
            Self::Missing => "missing_api_key",
            Self::Invalid => "invalid_api_key",
        }
    }
}

impl ApiKeys {
    /// Keys from configuration; each must be non-empty, printable ASCII without spaces (so it
    /// fits a header and a URL unchanged).
    pub fn new(keys: impl IntoIterator<Item = String>) -> Result<Self, String> {
        let keys: Vec<Box<[u8]>> = keys
            .into_iter()
            .enumerate()
            .map(|(i, k)| {
                if k.is_empty() || !k.bytes().all(|b| b.is_ascii_graphic()) {
                    Err(format!("key #{} must be non-empty printable ASCII without spaces", i + 1))
                } else {
                    Ok(k.into_bytes().into_boxed_slice())
                }
            })
            .collect::<Result<_, _>>()?;
        Ok(Self { keys: keys.into() })
    }

    /// No keys configured: every request is allowed.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// Whether `candidate` is one of the keys. Every key is compared in full, whatever matches.
    pub fn contains(&self, candidate: &[u8]) -> bool {
        self.keys.iter().fold(false, |found, key| found | constant_time_eq(key, candidate))
    }
}

/// Checks a request's credentials against `keys`: the `Authorization: Bearer` header first,
/// else the `token` query parameter of `uri`.
pub fn authorize(keys: &ApiKeys, headers: &HeaderMap, uri: &Uri) -> Result<(), AuthError> {
    if keys.is_empty() {
        return Ok(());
    }
    let bearer = headers.get(AUTHORIZATION).and_then(|v| {
        let v = v.as_bytes();
        (v.len() > 7 && v[..7].eq_ignore_ascii_case(b"bearer ")).then(|| v[7..].trim_ascii().to_vec())
    });
    let presented = match bearer {
        Some(token) => Some(token),
        None => Query::<HashMap<String, String>>::try_from_uri(uri)
            .ok()
            .and_then(|Query(q)| q.get("token").map(|t| t.as_bytes().to_vec())),
    };
    match presented {
        None => Err(AuthError::Missing),
        Some(token) if keys.contains(&token) => Ok(()),
        Some(_) => Err(AuthError::Invalid),
    }
}

/// `a == b` in time that depends only on the lengths.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    let n = a.len().max(b.len());
    let mut diff = u8::from(a.len() != b.len());
    for i in 0..n {
        diff |= a.get(i).copied().unwrap_or(0) ^ b.get(i).copied().unwrap_or(0xff);
    }
    std::hint::black_box(diff) == 0
}

/// Middleware: `/v1/*` requests need a valid key (401 + `WWW-Authenticate` otherwise).
/// WebSocket upgrades pass through: their handler answers with close code 1008 instead, which
/// a browser can see (it cannot read a refused upgrade's status).
pub async fn require_key(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let keys = &state.config().api_keys;
    let guarded = request.uri().path().starts_with("/v1/");
    let websocket = request.headers().get(UPGRADE).is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"websocket"));
    if keys.is_empty() || !guarded || websocket {
        return next.run(request).await;
    }
    match authorize(keys, request.headers(), request.uri()) {
        Ok(()) => next.run(request).await,
        Err(e) => {
            let mut response = ApiError::new(StatusCode::UNAUTHORIZED, e.code(), e.to_string()).into_response();
            let challenge = match e {
                AuthError::Missing => r#"Bearer realm="sluice""#,
                AuthError::Invalid => r#"Bearer realm="sluice", error="invalid_token""#,
            };
            response.headers_mut().insert(WWW_AUTHENTICATE, HeaderValue::from_static(challenge));
            response
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(k: &[&str]) -> ApiKeys {
        ApiKeys::new(k.iter().map(|s| s.to_string())).unwrap_or_else(|e| panic!("{e}"))
    }

    fn check(keys: &ApiKeys, header: Option<&str>, uri: &str) -> Result<(), AuthError> {
        let mut headers = HeaderMap::new();
        if let Some(h) = header {
            headers.insert(AUTHORIZATION, HeaderValue::from_str(h).unwrap_or_else(|e| panic!("{e}")));
        }
        authorize(keys, &headers, &uri.parse().unwrap_or_else(|e| panic!("{e}")))
    }

    #[test]
    fn bearer_header_or_token_query_is_accepted() {
        let k = keys(&["alpha-1", "beta.2"]);
        assert_eq!(check(&k, Some("Bearer alpha-1"), "/v1/info"), Ok(()));
        assert_eq!(check(&k, Some("bearer beta.2"), "/v1/info"), Ok(()));
        assert_eq!(check(&k, None, "/v1/audio/stream?token=beta.2"), Ok(()));
        assert_eq!(check(&k, None, "/v1/x?a=1&token=alpha%2D1"), Ok(()), "the query is percent-decoded");
    }

    #[test]
    fn missing_and_wrong_keys_are_refused() {
        let k = keys(&["alpha-1"]);
        assert_eq!(check(&k, None, "/v1/info"), Err(AuthError::Missing));
        assert_eq!(check(&k, Some("Basic YWxhZGRpbjpvcGVu"), "/v1/info"), Err(AuthError::Missing));
        for wrong in ["Bearer alpha-", "Bearer alpha-11", "Bearer ALPHA-1", "Bearer x"] {
            assert_eq!(check(&k, Some(wrong), "/v1/info"), Err(AuthError::Invalid), "{wrong}");
        }
        assert_eq!(check(&k, None, "/v1/info?token="), Err(AuthError::Invalid));
        // A wrong header is not rescued by a right query token: the header is what was meant.
        assert_eq!(check(&k, Some("Bearer nope"), "/v1/info?token=alpha-1"), Err(AuthError::Invalid));
    }

    #[test]
    fn no_keys_means_open_and_bad_keys_are_refused_at_start() {
        assert_eq!(check(&ApiKeys::default(), None, "/v1/info"), Ok(()));
        assert!(ApiKeys::new(["".to_string()]).is_err());
        assert!(ApiKeys::new(["has space".to_string()]).is_err());
        assert!(ApiKeys::new(["ümlaut".to_string()]).is_err());
        assert_eq!(format!("{:?}", keys(&["s3cret"])), "ApiKeys(1 hidden)");
    }

    #[test]
    fn equality_is_exact() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(constant_time_eq(b"", b""));
        for (a, b) in [(&b"abc"[..], &b"abd"[..]), (b"abc", b"ab"), (b"ab", b"abc"), (b"", b"a"), (b"\xff", b"")] {
            assert!(!constant_time_eq(a, b), "{a:?} vs {b:?}");
        }
    }
}
