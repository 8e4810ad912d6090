//! The web page (`web/`), compiled into the binary so `sluice serve` needs no files beside it and
//! the page never depends on a CDN.

use axum::Router;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

/// One static file of the page.
struct Asset {
    path: &'static str,
    content_type: &'static str,
    body: &'static str,
}

/// Every file of the page; `/` serves `index.html`.
const ASSETS: &[Asset] = &[
    Asset { path: "/", content_type: "text/html; charset=utf-8", body: include_str!("../../../web/index.html") },
    Asset { path: "/style.css", content_type: "text/css; charset=utf-8", body: include_str!("../../../web/style.css") },
    Asset {
        path: "/app.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_str!("../../../web/app.js"),
    },
    Asset {
        path: "/live.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_str!("../../../web/live.js"),
    },
    Asset {
        path: "/file.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_str!("../../../web/file.js"),
    },
    Asset {
        path: "/spectrogram.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_str!("../../../web/spectrogram.js"),
    },
    Asset {
        path: "/video.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_str!("../../../web/video.js"),
    },
    Asset {
        path: "/echo.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_str!("../../../web/echo.js"),
    },
    Asset {
        path: "/worklet.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_str!("../../../web/worklet.js"),
    },
];

/// Everything the page may load comes from this server (no CDN, no inline script); media and
/// downloads are local blobs, the WebSocket goes back to the same host.
const CSP: &str = "default-src 'self'; connect-src 'self' ws: wss:; media-src 'self' blob:; img-src 'self' blob: data:; \
                   style-src 'self'; script-src 'self'; worker-src 'self'; object-src 'none'; base-uri 'none'; \
                   frame-ancestors 'none'";

fn respond(asset: &'static Asset) -> Response {
    let mut response = asset.body.into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(asset.content_type));
    // The files change with the binary; revalidate rather than cache across upgrades.
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    headers.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    response
}

/// Routes for the page's files, to be merged into the service's router.
pub fn routes<S: Clone + Send + Sync + 'static>() -> Router<S> {
    ASSETS
        .iter()
        .fold(Router::new(), |router, asset| router.route(asset.path, get(move || async move { respond(asset) })))
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::{Body, to_bytes};
    use axum::http::{Request, StatusCode};
    use tower::ServiceExt;

    async fn fetch(path: &str) -> (StatusCode, String, String) {
        let request = Request::get(path).body(Body::empty()).unwrap_or_else(|e| panic!("request: {e}"));
        let response = routes::<()>().oneshot(request).await.unwrap_or_else(|e| match e {});
        let status = response.status();
        let ty = response.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
        let body = to_bytes(response.into_body(), 1 << 20).await.unwrap_or_else(|e| panic!("body: {e}"));
        (status, ty, String::from_utf8_lossy(&body).into_owned())
    }

    #[tokio::test]
    async fn every_asset_is_served_with_its_type() {
        for asset in ASSETS {
            let (status, ty, body) = fetch(asset.path).await;
            assert_eq!(status, StatusCode::OK, "{}", asset.path);
            assert_eq!(ty, asset.content_type, "{}", asset.path);
            assert_eq!(body, asset.body, "{}", asset.path);
        }
        assert_eq!(fetch("/missing.js").await.0, StatusCode::NOT_FOUND);
    }

    /// Every local file the page references (`src=`, `href=`, `import … from`, `new URL(…)`) is
    /// served, and nothing is fetched from another origin.
    #[test]
    fn page_references_only_served_files() {
        let served: Vec<&str> = ASSETS.iter().map(|a| a.path.trim_start_matches('/')).collect();
        for asset in ASSETS {
            for quote in ['"', '\''] {
                for piece in asset.body.split(quote).skip(1).step_by(2) {
                    let is_file = piece.ends_with(".js") || piece.ends_with(".css") || piece.ends_with(".html");
                    if is_file && !piece.contains(' ') {
                        let name = piece.trim_start_matches("./");
                        assert!(served.contains(&name), "{} references {piece}, which is not served", asset.path);
                    }
                    assert!(!piece.starts_with("http://") && !piece.starts_with("https://"), "{}: {piece}", asset.path);
                }
            }
        }
    }
}
