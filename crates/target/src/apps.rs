//! Endpoints that behave like a small real application, so that realistic
//! k6 scripts (JSON APIs, forms, logins, cookies, redirects) run against
//! the built-in target: the ones k6's own examples and workshops use, in
//! the spirit of httpbin.
//!
//! | request | response |
//! | --- | --- |
//! | `/json` | `200`, a JSON document: a token, a user and a list of items |
//! | `/echo` (any method) | `200`, JSON of the request: method, path, query, headers, body, and the body parsed as JSON or a form |
//! | `/cookies` | `200`, JSON of the cookies the request sent |
//! | `/cookies/set?name=value&…` | `200`, sets each as a cookie (`Path=/`) and returns JSON of them |
//! | `/basic-auth/<user>/<password>` | `200` with JSON when the request's Basic credentials match, else `401` with a `WWW-Authenticate` challenge |
//! | `/redirect/<n>` | `302` to `/redirect/<n-1>`; `/redirect/0` is `200` (n ≤ 100) |
//! | `/redirect-to?url=<path>` | `302` to that path of this server (only a path: never another host) |
//!
//! Each answers at once; the knobs (`delay`, `status`, …) are for the
//! other paths.

use std::collections::BTreeMap;

use base64::Engine;
use bytes::Bytes;
use hyper::header::{HeaderValue, AUTHORIZATION, CONTENT_TYPE, COOKIE, LOCATION, SET_COOKIE, WWW_AUTHENTICATE};
use hyper::{HeaderMap, Method, StatusCode};
use serde_json::{json, Value};

use crate::body::TargetBody;
use crate::{response, Resp, JSON, OK_BODY, TEXT_PLAIN};

/// The largest request body `/echo` reads back.
pub const MAX_ECHO_BODY: usize = 1 << 20;
/// The longest redirect chain `/redirect/<n>` makes.
pub const MAX_REDIRECTS: u32 = 100;

/// What an application endpoint needs from the request.
pub(crate) enum App {
    /// Answered from the request line and headers alone.
    Ready(Resp),
    /// `/echo`: answered once the body is in.
    Echo(EchoRequest),
}

/// The parts of a request `/echo` sends back.
pub(crate) struct EchoRequest {
    method: Method,
    path: String,
    query: Option<String>,
    headers: HeaderMap,
}

/// The application endpoint for `path`, if it is one.
pub(crate) fn route(method: &Method, path: &str, query: Option<&str>, headers: &HeaderMap) -> Option<App> {
    let ready = |resp| Some(App::Ready(resp));
    match path {
        "/json" => ready(json_response(StatusCode::OK, &document())),
        "/echo" => Some(App::Echo(EchoRequest {
            method: method.clone(),
            path: path.to_owned(),
            query: query.map(str::to_owned),
            headers: headers.clone(),
        })),
        "/cookies" => ready(json_response(StatusCode::OK, &json!({ "cookies": cookies(headers) }))),
        "/cookies/set" => ready(set_cookies(query)),
        "/redirect-to" => ready(redirect_to(query)),
        _ => {
            if let Some(credentials) = path.strip_prefix("/basic-auth/") {
                return ready(basic_auth(credentials, headers));
            }
            if let Some(hops) = path.strip_prefix("/redirect/") {
                return ready(redirect(hops));
            }
            None
        }
    }
}

fn document() -> Value {
    json!({
        "token": "loadgrid-demo-token",
        "user": { "id": 42, "name": "Ada", "roles": ["admin", "tester"] },
        "items": [
            { "id": 1, "name": "pizza margherita", "price": 9.5 },
            { "id": 2, "name": "pizza diavola", "price": 11.0 },
            { "id": 3, "name": "tiramisu", "price": 6.25 },
        ],
    })
}

impl EchoRequest {
    /// The JSON answer, with `body` the request's body (at most
    /// [`MAX_ECHO_BODY`] bytes; longer is a `413`).
    pub(crate) fn answer(self, body: Option<Bytes>) -> Resp {
        let Some(body) = body else {
            let message = format!("the body is over {MAX_ECHO_BODY} bytes: /echo reads back at most that\n");
            return response(StatusCode::PAYLOAD_TOO_LARGE, TargetBody::once(Bytes::from(message)), TEXT_PLAIN);
        };
        let text = String::from_utf8_lossy(&body).into_owned();
        let content_type = self.headers.get(CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or_default();
        let parsed = if content_type.starts_with("application/json") {
            serde_json::from_slice(&body).unwrap_or(Value::Null)
        } else if content_type.starts_with("application/x-www-form-urlencoded") {
            Value::Object(form_urlencoded::parse(&body).map(|(k, v)| (k.into_owned(), json!(v))).collect())
        } else {
            Value::Null
        };
        let mut headers: BTreeMap<String, String> = BTreeMap::new();
        for (name, value) in &self.headers {
            let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
            headers.entry(name.as_str().to_owned()).and_modify(|v| *v = format!("{v}, {value}")).or_insert(value);
        }
        let query: BTreeMap<String, String> = self
            .query
            .as_deref()
            .map(|q| form_urlencoded::parse(q.as_bytes()).into_owned().collect())
            .unwrap_or_default();
        json_response(
            StatusCode::OK,
            &json!({
                "method": self.method.as_str(),
                "path": self.path,
                "query": query,
                "headers": headers,
                "body": text,
                "json": if content_type.starts_with("application/json") { parsed.clone() } else { Value::Null },
                "form": if content_type.starts_with("application/x-www-form-urlencoded") { parsed } else { Value::Null },
            }),
        )
    }
}

fn cookies(headers: &HeaderMap) -> BTreeMap<String, String> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .map(|(name, value)| (name.to_owned(), value.to_owned()))
        .collect()
}

fn set_cookies(query: Option<&str>) -> Resp {
    let pairs: Vec<(String, String)> = query
        .map(|q| {
            form_urlencoded::parse(q.as_bytes()).into_owned().filter(|(name, _)| valid_cookie_name(name)).collect()
        })
        .unwrap_or_default();
    let set: BTreeMap<&str, &str> = pairs.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
    let mut resp = json_response(StatusCode::OK, &json!({ "cookies": set }));
    for (name, value) in &pairs {
        let value: String = value.chars().filter(|c| c.is_ascii_graphic() && !matches!(c, ';' | ',' | '"')).collect();
        if let Ok(header) = HeaderValue::from_str(&format!("{name}={value}; Path=/")) {
            resp.headers_mut().append(SET_COOKIE, header);
        }
    }
    resp
}

/// RFC 6265's token: visible ASCII but separators.
fn valid_cookie_name(name: &str) -> bool {
    !name.is_empty() && name.bytes().all(|b| b.is_ascii_graphic() && !b"()<>@,;:\\\"/[]?={}".contains(&b))
}

fn basic_auth(credentials: &str, headers: &HeaderMap) -> Resp {
    let expected = credentials.split_once('/').map(|(user, password)| (user.to_owned(), password.to_owned()));
    let given = headers
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
        .and_then(|encoded| base64::engine::general_purpose::STANDARD.decode(encoded.trim()).ok())
        .and_then(|decoded| String::from_utf8(decoded).ok())
        .and_then(|decoded| decoded.split_once(':').map(|(u, p)| (u.to_owned(), p.to_owned())));
    match (expected, given) {
        (Some(expected), Some(given)) if expected == given => {
            json_response(StatusCode::OK, &json!({ "authenticated": true, "user": given.0 }))
        }
        _ => {
            let mut resp = json_response(StatusCode::UNAUTHORIZED, &json!({ "authenticated": false }));
            resp.headers_mut().insert(WWW_AUTHENTICATE, HeaderValue::from_static("Basic realm=\"loadgrid\""));
            resp
        }
    }
}

fn redirect(hops: &str) -> Resp {
    match hops.parse::<u32>() {
        Ok(0) => response(StatusCode::OK, TargetBody::from_static(OK_BODY), TEXT_PLAIN),
        Ok(n) if n <= MAX_REDIRECTS => found(&format!("/redirect/{}", n - 1)),
        _ => bad_request(format!("`/redirect/<n>` takes a number of hops from 0 to {MAX_REDIRECTS}\n")),
    }
}

fn redirect_to(query: Option<&str>) -> Resp {
    let url = query.and_then(|q| form_urlencoded::parse(q.as_bytes()).find(|(k, _)| k == "url").map(|(_, v)| v));
    match url {
        // A path of this server only: `//host` would leave it.
        Some(url) if url.starts_with('/') && !url.starts_with("//") => found(&url),
        _ => bad_request("`/redirect-to` takes `url=<path>` of this server, starting with `/`\n".to_owned()),
    }
}

fn found(location: &str) -> Resp {
    let mut resp = response(StatusCode::FOUND, TargetBody::empty(), TEXT_PLAIN);
    if let Ok(location) = HeaderValue::from_str(location) {
        resp.headers_mut().insert(LOCATION, location);
    }
    resp
}

fn bad_request(message: String) -> Resp {
    response(StatusCode::BAD_REQUEST, TargetBody::once(Bytes::from(message)), TEXT_PLAIN)
}

fn json_response(status: StatusCode, value: &Value) -> Resp {
    let mut bytes = serde_json::to_vec(value).unwrap_or_default();
    bytes.push(b'\n');
    response(status, TargetBody::once(Bytes::from(bytes)), JSON)
}
