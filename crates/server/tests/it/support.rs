//! A real `evident serve` process on a loopback port, with a temporary
//! data directory.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

pub const API_KEY: &str = "test-api-key";
pub const APP_KEY: &str = "test-app-key";

#[derive(Debug)]
pub struct Server {
    child: Child,
    pub base: String,
    /// The PostgreSQL listener, when started with `--pg-listen`.
    pub postgres: Option<String>,
}

impl Server {
    pub fn start(data_dir: &Path) -> Server {
        Server::start_with(data_dir, &[])
    }

    pub fn start_with(data_dir: &Path, extra: &[&str]) -> Server {
        let mut child = Command::new(env!("CARGO_BIN_EXE_evident"))
            .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
            .arg(data_dir)
            .args(extra)
            .env("EVIDENT_API_KEY", API_KEY)
            .env("EVIDENT_APP_KEY", APP_KEY)
            .env("EVIDENT_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start evident serve");
        let stdout = child.stdout.take().expect("piped stdout");
        let mut lines = BufReader::new(stdout).lines();
        let mut postgres = None;
        let base = loop {
            let line = lines
                .next()
                .expect("the server prints its address")
                .expect("read stdout");
            if let Some(rest) = line.strip_prefix("evident postgres listening on ") {
                postgres = rest.split_whitespace().next().map(str::to_string);
            }
            if let Some(rest) = line.strip_prefix("evident listening on ") {
                break rest
                    .split_whitespace()
                    .next()
                    .expect("an address")
                    .to_string();
            }
        };
        // Keep draining stdout so the server never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines {});
        Server {
            child,
            base,
            postgres,
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Resident memory now and at its peak, in bytes (`/proc`).
    pub fn memory(&self) -> (u64, u64) {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid()))
            .expect("the server's /proc status");
        let field = |name: &str| {
            status
                .lines()
                .find_map(|line| line.strip_prefix(name))
                .and_then(|rest| rest.split_whitespace().next())
                .and_then(|kib| kib.parse::<u64>().ok())
                .map_or(0, |kib| kib * 1024)
        };
        (field("VmRSS:"), field("VmHWM:"))
    }

    /// The `host:port` the server listens on.
    pub fn address(&self) -> &str {
        self.base.trim_start_matches("http://")
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// SIGKILL: no shutdown, no final checkpoint.
    pub fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGTERM and wait: the graceful path.
    pub fn stop(mut self) {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status();
        let _ = self.child.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn client() -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .expect("http client")
}

pub fn submit(server: &Server, body: &str) -> reqwest::blocking::Response {
    client()
        .post(server.url("/api/v2/logs"))
        .header("DD-API-KEY", API_KEY)
        .header("Content-Type", "application/json")
        .body(body.to_string())
        .send()
        .expect("request")
}

/// A JSON POST with both keys: the status and the JSON answer.
pub fn post_with_keys(
    server: &Server,
    path: &str,
    body: serde_json::Value,
) -> (u16, serde_json::Value) {
    let response = client()
        .post(server.url(path))
        .header("DD-API-KEY", API_KEY)
        .header("DD-APPLICATION-KEY", APP_KEY)
        .json(&body)
        .send()
        .expect("request");
    let status = response.status().as_u16();
    (status, response.json().expect("json body"))
}

pub fn search(server: &Server, flavor: &str, body: serde_json::Value) -> (u16, serde_json::Value) {
    post_with_keys(server, &format!("/api/v2/{flavor}/events/search"), body)
}

/// How many events match `query` in the last hour, following every page.
pub fn total(server: &Server, query: &str) -> usize {
    let mut count = 0;
    let mut cursor: Option<String> = None;
    loop {
        let mut body = serde_json::json!({"filter": {"query": query, "from": "now-1h", "to": "now+1m"}, "page": {"limit": 1000}});
        if let Some(cursor) = &cursor {
            body["page"]["cursor"] = serde_json::json!(cursor);
        }
        let (status, page) = search(server, "logs", body);
        assert_eq!(status, 200, "{page}");
        count += page["data"].as_array().map_or(0, Vec::len);
        match page["meta"]["page"]["after"].as_str() {
            Some(after) => cursor = Some(after.to_string()),
            None => return count,
        }
    }
}

/// `evident verify --data-dir <data_dir>`.
pub fn run_verify(data_dir: &Path) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_evident"))
        .args(["verify", "--data-dir"])
        .arg(data_dir)
        .output()
        .expect("verify runs")
}

/// `shared/` beside the checkout, or `EVIDENT_SHARED_DIR`.
pub fn shared_dir() -> std::path::PathBuf {
    if let Some(dir) = std::env::var_os("EVIDENT_SHARED_DIR") {
        return std::path::PathBuf::from(dir);
    }
    std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared")
}

/// The rows of a SQL statement run over HTTP.
pub fn sql_rows(server: &Server, statement: &str) -> Vec<serde_json::Value> {
    let response = client()
        .post(server.url("/api/v1/sql"))
        .header("DD-API-KEY", API_KEY)
        .header("DD-APPLICATION-KEY", APP_KEY)
        .json(&serde_json::json!({"query": statement}))
        .send()
        .expect("request");
    assert_eq!(response.status().as_u16(), 200);
    let answer: serde_json::Value = response.json().expect("json");
    answer["rows"].as_array().cloned().unwrap_or_default()
}

/// A web UI session signed in with an application key: its cookie (the
/// `name=value` part) and its CSRF token.
pub fn sign_in_with_key(server: &Server, key: &str) -> (String, String) {
    let response = client()
        .post(server.url("/api/v1/ui/session"))
        .json(&serde_json::json!({"application_key": key}))
        .send()
        .expect("sign in");
    assert_eq!(response.status().as_u16(), 200);
    let cookie = response
        .headers()
        .get("set-cookie")
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.split(';').next())
        .expect("a session cookie")
        .to_owned();
    let session: serde_json::Value = response.json().expect("the session");
    let csrf = session["csrf_token"]
        .as_str()
        .expect("a CSRF token")
        .to_owned();
    (cookie, csrf)
}
