use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::*;

/// A dashboard on a free loopback port (or `addr`), with no frame yet.
async fn serving(addr: &str, token: Option<Token>) -> (Serving, SocketAddr, watch::Sender<Option<Arc<LiveFrame>>>) {
    let dashboard = Dashboard::bind(addr.parse().unwrap(), token).await.unwrap();
    let port = dashboard.addr.port();
    let (frames, receiver) = watch::channel(None);
    (dashboard.serve(receiver), SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), port), frames)
}

/// One HTTP/1.1 request; the whole answer, as text, once the server
/// closes the connection (or after `wait`, for a stream that goes on).
async fn get(addr: SocketAddr, path: &str, headers: &str, wait: Duration) -> String {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n{headers}\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(wait, stream.read_to_end(&mut answer)).await;
    String::from_utf8_lossy(&answer).into_owned()
}

fn status(answer: &str) -> &str {
    answer.lines().next().unwrap_or_default()
}

#[test]
fn addresses_read_as_people_write_them() {
    assert_eq!(parse_addr("127.0.0.1:5665").unwrap(), DEFAULT_ADDR);
    assert_eq!(parse_addr(":5666").unwrap(), "127.0.0.1:5666".parse().unwrap());
    assert_eq!(parse_addr("localhost:0").unwrap(), "127.0.0.1:0".parse().unwrap());
    assert_eq!(parse_addr("[::1]:5665").unwrap(), "[::1]:5665".parse().unwrap());
    assert_eq!(
        parse_addr("my-laptop").unwrap_err().to_string(),
        "`--dashboard my-laptop` is not an address: give IP:PORT (127.0.0.1:5665), :PORT for this machine only, or :0 \
         for any free port"
    );
}

#[test]
fn tokens_are_long_url_safe_and_compared_whole() {
    assert_eq!(Token::new("short".into()).unwrap_err().to_string(), format!("{TOKEN_ENV} must be at least 16 letters, digits, `-` or `_`; e.g. `export {TOKEN_ENV}=$(openssl rand -hex 16)`"));
    assert!(Token::new("0123456789abcdef&x=1".into()).is_err(), "no character that would need escaping in a URL");
    let token = Token::new("0123456789abcdef".into()).unwrap();
    assert!(token.accepts("0123456789abcdef"));
    assert!(!token.accepts("0123456789abcdeF") && !token.accepts("0123456789abcde") && !token.accepts(""));
    assert_eq!(format!("{token:?}"), "Token(…)", "never printed by accident");
}

#[test]
fn loopback_names_are_told_from_others() {
    for host in ["localhost:5665", "LOCALHOST", "127.0.0.1:5665", "127.3.4.5", "[::1]:5665", "[::1]"] {
        assert!(is_loopback_host(host), "{host}");
    }
    for host in ["", "evil.example:5665", "localhost.evil.example", "10.0.0.1:5665", "[2001:db8::1]:5665"] {
        assert!(!is_loopback_host(host), "{host}");
    }
}

#[test]
fn events_carry_every_line_as_data() {
    let event = sse_event("update", "<p>a</p>\r\n<p>b</p>\rc\n");
    assert_eq!(&event[..], b"event: update\ndata: <p>a</p>\ndata: <p>b</p>\ndata: c\ndata: \n\n");
}

#[tokio::test]
async fn a_reachable_address_without_a_token_is_refused_before_it_listens() {
    let error = Dashboard::bind("0.0.0.0:0".parse().unwrap(), None).await.err().unwrap();
    assert_eq!(
        error.to_string(),
        format!(
            "the dashboard would listen on 0.0.0.0:0, which other machines can reach, without a token: give it one \
             ({TOKEN_ENV}), or keep the default 127.0.0.1:5665 and forward the port"
        )
    );
}

#[tokio::test]
async fn a_taken_port_is_said_with_the_next_step() {
    let taken = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = taken.local_addr().unwrap();
    let error = Dashboard::bind(addr, None).await.err().unwrap().to_string();
    assert!(
        error.starts_with(&format!("the dashboard cannot listen on {addr}: "))
            && error.ends_with(&format!(
                "; pass another address, e.g. `--dashboard 127.0.0.1:{}`, or `--dashboard :0` for any free port",
                addr.port() + 1
            )),
        "{error}"
    );
}

#[tokio::test]
async fn the_page_loads_nothing_but_its_own_files_and_turns_into_the_report() {
    let (serving, addr, _frames) = serving("127.0.0.1:0", None).await;
    let page = get(addr, "/", "", Duration::from_secs(5)).await;
    assert_eq!(status(&page), "HTTP/1.1 200 OK");
    assert!(page.contains(&format!("content-security-policy: {PAGE_CSP}\r\n")), "{page}");
    assert!(page.contains(r#"<script src="dashboard.js" defer></script>"#), "{page}");
    assert!(page.contains("Waiting for the run's first numbers"), "{page}");
    for (path, kind) in [("/dashboard.js", "text/javascript"), ("/dashboard.css", "text/css; charset=utf-8")] {
        let asset = get(addr, path, "", Duration::from_secs(5)).await;
        assert_eq!(status(&asset), "HTTP/1.1 200 OK", "{path}");
        assert!(asset.contains(&format!("content-type: {kind}\r\n")), "{asset}");
    }
    let not_yet = get(addr, "/report.html", "", Duration::from_secs(5)).await;
    assert_eq!(status(&not_yet), "HTTP/1.1 404 Not Found");
    assert!(not_yet.ends_with("the run has not ended: its report comes when it does\n"), "{not_yet}");

    // An open page's stream: waiting, then the report, and the stream ends.
    let stream = tokio::spawn(get(addr, "/events", "", Duration::from_secs(10)));
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(serving.state.streams.load(Ordering::SeqCst), 1);
    serving.show_report("<!DOCTYPE html>\n<main>final</main>".into());
    let events = stream.await.unwrap();
    assert!(events.contains("content-type: text/event-stream\r\n"), "{events}");
    let body = &events[events.find("retry: 2000").expect("a retry interval first")..];
    assert!(body.contains(": waiting for the run's first numbers\n\n"), "{body}");
    assert!(body.contains("event: report\ndata: <!DOCTYPE html>\ndata: <main>final</main>\n\n"), "{body}");
    let report = get(addr, "/report.html", "", Duration::from_secs(5)).await;
    assert!(report.contains("content-disposition: attachment; filename=\"report.html\"\r\n"), "{report}");
    assert!(report.contains(&format!("content-security-policy: {REPORT_CSP}\r\n")), "{report}");
    assert!(get(addr, "/", "", Duration::from_secs(5)).await.ends_with("<main>final</main>"));
    serving.close().await;
}

#[tokio::test]
async fn a_loopback_dashboard_answers_loopback_names_only() {
    let (serving, addr, _frames) = serving("127.0.0.1:0", None).await;
    // `get` sends `Host: 127.0.0.1:<port>`; a rebinding page's request names its own host.
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream.write_all(b"GET / HTTP/1.1\r\nHost: evil.example:5665\r\nConnection: close\r\n\r\n").await.unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).await.unwrap();
    assert_eq!(status(&answer), "HTTP/1.1 403 Forbidden");
    assert!(answer.ends_with(
        "this dashboard answers on localhost only; to reach it from elsewhere, forward the port or give `--dashboard` \
         an address and a token\n"
    ));
    assert_eq!(status(&get(addr, "/", "", Duration::from_secs(5)).await), "HTTP/1.1 200 OK");
    serving.close().await;
}

#[tokio::test]
async fn a_reachable_dashboard_asks_every_request_for_its_token() {
    let token = Token::new("0123456789abcdef0123".into()).unwrap();
    let (serving, addr, _frames) = serving("0.0.0.0:0", Some(token)).await;
    let refused = "this dashboard needs its token: open the URL loadgrid printed, with its ?token=\n";
    for (path, headers) in [
        ("/", ""),
        ("/?token=0123456789abcdef0124", ""),
        ("/events", ""),
        ("/dashboard.js", "Cookie: other=0123456789abcdef0123\r\n"),
    ] {
        let answer = get(addr, path, headers, Duration::from_secs(5)).await;
        assert_eq!(status(&answer), "HTTP/1.1 403 Forbidden", "{path} {headers}");
        assert!(answer.ends_with(refused), "{answer}");
    }
    let page = get(addr, "/?token=0123456789abcdef0123", "", Duration::from_secs(5)).await;
    assert_eq!(status(&page), "HTTP/1.1 200 OK");
    let cookie = format!("loadgrid_dashboard_{}=0123456789abcdef0123", addr.port());
    assert!(page.contains(&format!("set-cookie: {cookie}; HttpOnly; SameSite=Strict; Path=/\r\n")), "{page}");
    let script = get(addr, "/dashboard.js", &format!("Cookie: a=b; {cookie}\r\n"), Duration::from_secs(5)).await;
    assert_eq!(status(&script), "HTTP/1.1 200 OK", "the page's own requests carry the cookie");
    serving.close().await;
}
