//! `loadgrid-target`: the built-in HTTP target server.
//!
//! loadgrid runs k6 load tests as a grid of shards; to demo that, to test it
//! and to smoke-test an installation you need something to point the load
//! at. This crate is that something: a small, fast HTTP/1.1 (keep-alive)
//! server whose responses can be shaped per request, so a script can
//! simulate latency, errors and payload sizes without any real backend.
//!
//! It is built to never be the bottleneck: on **one core** (current-thread
//! runtime) it serves well over what a single k6 instance can generate on a
//! core (see `bench/target-throughput.sh`). Bodies are precomputed or sliced
//! from a static zero buffer, delays are timers (never a blocked thread), and
//! per-request bookkeeping is a cached slot lookup plus one relaxed atomic
//! add.
//!
//! # Endpoints
//!
//! Any method is accepted on any path. The request body is ignored but
//! by `/echo`.
//!
//! | request | response |
//! | --- | --- |
//! | `/` (or any other path) | `200`, body `ok\n` |
//! | `/delay/<dur>` | like `?delay=<dur>` |
//! | `/status/<code>` | like `?status=<code>` |
//! | `/bytes/<n>` | like `?size=<n>` |
//! | `/__health` | `200`, body `ok` (query ignored) |
//! | `/__stats` | JSON [`Stats`]: requests in all and per path; not itself counted |
//!
//! And, for realistic scripts, endpoints that behave like a small
//! application (answered at once, knobs ignored):
//!
//! | request | response |
//! | --- | --- |
//! | `/json` | `200`, a JSON document: a token, a user and a list of items |
//! | `/echo` (any method) | `200`, JSON of the request: method, path, query, headers, body, and the body parsed as JSON (`json`) or a form (`form`) |
//! | `/cookies` | `200`, JSON of the cookies the request sent |
//! | `/cookies/set?name=value&…` | `200`, sets each as a cookie (`Path=/`) |
//! | `/basic-auth/<user>/<password>` | `200` when the request's Basic credentials match, else `401` with a challenge |
//! | `/redirect/<n>` | `302` to `/redirect/<n-1>`; `/redirect/0` is `200` (n ≤ 100) |
//! | `/redirect-to?url=<path>` | `302` to that path of this server (never another host) |
//!
//! Query parameters work on every path (except the two `__` ones) and
//! combine, e.g. `/api/login?delay=20ms&jitter=5ms&status=200&size=512`:
//!
//! * `delay=<dur>`: wait this long before responding. Durations are a
//!   decimal number with an optional unit `ns`, `us`/`µs`, `ms`, `s`, `m`,
//!   `h`; a bare number means milliseconds (`50ms`, `1s`, `250us`, `20`).
//!   At most 1 hour.
//! * `jitter=<dur>`: add a uniformly random extra delay in `0..=jitter`.
//! * `status=<code>`: respond with this status (200-599; 1xx codes cannot
//!   be a final HTTP/1.1 response and are rejected). `204` and `304` are
//!   always sent without a body.
//! * `size=<bytes>`: respond with a body of exactly this many zero bytes
//!   (at most 16 MiB).
//!
//! A query parameter overrides the same knob given in the path form, unknown
//! parameters are ignored, and a malformed value yields `400` with a short
//! plain-text reason naming the parameter, e.g.
//! ``invalid `size` parameter: "abc" is not a byte count (0..=16777216)``.
//!
//! # Use
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! let target = loadgrid_target::start("127.0.0.1:0".parse().unwrap()).await?;
//! println!("target at http://{}/", target.local_addr());
//! // ... run load against it ...
//! println!("{:?}", target.stats());
//! target.shutdown().await;
//! # Ok(()) }
//! ```
//!
//! The CLI's `loadgrid target` command uses [`serve_blocking`].

mod apps;
mod body;
mod params;
mod stats;

use std::cell::RefCell;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::body::Body as _;
use hyper::body::Incoming;
use hyper::header::{HeaderValue, CONTENT_TYPE};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::sync::oneshot;
use tokio::task::{JoinHandle, JoinSet};

pub use apps::{MAX_ECHO_BODY, MAX_REDIRECTS};
pub use params::{MAX_DELAY, MAX_SIZE};
pub use stats::{Stats, MAX_PATHS, OTHER};

use body::TargetBody;
use params::Knobs;
use stats::{Counters, PathCache};

/// Configuration for [`serve_blocking`].
#[derive(Debug, Clone)]
pub struct TargetConfig {
    /// Address to listen on, e.g. `127.0.0.1:8080` (port 0 picks a free one).
    pub listen: SocketAddr,
    /// Tokio worker threads; `0` means a current-thread runtime (one core).
    pub threads: usize,
}

/// A running target. Dropping it or calling [`RunningTarget::shutdown`]
/// stops it.
pub struct RunningTarget {
    addr: SocketAddr,
    shared: Arc<Shared>,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for RunningTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunningTarget").field("addr", &self.addr).finish_non_exhaustive()
    }
}

impl RunningTarget {
    /// The address actually bound (useful with port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Snapshot of the request counters.
    pub fn stats(&self) -> Stats {
        self.shared.counters.snapshot()
    }

    /// Stops accepting, closes every open connection (in-flight requests,
    /// including delayed ones, are dropped) and waits until the listening
    /// socket is closed.
    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for RunningTarget {
    fn drop(&mut self) {
        // Dropping the sender wakes the accept loop; aborting makes sure it
        // stops even if nobody polls it again (its JoinSet aborts all
        // connection tasks when dropped).
        self.stop.take();
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

struct Shared {
    counters: Counters,
    http: http1::Builder,
}

/// Starts the server on the *current* tokio runtime (spawns tasks) and
/// returns once bound. Binding errors (e.g. address in use) are returned
/// with the address in the message.
pub async fn start(listen: SocketAddr) -> std::io::Result<RunningTarget> {
    let listener =
        bind(listen).map_err(|e| std::io::Error::new(e.kind(), format!("cannot listen on {listen}: {e}")))?;
    let addr = listener.local_addr()?;

    let mut http = http1::Builder::new();
    http.keep_alive(true)
        // No timer is configured, so hyper arms no per-request timeout;
        // keep it that way explicitly (it would cost a timer per request).
        .header_read_timeout(None)
        // Vectored writes: bodies (slices of the shared zero buffer) are
        // queued and written with writev, never copied into a write buffer.
        // (Note: `pipeline_flush(true)` would force the copying strategy.)
        .writev(true);
    let shared = Arc::new(Shared { counters: Counters::new(), http });

    let (stop, stopped) = oneshot::channel();
    let task = tokio::spawn(accept_loop(listener, shared.clone(), stopped));
    Ok(RunningTarget { addr, shared, stop: Some(stop), task: Some(task) })
}

fn bind(listen: SocketAddr) -> std::io::Result<TcpListener> {
    let socket = if listen.is_ipv4() { TcpSocket::new_v4()? } else { TcpSocket::new_v6()? };
    // Allow quick restarts while old connections sit in TIME_WAIT.
    #[cfg(unix)]
    socket.set_reuseaddr(true)?;
    socket.bind(listen)?;
    socket.listen(4096)
}

async fn accept_loop(listener: TcpListener, shared: Arc<Shared>, mut stopped: oneshot::Receiver<()>) {
    let mut conns = JoinSet::new();
    loop {
        tokio::select! {
            biased;
            // Fires on an explicit stop and when the sender is dropped.
            _ = &mut stopped => break,
            res = listener.accept() => match res {
                Ok((stream, _peer)) => {
                    conns.spawn(serve_conn(stream, shared.clone()));
                }
                Err(e) if is_transient_accept_error(&e) => {}
                // e.g. EMFILE: back off briefly instead of spinning.
                Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
            },
            // Reap finished connections so the set does not grow forever.
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
        }
    }
    drop(listener);
    conns.shutdown().await;
}

fn is_transient_accept_error(e: &std::io::Error) -> bool {
    use std::io::ErrorKind::*;
    matches!(e.kind(), ConnectionAborted | ConnectionReset | ConnectionRefused | Interrupted)
}

async fn serve_conn(stream: TcpStream, shared: Arc<Shared>) {
    let _ = stream.set_nodelay(true);
    let cache = RefCell::new(PathCache::default());
    let svc_shared = shared.clone();
    let svc = service_fn(move |req: Request<Incoming>| {
        // Everything but the delay (and `/echo`'s body) is decided
        // synchronously, so the returned future owns only the response
        // and the delay: no Arc clone, no boxing.
        let reply = handle(&svc_shared, &cache, &req);
        let body = (!req.body().is_end_stream()).then(|| req.into_body());
        async move {
            match reply {
                Reply::Ready(resp, delay) => {
                    // Read and discard any request body so the connection
                    // stays reusable (hyper closes it when a large body is
                    // left unread).
                    if let Some(mut body) = body {
                        while let Some(Ok(_)) = body.frame().await {}
                    }
                    if !delay.is_zero() {
                        tokio::time::sleep(delay).await;
                    }
                    Ok::<_, Infallible>(resp)
                }
                Reply::Echo(echo) => {
                    let bytes = match body {
                        Some(body) => http_body_util::Limited::new(body, apps::MAX_ECHO_BODY)
                            .collect()
                            .await
                            .ok()
                            .map(|collected| collected.to_bytes()),
                        None => Some(Bytes::new()),
                    };
                    Ok(echo.answer(bytes))
                }
            }
        }
    });
    // Connection errors (client resets, malformed requests) are the
    // client's business; hyper already answered what it could.
    let _ = shared.http.serve_connection(TokioIo::new(stream), svc).await;
}

/// How a request is answered: now (after an optional delay), or by
/// `/echo` once the body is read.
enum Reply {
    Ready(Resp, Duration),
    Echo(apps::EchoRequest),
}

const OK_BODY: &[u8] = b"ok\n";
const TEXT_PLAIN: HeaderValue = HeaderValue::from_static("text/plain; charset=utf-8");
const OCTET_STREAM: HeaderValue = HeaderValue::from_static("application/octet-stream");
const JSON: HeaderValue = HeaderValue::from_static("application/json");

type Resp = Response<TargetBody>;

fn handle(shared: &Shared, cache: &RefCell<PathCache>, req: &Request<Incoming>) -> Reply {
    let uri = req.uri();
    let path = uri.path();
    if path == "/__stats" {
        return Reply::Ready(stats_response(&shared.counters.snapshot()), Duration::ZERO);
    }
    shared.counters.record(path, &mut cache.borrow_mut());
    if path == "/__health" {
        return Reply::Ready(response(StatusCode::OK, TargetBody::from_static(b"ok"), TEXT_PLAIN), Duration::ZERO);
    }
    match apps::route(req.method(), path, uri.query(), req.headers()) {
        Some(apps::App::Ready(resp)) => return Reply::Ready(resp, Duration::ZERO),
        Some(apps::App::Echo(echo)) => return Reply::Echo(echo),
        None => {}
    }
    let knobs = match Knobs::parse(path, uri.query()) {
        Ok(k) => k,
        Err(e) => {
            return Reply::Ready(
                response(StatusCode::BAD_REQUEST, TargetBody::once(Bytes::from(format!("{e}\n"))), TEXT_PLAIN),
                Duration::ZERO,
            )
        }
    };
    let status = knobs.status.and_then(|c| StatusCode::from_u16(c).ok()).unwrap_or(StatusCode::OK);
    let (body, content_type) = if matches!(status, StatusCode::NO_CONTENT | StatusCode::NOT_MODIFIED) {
        (TargetBody::empty(), TEXT_PLAIN)
    } else if let Some(n) = knobs.size {
        (TargetBody::zeros(n), OCTET_STREAM)
    } else {
        (TargetBody::from_static(OK_BODY), TEXT_PLAIN)
    };
    let mut delay = knobs.delay.unwrap_or_default();
    if let Some(jitter) = knobs.jitter.filter(|j| !j.is_zero()) {
        // jitter <= MAX_DELAY (1h) so its nanoseconds fit in u64.
        let max = u64::try_from(jitter.as_nanos()).unwrap_or(u64::MAX);
        delay += Duration::from_nanos(rand::random_range(0..=max));
    }
    Reply::Ready(response(status, body, content_type), delay)
}

#[inline]
fn response(status: StatusCode, body: TargetBody, content_type: HeaderValue) -> Resp {
    let mut resp = Response::new(body);
    *resp.status_mut() = status;
    resp.headers_mut().insert(CONTENT_TYPE, content_type);
    resp
}

fn stats_response(stats: &Stats) -> Resp {
    let mut json = serde_json::to_vec(stats).unwrap_or_default();
    json.push(b'\n');
    response(StatusCode::OK, TargetBody::once(Bytes::from(json)), JSON)
}

/// Blocking entry point for the CLI's `loadgrid target` command: builds its
/// own runtime with `threads` workers (`0` = current-thread), starts the
/// server, calls `on_ready` with the bound address, and runs until ctrl-c or
/// SIGTERM. Prints nothing itself.
pub fn serve_blocking(config: TargetConfig, on_ready: impl FnOnce(SocketAddr)) -> std::io::Result<()> {
    let runtime = if config.threads == 0 {
        tokio::runtime::Builder::new_current_thread().enable_all().build()?
    } else {
        tokio::runtime::Builder::new_multi_thread().worker_threads(config.threads).enable_all().build()?
    };
    runtime.block_on(async move {
        let target = start(config.listen).await?;
        // Listen for signals before announcing readiness, so a SIGTERM sent
        // right after `on_ready` is not fatal.
        let termination = Termination::new()?;
        on_ready(target.local_addr());
        let waited = termination.wait().await;
        target.shutdown().await;
        waited
    })
}

/// ctrl-c (SIGINT) or, on unix, SIGTERM.
struct Termination {
    #[cfg(unix)]
    signals: (tokio::signal::unix::Signal, tokio::signal::unix::Signal),
}

impl Termination {
    fn new() -> std::io::Result<Self> {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{signal, SignalKind};
            Ok(Termination { signals: (signal(SignalKind::interrupt())?, signal(SignalKind::terminate())?) })
        }
        #[cfg(not(unix))]
        {
            Ok(Termination {})
        }
    }

    async fn wait(self) -> std::io::Result<()> {
        #[cfg(unix)]
        {
            let (mut int, mut term) = self.signals;
            tokio::select! {
                _ = int.recv() => {}
                _ = term.recv() => {}
            }
            Ok(())
        }
        #[cfg(not(unix))]
        {
            tokio::signal::ctrl_c().await
        }
    }
}
