//! The live dashboard's web server: `loadgrid run --dashboard`, `loadgrid
//! attach --dashboard` and `loadgrid dashboard <run-id>`.
//!
//! It serves one page of the whole grid from the machine that watches the
//! run (a laptop, or a CI runner through port forwarding), whatever the
//! backend: the watch loop already reads the shards' live objects from the
//! store, and hands each tick's merged view to this server as a
//! [`LiveFrame`].
//!
//! - `/`: the page. The report's own sections over the numbers so far
//!   (rendered by `loadgrid-html`, so the charts and tables are the
//!   report's), the run's progress and each shard's state.
//! - `/events`: server-sent events. `update` carries the page's new
//!   `<main>` after each frame; `report` carries the final report once the
//!   run has ended, and the stream ends with it. The page swaps it in and
//!   offers it for download, so it outlives this process.
//! - `/dashboard.css`, `/dashboard.js`: the page's only stylesheet and
//!   script, under a Content-Security-Policy that allows nothing else (no
//!   inline script, no other origin).
//! - `/report.html`: the final report, once there is one.
//!
//! Each frame is rendered once and the same bytes go to every open page,
//! so twenty tabs cost the store nothing and the orchestrator little more
//! than one (see `bench/dashboard-clients.sh`).
//!
//! Who may look: by default the server listens on loopback only, and then
//! answers only requests addressed to a loopback name (so a web page
//! elsewhere cannot reach it by DNS rebinding). Any other address needs a
//! [`Token`]: requests must carry it, in the URL printed at start
//! (`?token=`) or in the cookie the page then gets.

use std::convert::Infallible;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::header::{self, HeaderValue};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use loadgrid_grid::live::LiveFrame;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::{JoinHandle, JoinSet};

/// k6's own dashboard port, so that habits carry over.
pub const DEFAULT_ADDR: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 5665);
/// Where a fixed token comes from (a CI secret); otherwise one is made up
/// for each run and printed with the URL.
pub const TOKEN_ENV: &str = "LOADGRID_DASHBOARD_TOKEN";

/// The page's policy: its own stylesheet, script and event stream, nothing else.
const PAGE_CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; \
                        base-uri 'none'; form-action 'none'; frame-ancestors 'none'";
/// The final report's, as the report file itself declares it.
const REPORT_CSP: &str =
    "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";
/// A comment on an idle event stream, so that proxies and port forwarders
/// do not close it while the run is being judged.
const KEEP_ALIVE: Duration = Duration::from_secs(15);
/// How long [`Serving::close`] waits for open pages to receive the report.
const DELIVERY_WAIT: Duration = Duration::from_secs(5);

#[derive(Debug, thiserror::Error)]
pub enum DashboardError {
    #[error(
        "`--dashboard {given}` is not an address: give IP:PORT (127.0.0.1:5665), :PORT for this machine only, or :0 \
         for any free port"
    )]
    Address { given: String },
    #[error(
        "the dashboard would listen on {addr}, which other machines can reach, without a token: give it one \
         ({TOKEN_ENV}), or keep the default {DEFAULT_ADDR} and forward the port"
    )]
    TokenRequired { addr: SocketAddr },
    #[error(
        "{TOKEN_ENV} must be at least 16 letters, digits, `-` or `_`; e.g. `export {TOKEN_ENV}=$(openssl rand -hex 16)`"
    )]
    BadToken,
    #[error(
        "the dashboard cannot listen on {addr}: {cause}; pass another address, e.g. `--dashboard {}:{}`, or \
         `--dashboard :0` for any free port",
        addr.ip(),
        addr.port().wrapping_add(1)
    )]
    Bind { addr: SocketAddr, cause: std::io::Error },
}

/// `127.0.0.1:5665`, `[::1]:5665`, `0.0.0.0:5665`, `:5665` (loopback) or
/// `localhost:5665`.
pub fn parse_addr(given: &str) -> Result<SocketAddr, DashboardError> {
    let error = || DashboardError::Address { given: given.to_owned() };
    if let Some(port) = given.strip_prefix(':').or_else(|| given.strip_prefix("localhost:")) {
        let port: u16 = port.parse().map_err(|_| error())?;
        return Ok(SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), port));
    }
    given.parse().map_err(|_| error())
}

/// The secret a dashboard on a reachable address asks of every request.
#[derive(Clone, PartialEq, Eq)]
pub struct Token(String);

impl Token {
    /// [`TOKEN_ENV`] when set, else 128 random bits.
    pub fn from_env_or_random() -> Result<Token, DashboardError> {
        match std::env::var(TOKEN_ENV) {
            Ok(given) => Token::new(given),
            Err(_) => {
                let bits: u128 = rand::random();
                Ok(Token(format!("{bits:032x}")))
            }
        }
    }

    pub fn new(token: String) -> Result<Token, DashboardError> {
        let usable = token.len() >= 16 && token.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        usable.then_some(Token(token)).ok_or(DashboardError::BadToken)
    }

    /// Compares in time independent of where `given` differs.
    fn accepts(&self, given: &str) -> bool {
        let (mine, given) = (self.0.as_bytes(), given.as_bytes());
        mine.len() == given.len() && mine.iter().zip(given).fold(0u8, |diff, (a, b)| diff | (a ^ b)) == 0
    }
}

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Token(…)")
    }
}

/// A bound dashboard, not serving yet: binding comes before anything is
/// launched, so that a taken port is bad input, not a run without its page.
pub struct Dashboard {
    listener: TcpListener,
    addr: SocketAddr,
    token: Option<Token>,
}

impl Dashboard {
    /// Listens on `addr`. Loopback needs no token; any other address does.
    pub async fn bind(addr: SocketAddr, token: Option<Token>) -> Result<Dashboard, DashboardError> {
        if !addr.ip().is_loopback() && token.is_none() {
            return Err(DashboardError::TokenRequired { addr });
        }
        let listener = TcpListener::bind(addr).await.map_err(|cause| DashboardError::Bind { addr, cause })?;
        let addr = listener.local_addr().map_err(|cause| DashboardError::Bind { addr, cause })?;
        Ok(Dashboard { listener, addr, token })
    }

    /// The URL to open, with the token when there is one.
    pub fn url(&self) -> String {
        let host = match self.addr {
            SocketAddr::V6(v6) => format!("[{}]", v6.ip()),
            SocketAddr::V4(v4) => v4.ip().to_string(),
        };
        match &self.token {
            Some(token) => format!("http://{host}:{}/?token={}", self.addr.port(), token.0),
            None => format!("http://{host}:{}/", self.addr.port()),
        }
    }

    /// Serves the page, updated with every frame `frames` receives.
    pub fn serve(self, frames: watch::Receiver<Option<Arc<LiveFrame>>>) -> Serving {
        let state = Arc::new(State {
            token: self.token,
            loopback: self.addr.ip().is_loopback(),
            cookie: format!("loadgrid_dashboard_{}", self.addr.port()),
            current: watch::channel(Snapshot::default()).0,
            streams: AtomicUsize::new(0),
            css: Bytes::from(loadgrid_html::dashboard_css().unwrap_or_default()),
        });
        let render = tokio::spawn(render(state.clone(), frames));
        let accept = tokio::spawn(accept(state.clone(), self.listener));
        Serving { state, render, accept }
    }
}

/// A dashboard being served.
pub struct Serving {
    state: Arc<State>,
    render: JoinHandle<()>,
    accept: JoinHandle<()>,
}

impl Serving {
    /// The run has ended: every open page, and every page opened from now
    /// on, shows `report` (the run's `report --html`) instead.
    pub fn show_report(&self, report: String) {
        let event = sse_event("report", &report);
        self.state.current.send_modify(|snapshot| {
            snapshot.report = Some(FinalReport { html: Bytes::from(report), event });
        });
    }

    /// Stops serving once every open page has received the report (their
    /// event streams end with it), or after a few seconds.
    pub async fn close(self) {
        let waiting = async {
            while self.state.streams.load(Ordering::SeqCst) > 0 {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        };
        let _ = tokio::time::timeout(DELIVERY_WAIT, waiting).await;
        self.render.abort();
        self.accept.abort();
    }
}

struct State {
    token: Option<Token>,
    loopback: bool,
    /// Named by port: browsers share cookies across a host's ports.
    cookie: String,
    current: watch::Sender<Snapshot>,
    /// Open event streams.
    streams: AtomicUsize,
    css: Bytes,
}

/// What the server shows now.
#[derive(Clone, Default)]
struct Snapshot {
    frame: Option<Arc<LiveFrame>>,
    /// The `update` event of `frame`, rendered once for every page.
    update: Option<Bytes>,
    report: Option<FinalReport>,
}

#[derive(Clone)]
struct FinalReport {
    html: Bytes,
    event: Bytes,
}

/// Renders each new frame once, into the event every page receives.
async fn render(state: Arc<State>, mut frames: watch::Receiver<Option<Arc<LiveFrame>>>) {
    let mut said_error = false;
    while frames.changed().await.is_ok() {
        let Some(frame) = frames.borrow_and_update().clone() else { continue };
        match loadgrid_html::live_body(&frame.summary, &frame.status) {
            Ok(body) => {
                let update = sse_event("update", &body);
                state.current.send_modify(|snapshot| {
                    snapshot.frame = Some(frame);
                    snapshot.update = Some(update);
                });
            }
            Err(error) if !said_error => {
                said_error = true;
                eprintln!("warning: the dashboard shows no more updates: {error}");
            }
            Err(_) => {}
        }
    }
}

/// One server-sent event: every line of `data` as a `data:` field (SSE
/// ends a line at CR, LF or CRLF alike; the browser joins them with LF).
fn sse_event(name: &str, data: &str) -> Bytes {
    let mut event = String::with_capacity(data.len() + data.len() / 16 + 32);
    event.push_str("event: ");
    event.push_str(name);
    event.push('\n');
    for line in data.split("\r\n").flat_map(|line| line.split(['\r', '\n'])) {
        event.push_str("data: ");
        event.push_str(line);
        event.push('\n');
    }
    event.push('\n');
    Bytes::from(event)
}

async fn accept(state: Arc<State>, listener: TcpListener) {
    // Dropped with this task: closing the dashboard closes every connection.
    let mut connections = JoinSet::new();
    loop {
        let Ok((stream, _)) = listener.accept().await else { continue };
        while connections.try_join_next().is_some() {}
        let state = state.clone();
        connections.spawn(async move {
            let service = service_fn(move |request| {
                let state = state.clone();
                async move { Ok::<_, Infallible>(respond(&state, &request)) }
            });
            // A client that hangs up mid-stream is the client's business.
            let _ = http1::Builder::new().serve_connection(TokioIo::new(stream), service).await;
        });
    }
}

type Body = BoxBody<Bytes, Infallible>;

fn respond(state: &Arc<State>, request: &Request<Incoming>) -> Response<Body> {
    if request.method() != Method::GET && request.method() != Method::HEAD {
        return text(StatusCode::METHOD_NOT_ALLOWED, "the dashboard only answers GET\n");
    }
    let query_token = request.uri().query().and_then(|query| {
        form_urlencoded::parse(query.as_bytes()).find(|(key, _)| key == "token").map(|(_, value)| value.into_owned())
    });
    if let Err(refusal) = authorize(state, request, query_token.as_deref()) {
        return refusal;
    }
    let mut response = match request.uri().path() {
        "/" | "/index.html" => page(state),
        "/events" => events(state),
        "/dashboard.css" => asset(state.css.clone(), "text/css; charset=utf-8"),
        "/dashboard.js" => asset(Bytes::from_static(loadgrid_html::DASHBOARD_JS.as_bytes()), "text/javascript"),
        "/report.html" => match state.current.borrow().report.clone() {
            Some(report) => {
                let mut response = html(report.html, REPORT_CSP);
                let attachment = HeaderValue::from_static("attachment; filename=\"report.html\"");
                response.headers_mut().insert(header::CONTENT_DISPOSITION, attachment);
                response
            }
            None => text(StatusCode::NOT_FOUND, "the run has not ended: its report comes when it does\n"),
        },
        _ => text(StatusCode::NOT_FOUND, "not found: the dashboard is at /\n"),
    };
    if let (Some(token), true) = (query_token, state.token.is_some()) {
        let cookie = format!("{}={token}; HttpOnly; SameSite=Strict; Path=/", state.cookie);
        if let Ok(cookie) = HeaderValue::from_str(&cookie) {
            response.headers_mut().insert(header::SET_COOKIE, cookie);
        }
    }
    response
}

/// A loopback server answers requests addressed to a loopback name only;
/// one on any other address, requests that carry its token.
#[allow(clippy::result_large_err)]
fn authorize(state: &State, request: &Request<Incoming>, query_token: Option<&str>) -> Result<(), Response<Body>> {
    match &state.token {
        Some(token) => {
            let cookie = request
                .headers()
                .get_all(header::COOKIE)
                .iter()
                .filter_map(|value| value.to_str().ok())
                .flat_map(|value| value.split(';'))
                .filter_map(|pair| pair.trim().split_once('='))
                .find(|(name, _)| *name == state.cookie)
                .map(|(_, value)| value);
            match query_token.or(cookie) {
                Some(given) if token.accepts(given) => Ok(()),
                _ => Err(text(
                    StatusCode::FORBIDDEN,
                    "this dashboard needs its token: open the URL loadgrid printed, with its ?token=\n",
                )),
            }
        }
        None if state.loopback => {
            let host = request.headers().get(header::HOST).and_then(|host| host.to_str().ok()).unwrap_or_default();
            match is_loopback_host(host) {
                true => Ok(()),
                false => Err(text(
                    StatusCode::FORBIDDEN,
                    "this dashboard answers on localhost only; to reach it from elsewhere, forward the port or give \
                     `--dashboard` an address and a token\n",
                )),
            }
        }
        None => Ok(()),
    }
}

/// `localhost:5665`, `127.0.0.1:5665`, `[::1]:5665`, with or without the port.
fn is_loopback_host(host: &str) -> bool {
    let name = match host.strip_prefix('[') {
        Some(rest) => rest.split(']').next().unwrap_or_default(),
        None => host.rsplit_once(':').map_or(host, |(name, _)| name),
    };
    name.eq_ignore_ascii_case("localhost") || name.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

fn page(state: &State) -> Response<Body> {
    let snapshot = state.current.borrow().clone();
    if let Some(report) = snapshot.report {
        return html(report.html, REPORT_CSP);
    }
    let rendered = match &snapshot.frame {
        Some(frame) => loadgrid_html::dashboard_page(&frame.summary, &frame.status),
        None => loadgrid_html::dashboard_waiting_page(),
    };
    match rendered {
        Ok(page) => html(Bytes::from(page), PAGE_CSP),
        Err(error) => text(StatusCode::INTERNAL_SERVER_ERROR, &format!("{error}\n")),
    }
}

/// Counts an open event stream for as long as it lives.
struct OpenStream(Arc<State>);

impl OpenStream {
    fn new(state: &Arc<State>) -> OpenStream {
        state.streams.fetch_add(1, Ordering::SeqCst);
        OpenStream(state.clone())
    }
}

impl Drop for OpenStream {
    fn drop(&mut self) {
        self.0.streams.fetch_sub(1, Ordering::SeqCst);
    }
}

/// The page's event stream: the current update at once, then each new one;
/// the final report ends it.
fn events(state: &Arc<State>) -> Response<Body> {
    let mut snapshots = state.current.subscribe();
    snapshots.mark_changed();
    let open = OpenStream::new(state);
    let retry = futures::stream::once(async { Ok(Frame::data(Bytes::from_static(b"retry: 2000\n\n"))) });
    let updates = futures::stream::unfold((snapshots, open, false), |(mut snapshots, open, ended)| async move {
        if ended {
            return None;
        }
        let bytes = tokio::select! {
            changed = snapshots.changed() => {
                changed.ok()?;
                let snapshot = snapshots.borrow_and_update().clone();
                match (snapshot.report, snapshot.update) {
                    (Some(report), _) => return Some((Ok(Frame::data(report.event)), (snapshots, open, true))),
                    (None, Some(update)) => update,
                    (None, None) => Bytes::from_static(b": waiting for the run's first numbers\n\n"),
                }
            }
            _ = tokio::time::sleep(KEEP_ALIVE) => Bytes::from_static(b": still here\n\n"),
        };
        Some((Ok(Frame::data(bytes)), (snapshots, open, false)))
    });
    let body = BodyExt::boxed(StreamBody::new(futures::StreamExt::chain(retry, updates)));
    let mut response = Response::new(body);
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/event-stream"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    // nginx and the like would hold events back to fill a buffer.
    headers.insert("x-accel-buffering", HeaderValue::from_static("no"));
    response
}

fn asset(bytes: Bytes, content_type: &'static str) -> Response<Body> {
    let mut response = Response::new(Full::new(bytes).boxed());
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    secure(response)
}

fn html(bytes: Bytes, csp: &'static str) -> Response<Body> {
    let mut response = asset(bytes, "text/html; charset=utf-8");
    response.headers_mut().insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(csp));
    response
}

fn text(status: StatusCode, message: &str) -> Response<Body> {
    let mut response = asset(Bytes::from(message.to_owned()), "text/plain; charset=utf-8");
    *response.status_mut() = status;
    response
}

fn secure(mut response: Response<Body>) -> Response<Body> {
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    response
}

#[cfg(test)]
mod tests;
