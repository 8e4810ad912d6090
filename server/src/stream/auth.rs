//! Optional API keys for the stream route: `Authorization: Bearer KEY`, or `?token=KEY` for
//! browsers (whose WebSocket API cannot set headers).

use axum::http::HeaderMap;
use axum::http::header::AUTHORIZATION;

/// The accepted keys; empty = no authentication.
#[derive(Clone, Default)]
pub struct ApiKeys {
    keys: Vec<Vec<u8>>,
}

impl std::fmt::Debug for ApiKeys {
    /// Never prints the keys.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ApiKeys({} keys)", self.keys.len())
    }
}

impl ApiKeys {
    /// Accepts any of `keys` (blank entries ignored).
    pub fn new<I: IntoIterator<Item = S>, S: AsRef<str>>(keys: I) -> Self {
        Self {
            keys: keys.into_iter().map(|k| k.as_ref().trim().as_bytes().to_vec()).filter(|k| !k.is_empty()).collect(),
        }
    }

    /// Whether any key is required.
    pub fn required(&self) -> bool {
        !self.keys.is_empty()
    }

    /// Whether the request carries an accepted key (always true when none is required).
    pub fn allows(&self, headers: &HeaderMap, token: Option<&str>) -> bool {
        if !self.required() {
            return true;
        }
        let bearer = headers
            .get(AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")))
            .map(str::trim);
        [bearer, token].into_iter().flatten().any(|given| self.matches(given.as_bytes()))
    }

    /// Compares against every key without stopping at the first differing byte.
    fn matches(&self, given: &[u8]) -> bool {
        let mut ok = false;
        for k in &self.keys {
            let mut diff = u8::from(k.len() != given.len());
            for (a, b) in k.iter().zip(given.iter().cycle()) {
                diff |= a ^ b;
            }
            ok |= diff == 0 && !given.is_empty();
        }
        ok
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn bearer(v: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(AUTHORIZATION, HeaderValue::from_str(v).unwrap_or_else(|e| panic!("{e}")));
        h
    }

    #[test]
    fn keys_come_from_header_or_query() {
        let keys = ApiKeys::new(["alpha", " beta ", ""]);
        assert!(keys.required());
        assert!(keys.allows(&bearer("Bearer alpha"), None));
        assert!(keys.allows(&bearer("Bearer beta"), None));
        assert!(keys.allows(&HeaderMap::new(), Some("beta")));
        assert!(!keys.allows(&HeaderMap::new(), None));
        assert!(!keys.allows(&bearer("Bearer alph"), None));
        assert!(!keys.allows(&bearer("Bearer alphaa"), None));
        assert!(!keys.allows(&bearer("Basic alpha"), None));
        assert!(!keys.allows(&HeaderMap::new(), Some("")));
        assert!(format!("{keys:?}").contains("2 keys") && !format!("{keys:?}").contains("alpha"));
    }

    #[test]
    fn no_keys_means_open() {
        let keys = ApiKeys::new(Vec::<String>::new());
        assert!(!keys.required());
        assert!(keys.allows(&HeaderMap::new(), None));
    }
}
