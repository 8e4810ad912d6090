//! A tiny HTTP/1.1 client for `sluice healthcheck`: one GET, read the status line, done.
//!
//! Container images often lack curl; this keeps the health probe inside the binary without
//! pulling in a full HTTP client. Plain `http://` only — the probe runs next to the server.

use std::str::FromStr;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Why a probe did not yield a status code.
#[derive(Debug, thiserror::Error)]
pub enum ProbeError {
    /// The URL is not a plain `http://host[:port][/path]`.
    #[error("bad probe URL `{url}`: {reason}")]
    Url {
        /// The URL as given.
        url: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// Connecting, writing or reading failed (server down, wrong port, reset).
    #[error("cannot reach {authority}: {source}")]
    Io {
        /// `host:port` probed.
        authority: String,
        /// The underlying error.
        source: std::io::Error,
    },
    /// No complete status line within the timeout.
    #[error("no answer from {authority} within {timeout:?}")]
    Timeout {
        /// `host:port` probed.
        authority: String,
        /// The limit that ran out.
        timeout: Duration,
    },
    /// The peer answered something that is not an HTTP/1.x status line.
    #[error("not an HTTP response from {authority}: {line:?}")]
    NotHttp {
        /// `host:port` probed.
        authority: String,
        /// The first bytes received, lossily decoded.
        line: String,
    },
}

/// A parsed `http://` URL: just what a probe needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProbeUrl {
    /// Host name or IP literal (IPv6 without brackets).
    pub host: String,
    /// TCP port (80 if the URL names none).
    pub port: u16,
    /// Path and query, starting with `/`.
    pub path: String,
}

impl ProbeUrl {
    /// `host:port` as sent in the `Host` header (IPv6 bracketed).
    pub fn authority(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }
}

impl FromStr for ProbeUrl {
    type Err = ProbeError;

    fn from_str(url: &str) -> Result<Self, ProbeError> {
        let bad = |reason| ProbeError::Url { url: url.to_owned(), reason };
        let rest = url.strip_prefix("http://").ok_or_else(|| bad("only http:// URLs are supported"))?;
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, "/"),
        };
        if authority.contains('@') {
            return Err(bad("credentials in the URL are not supported"));
        }
        let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
            let (host, after) = v6.split_once(']').ok_or_else(|| bad("unclosed `[` in IPv6 host"))?;
            match after {
                "" => (host, None),
                p => (host, Some(p.strip_prefix(':').ok_or_else(|| bad("junk after IPv6 host"))?)),
            }
        } else {
            match authority.rsplit_once(':') {
                Some((h, p)) => (h, Some(p)),
                None => (authority, None),
            }
        };
        if host.is_empty() {
            return Err(bad("missing host"));
        }
        let port = match port {
            Some(p) => p.parse().map_err(|_| bad("port is not a number in 0..=65535"))?,
            None => 80,
        };
        if path.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(bad("path contains whitespace or control characters"));
        }
        Ok(ProbeUrl { host: host.to_owned(), port, path: path.to_owned() })
    }
}

/// Sends `GET url` and returns the response's status code (whatever it is).
pub async fn probe(url: &ProbeUrl, timeout: Duration) -> Result<u16, ProbeError> {
    let authority = url.authority();
    match tokio::time::timeout(timeout, exchange(url, &authority)).await {
        Ok(result) => result,
        Err(_) => Err(ProbeError::Timeout { authority, timeout }),
    }
}

async fn exchange(url: &ProbeUrl, authority: &str) -> Result<u16, ProbeError> {
    let io = |source| ProbeError::Io { authority: authority.to_owned(), source };
    let mut stream = TcpStream::connect((url.host.as_str(), url.port)).await.map_err(io)?;
    let request = format!(
        "GET {} HTTP/1.1\r\nHost: {authority}\r\nUser-Agent: sluice-healthcheck\r\nConnection: close\r\n\r\n",
        url.path
    );
    stream.write_all(request.as_bytes()).await.map_err(io)?;

    // The status line fits in a few dozen bytes; read until its CRLF (or the peer closes).
    let mut buf = [0u8; 256];
    let mut len = 0;
    while len < buf.len() && !buf[..len].windows(2).any(|w| w == b"\r\n") {
        let n = stream.read(&mut buf[len..]).await.map_err(io)?;
        if n == 0 {
            break;
        }
        len += n;
    }
    parse_status_line(&buf[..len]).ok_or_else(|| ProbeError::NotHttp {
        authority: authority.to_owned(),
        line: String::from_utf8_lossy(&buf[..len]).into_owned(),
    })
}

/// The status code of `HTTP/1.x NNN reason\r\n…`, if `head` starts with one.
pub fn parse_status_line(head: &[u8]) -> Option<u16> {
    let end = head.windows(2).position(|w| w == b"\r\n")?;
    let line = std::str::from_utf8(&head[..end]).ok()?;
    let mut parts = line.splitn(3, ' ');
    let version = parts.next()?;
    let code = parts.next()?;
    if !version.starts_with("HTTP/1.") || code.len() != 3 {
        return None;
    }
    code.parse().ok().filter(|c| (100..=599).contains(c))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(s: &str) -> ProbeUrl {
        s.parse().unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    #[test]
    fn urls_parse() {
        assert_eq!(
            url("http://127.0.0.1:8080/healthz"),
            ProbeUrl { host: "127.0.0.1".into(), port: 8080, path: "/healthz".into() }
        );
        assert_eq!(url("http://localhost"), ProbeUrl { host: "localhost".into(), port: 80, path: "/".into() });
        assert_eq!(
            url("http://[::1]:9/readyz?x=1"),
            ProbeUrl { host: "::1".into(), port: 9, path: "/readyz?x=1".into() }
        );
        assert_eq!(url("http://[::1]:9/").authority(), "[::1]:9");
        assert_eq!(url("http://[::1]").port, 80);
    }

    #[test]
    fn bad_urls_are_refused() {
        for bad in [
            "https://x/healthz",
            "x:80/healthz",
            "http://:80/",
            "http://h:99999/",
            "http://h:port/",
            "http://[::1/",
            "http://[::1]x/",
            "http://u:p@h/",
            "http://h/a b",
        ] {
            assert!(matches!(bad.parse::<ProbeUrl>(), Err(ProbeError::Url { .. })), "{bad} should be refused");
        }
    }

    #[test]
    fn status_lines_parse() {
        assert_eq!(parse_status_line(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n"), Some(200));
        assert_eq!(parse_status_line(b"HTTP/1.0 503 Service Unavailable\r\n"), Some(503));
        assert_eq!(parse_status_line(b"HTTP/1.1 204\r\n"), Some(204));
        for bad in [
            &b"HTTP/1.1 200 OK"[..],
            b"SSH-2.0-OpenSSH\r\n",
            b"HTTP/1.1 2000 x\r\n",
            b"HTTP/1.1 abc x\r\n",
            b"HTTP/1.1 999 x\r\n",
            b"",
        ] {
            assert_eq!(parse_status_line(bad), None, "{:?}", String::from_utf8_lossy(bad));
        }
    }

    #[tokio::test]
    async fn probe_of_a_closed_port_is_an_io_error() {
        // Bind then drop to find a port nothing listens on.
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap_or_else(|e| panic!("bind: {e}"));
            l.local_addr().unwrap_or_else(|e| panic!("{e}")).port()
        };
        let target = url(&format!("http://127.0.0.1:{port}/healthz"));
        let err = probe(&target, Duration::from_secs(5)).await.err();
        assert!(matches!(err, Some(ProbeError::Io { .. })), "{err:?}");
    }

    #[tokio::test]
    async fn probe_reads_status_of_a_raw_server_and_times_out_on_a_silent_one() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap_or_else(|e| panic!("bind: {e}"));
        let port = listener.local_addr().unwrap_or_else(|e| panic!("{e}")).port();
        let server = tokio::spawn(async move {
            // First connection: answer 503 in two pieces, after checking the request line.
            let (mut s, _) = listener.accept().await.unwrap_or_else(|e| panic!("accept: {e}"));
            let mut req = vec![0u8; 1024];
            let n = s.read(&mut req).await.unwrap_or_else(|e| panic!("read: {e}"));
            assert!(req[..n].starts_with(b"GET /readyz HTTP/1.1\r\n"), "{:?}", String::from_utf8_lossy(&req[..n]));
            s.write_all(b"HTTP/1.1 50").await.unwrap_or_else(|e| panic!("write: {e}"));
            s.flush().await.unwrap_or_else(|e| panic!("flush: {e}"));
            tokio::time::sleep(Duration::from_millis(20)).await;
            s.write_all(b"3 Service Unavailable\r\n\r\n").await.unwrap_or_else(|e| panic!("write: {e}"));
            // Second connection: say nothing until the client gives up.
            let (silent, _) = listener.accept().await.unwrap_or_else(|e| panic!("accept: {e}"));
            tokio::time::sleep(Duration::from_secs(2)).await;
            drop(silent);
        });
        let target = url(&format!("http://127.0.0.1:{port}/readyz"));
        let code = probe(&target, Duration::from_secs(5)).await.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(code, 503);
        let err = probe(&target, Duration::from_millis(200)).await.err();
        assert!(matches!(err, Some(ProbeError::Timeout { .. })), "{err:?}");
        server.abort();
    }
}
