//! End-to-end tests: start the target on an ephemeral loopback port and talk
//! to it over real HTTP/1.1.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use loadgrid_target::{start, RunningTarget, Stats};

async fn target() -> RunningTarget {
    start("127.0.0.1:0".parse().unwrap()).await.expect("bind 127.0.0.1:0")
}

fn client() -> reqwest::Client {
    reqwest::Client::builder().no_proxy().timeout(Duration::from_secs(30)).build().unwrap()
}

fn url(t: &RunningTarget, path_and_query: &str) -> String {
    format!("http://{}{}", t.local_addr(), path_and_query)
}

async fn get(c: &reqwest::Client, t: &RunningTarget, pq: &str) -> (u16, Vec<u8>) {
    let resp = c.get(url(t, pq)).send().await.expect("request");
    let status = resp.status().as_u16();
    let body = resp.bytes().await.expect("body").to_vec();
    (status, body)
}

#[tokio::test]
async fn root_and_health() {
    let t = target().await;
    let c = client();
    assert_eq!(get(&c, &t, "/").await, (200, b"ok\n".to_vec()));
    assert_eq!(get(&c, &t, "/any/path").await, (200, b"ok\n".to_vec()));
    assert_eq!(get(&c, &t, "/__health").await, (200, b"ok".to_vec()));
    // Any method works, and a request body is accepted (and discarded).
    let resp = c.post(url(&t, "/submit?status=201")).body(vec![b'x'; 256 * 1024]).send().await.unwrap();
    assert_eq!(resp.status().as_u16(), 201);
    assert_eq!(resp.bytes().await.unwrap().as_ref(), b"ok\n");
    t.shutdown().await;
}

#[tokio::test]
async fn status_param() {
    let t = target().await;
    let c = client();
    for (pq, want) in [
        ("/x?status=418", 418),
        ("/x?status=503", 503),
        ("/x?status=200", 200),
        ("/status/404", 404),
        ("/status/599", 599),
        ("/status/500?status=302", 302),
    ] {
        let (status, _) = get(&c, &t, pq).await;
        assert_eq!(status, want, "{pq}");
    }
    let (status, body) = get(&c, &t, "/x?status=204&size=100").await;
    assert_eq!((status, body.len()), (204, 0), "204 never has a body");
    t.shutdown().await;
}

#[tokio::test]
async fn size_param_gives_exact_body_length() {
    let t = target().await;
    let c = client();
    for n in [0usize, 1, 512, 4096, 1 << 20, (1 << 20) + 7, loadgrid_target::MAX_SIZE] {
        for pq in [format!("/x?size={n}"), format!("/bytes/{n}")] {
            let resp = c.get(url(&t, &pq)).send().await.unwrap();
            assert_eq!(resp.status().as_u16(), 200, "{pq}");
            assert_eq!(resp.content_length(), Some(n as u64), "{pq}");
            let body = resp.bytes().await.unwrap();
            assert_eq!(body.len(), n, "{pq}");
            assert!(body.iter().all(|&b| b == 0), "{pq}: zero-filled");
        }
    }
    // Combines with status on any path.
    let (status, body) = get(&c, &t, "/api/login?status=201&size=10").await;
    assert_eq!((status, body.len()), (201, 10));
    t.shutdown().await;
}

#[tokio::test]
async fn delay_param_delays_at_least_that_long() {
    let t = target().await;
    let c = client();
    for (pq, min) in [
        ("/x?delay=200ms", Duration::from_millis(200)),
        ("/delay/150ms", Duration::from_millis(150)),
        ("/x?delay=100", Duration::from_millis(100)),
        ("/x?delay=0.1s&jitter=50ms", Duration::from_millis(100)),
        ("/api/login?delay=20ms&jitter=5ms&status=200&size=512", Duration::from_millis(20)),
    ] {
        let start = Instant::now();
        let (status, _) = get(&c, &t, pq).await;
        let took = start.elapsed();
        assert_eq!(status, 200, "{pq}");
        assert!(took >= min, "{pq} took {took:?}, expected >= {min:?}");
    }
    t.shutdown().await;
}

#[tokio::test]
async fn delays_do_not_block_other_requests() {
    // Current-thread runtime: if a delay blocked the thread, the fast
    // request below could not complete while the slow one is pending.
    let t = target().await;
    let c = client();
    let slow = tokio::spawn({
        let (c, u) = (c.clone(), url(&t, "/x?delay=30s"));
        async move { c.get(u).send().await.map(|r| r.status().as_u16()) }
    });
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(get(&c, &t, "/fast").await.0, 200);
    assert!(!slow.is_finished(), "delayed request finished early");
    t.shutdown().await;
    assert!(slow.await.unwrap().is_err(), "delayed request cut by shutdown");
}

#[tokio::test]
async fn bad_params_give_400_naming_the_param() {
    let t = target().await;
    let c = client();
    for (pq, param) in [
        ("/x?delay=soon", "delay"),
        ("/x?delay=5xs", "delay"),
        ("/x?delay=-1ms", "delay"),
        ("/x?jitter=abc", "jitter"),
        ("/x?status=abc", "status"),
        ("/x?status=99", "status"),
        ("/x?status=600", "status"),
        ("/x?status=100", "status"),
        ("/x?size=abc", "size"),
        ("/x?size=16777217", "size"),
        ("/delay/later", "delay"),
        ("/status/7", "status"),
        ("/bytes/lots", "bytes"),
        ("/bytes/99999999", "bytes"),
    ] {
        let (status, body) = get(&c, &t, pq).await;
        let body = String::from_utf8(body).unwrap();
        assert_eq!(status, 400, "{pq}: {body}");
        assert!(body.contains(&format!("`{param}`")), "{pq}: body {body:?} should name `{param}`");
    }
    t.shutdown().await;
}

#[tokio::test]
async fn stats_count_paths() {
    let t = target().await;
    let c = client();
    for _ in 0..3 {
        get(&c, &t, "/a?x=1").await;
    }
    for _ in 0..2 {
        get(&c, &t, "/b").await;
    }
    get(&c, &t, "/x?size=oops").await; // rejected requests still count
    get(&c, &t, "/__stats").await; // not counted

    let want = Stats {
        requests: 6,
        paths: [("/a", 3), ("/b", 2), ("/x", 1)].into_iter().map(|(p, n)| (p.to_string(), n)).collect(),
    };
    assert_eq!(t.stats(), want);

    let resp = c.get(url(&t, "/__stats")).send().await.unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    assert_eq!(resp.headers()["content-type"].to_str().unwrap(), "application/json");
    let served: Stats = serde_json::from_slice(&resp.bytes().await.unwrap()).unwrap();
    assert_eq!(served, want);
    t.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stats_are_exact_under_concurrency() {
    let t = target().await;
    let c = client();
    let mut tasks = Vec::new();
    for i in 0..8 {
        let (c, base) = (c.clone(), url(&t, ""));
        tasks.push(tokio::spawn(async move {
            for j in 0..50 {
                let path = if j % 2 == 0 { "/even" } else { "/odd" };
                let resp = c.get(format!("{base}{path}?w={i}")).send().await.unwrap();
                assert_eq!(resp.status().as_u16(), 200);
                resp.bytes().await.unwrap();
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    let s = t.stats();
    assert_eq!(s.requests, 400);
    assert_eq!(s.paths.get("/even"), Some(&200));
    assert_eq!(s.paths.get("/odd"), Some(&200));
    t.shutdown().await;
}

#[tokio::test]
async fn bind_error_names_the_address() {
    let t = target().await;
    let addr = t.local_addr();
    let err = start(addr).await.expect_err("port is taken");
    assert_eq!(err.kind(), std::io::ErrorKind::AddrInUse);
    assert!(err.to_string().contains(&addr.to_string()), "error {err} should name {addr}");
    t.shutdown().await;
}

async fn connect_fails(addr: SocketAddr) -> bool {
    // Retry briefly: the listener closes asynchronously after a drop.
    for _ in 0..100 {
        if tokio::net::TcpStream::connect(addr).await.is_err() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    false
}

#[tokio::test]
async fn shutdown_and_drop_stop_the_server() {
    let t = target().await;
    let addr = t.local_addr();
    assert_eq!(get(&client(), &t, "/").await.0, 200);
    t.shutdown().await;
    assert!(tokio::net::TcpStream::connect(addr).await.is_err(), "listener still open after shutdown()");

    let t = target().await;
    let addr = t.local_addr();
    assert_eq!(get(&client(), &t, "/").await.0, 200);
    drop(t);
    assert!(connect_fails(addr).await, "listener still open after drop");
}

#[tokio::test]
async fn shutdown_closes_open_connections() {
    let t = target().await;
    let c = client();
    let pending = tokio::spawn({
        let (c, u) = (c.clone(), url(&t, "/x?delay=30s"));
        async move { c.get(u).send().await }
    });
    tokio::time::sleep(Duration::from_millis(100)).await;
    t.shutdown().await;
    let res = pending.await.unwrap();
    assert!(res.is_err(), "delayed request should fail when the server stops");
}

fn json(body: &[u8]) -> serde_json::Value {
    serde_json::from_slice(body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(body)))
}

/// The application endpoints realistic scripts use: a JSON document, a POST
/// echo (JSON and forms), cookies, Basic auth and redirects.
#[tokio::test]
async fn application_endpoints_behave_like_a_small_app() {
    let t = target().await;
    let c = client();
    let (status, body) = get(&c, &t, "/json").await;
    assert_eq!((status, json(&body)["items"].as_array().unwrap().len()), (200, 3));

    let resp = c
        .post(url(&t, "/echo?page=2&q=a%20b"))
        .header("content-type", "application/json")
        .header("x-trace", "abc")
        .body(r#"{"user":"ada","n":3}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    let echoed = json(&resp.bytes().await.unwrap());
    assert_eq!(echoed["method"], "POST");
    assert_eq!(echoed["query"]["q"], "a b");
    assert_eq!(echoed["headers"]["x-trace"], "abc");
    assert_eq!(echoed["json"]["n"], 3);
    let form = c
        .put(url(&t, "/echo"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("user=ada&pass=s%26cret")
        .send()
        .await
        .unwrap();
    assert_eq!(json(&form.bytes().await.unwrap())["form"]["pass"], "s&cret");
    let too_big = c.post(url(&t, "/echo")).body(vec![b'x'; loadgrid_target::MAX_ECHO_BODY + 1]).send().await.unwrap();
    assert_eq!(too_big.status().as_u16(), 413);

    let set = c.get(url(&t, "/cookies/set?session=s1&theme=dark")).send().await.unwrap();
    let cookies: Vec<&str> = set.headers().get_all("set-cookie").iter().map(|v| v.to_str().unwrap()).collect();
    assert_eq!(cookies, ["session=s1; Path=/", "theme=dark; Path=/"]);
    let sent = c.get(url(&t, "/cookies")).header("cookie", "session=s1; theme=dark").send().await.unwrap();
    assert_eq!(json(&sent.bytes().await.unwrap())["cookies"], serde_json::json!({"session": "s1", "theme": "dark"}));

    let denied = c.get(url(&t, "/basic-auth/ada/secret")).send().await.unwrap();
    assert_eq!(denied.status().as_u16(), 401);
    assert_eq!(denied.headers()["www-authenticate"], "Basic realm=\"loadgrid\"");
    let wrong = c.get(url(&t, "/basic-auth/ada/secret")).basic_auth("ada", Some("nope")).send().await.unwrap();
    assert_eq!(wrong.status().as_u16(), 401);
    let allowed = c.get(url(&t, "/basic-auth/ada/secret")).basic_auth("ada", Some("secret")).send().await.unwrap();
    assert_eq!(allowed.status().as_u16(), 200);

    let no_follow = reqwest::Client::builder().no_proxy().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let hop = no_follow.get(url(&t, "/redirect/3")).send().await.unwrap();
    assert_eq!((hop.status().as_u16(), hop.headers()["location"].to_str().unwrap()), (302, "/redirect/2"));
    let followed = c.get(url(&t, "/redirect/3")).send().await.unwrap();
    assert_eq!((followed.status().as_u16(), followed.url().path()), (200, "/redirect/0"));
    let to = no_follow.get(url(&t, "/redirect-to?url=/json")).send().await.unwrap();
    assert_eq!(to.headers()["location"], "/json");
    for leaving in ["/redirect-to?url=//evil.example/x", "/redirect-to?url=http://evil.example/", "/redirect/101"] {
        assert_eq!(get(&c, &t, leaving).await.0, 400, "{leaving}");
    }
    let stats = t.stats();
    assert_eq!(stats.paths["/redirect/1"], 1, "each hop is counted: {stats:?}");
    t.shutdown().await;
}
