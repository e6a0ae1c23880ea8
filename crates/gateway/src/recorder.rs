//! Audit events on their way to evident, sent in batches through the
//! Datadog logs intake (`POST /api/v2/logs`) with an API key (202 means
//! durable there).
//!
//! A call reserves its event's place in the queue when it arrives
//! ([`Recorder::reserve`]) and fills it when it is done
//! ([`Reservation::record`]), so a call is forwarded only when its event
//! has a place: a full queue refuses calls (503) instead of forwarding
//! them unrecorded.
//!
//! With a spool directory ([`crate::spool`]) the queue drains to disk
//! (each batch synced before its places are freed) and the disk is sent
//! from, so events outlive a gateway killed while evident is unreachable;
//! the spool's size bounds what waits, and a full spool stops the queue.
//! Without one, events wait in memory.
//!
//! Answers that will not change by retrying (4xx other than 408 and 429:
//! a revoked key, a batch too large) are failures: counted, logged, and
//! the batch set aside (in the spool's `rejected/` folder) or dropped, so
//! that one bad batch never wedges the queue. Anything else is retried
//! with backoff.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use serde_json::Value;
use tokio::sync::{Notify, mpsc};
use tokio::task::JoinHandle;

use crate::spool::Spool;

/// A batch stays under the intake's 5 MB body limit.
pub(crate) const BATCH_BYTES: usize = 4 << 20;
pub(crate) const BATCH_EVENTS: usize = 1000;

#[derive(Debug, Clone)]
pub struct Recorder {
    sender: mpsc::Sender<Vec<u8>>,
    counters: Arc<Counters>,
}

#[derive(Debug, Default)]
pub struct Counters {
    /// Events evident acknowledged.
    pub sent: AtomicU64,
    /// Events lost: one that could not be serialized, or refused for good
    /// without a spool to set it aside in.
    pub dropped: AtomicU64,
    /// Posts that failed and were retried.
    pub failed_posts: AtomicU64,
    /// Events evident refused for good (4xx), set aside or dropped.
    pub rejected: AtomicU64,
    /// Events written to the spool.
    pub spooled: AtomicU64,
}

/// What happens to the gateway's audit events, logged and counted in one
/// call ([`Counters::emit`]), so a log line and a counter never disagree.
#[derive(Debug)]
pub enum RecorderEvent<'a> {
    /// evident acknowledged `events`.
    Sent { events: usize },
    /// A post failed and will be retried.
    PostFailed {
        url: &'a str,
        events: usize,
        reason: &'a str,
        retry_in: Duration,
    },
    /// evident refused `events` for good; `kept` says whether the spool's
    /// rejected folder keeps them (otherwise they are lost).
    Rejected {
        url: &'a str,
        events: usize,
        reason: &'a str,
        kept: bool,
    },
    /// `events` written to the spool.
    Spooled { events: usize },
    /// `events` lost before reaching evident or the spool.
    Dropped { events: usize, reason: &'a str },
}

impl Counters {
    /// Logs `event` and counts it.
    pub fn emit(&self, event: RecorderEvent<'_>) {
        let add = |counter: &AtomicU64, value: usize| {
            counter.fetch_add(value as u64, Ordering::Relaxed);
        };
        match event {
            RecorderEvent::Sent { events } => {
                tracing::debug!(events, "audit events acknowledged");
                add(&self.sent, events);
            }
            RecorderEvent::PostFailed {
                url,
                events,
                reason,
                retry_in,
            } => {
                tracing::warn!(
                    url,
                    events,
                    reason,
                    retry_in_ms = retry_in.as_millis() as u64,
                    "audit events not accepted yet"
                );
                add(&self.failed_posts, 1);
            }
            RecorderEvent::Rejected {
                url,
                events,
                reason,
                kept,
            } => {
                add(&self.rejected, events);
                if kept {
                    tracing::error!(
                        url,
                        events,
                        reason,
                        "evident refused a batch of audit events for good; set aside in the spool's rejected folder"
                    );
                } else {
                    add(&self.dropped, events);
                    tracing::error!(
                        url,
                        events,
                        reason,
                        "evident refused a batch of audit events for good; dropped (configure spool_dir to keep such batches)"
                    );
                }
            }
            RecorderEvent::Spooled { events } => {
                tracing::debug!(events, "audit events spooled");
                add(&self.spooled, events);
            }
            RecorderEvent::Dropped { events, reason } => {
                tracing::error!(events, reason, "audit events lost");
                add(&self.dropped, events);
            }
        }
    }
}

/// A place in the queue, held by one call from its arrival to its end.
#[derive(Debug)]
pub struct Reservation {
    permit: mpsc::OwnedPermit<Vec<u8>>,
    counters: Arc<Counters>,
}

impl Reservation {
    /// Fills the place with the call's event. Never waits.
    pub fn record(self, event: &Value) {
        match serde_json::to_vec(event) {
            Ok(bytes) => {
                self.permit.send(bytes);
            }
            Err(error) => self.counters.emit(RecorderEvent::Dropped {
                events: 1,
                reason: &format!("the event could not be serialized: {error}"),
            }),
        }
    }
}

/// Where evident's intake is and how to post to it.
#[derive(Debug, Clone)]
struct Intake {
    url: String,
    api_key: String,
    http: reqwest::Client,
}

/// Why a post did not succeed.
enum PostError {
    /// Worth retrying: no connection, 5xx, 408, 429.
    Transient(String),
    /// Retrying will not help: evident refused this batch (4xx).
    Permanent(String),
}

impl Recorder {
    /// Starts the sender (and, with a spool, the spool writer); the task
    /// returned ends once every `Recorder` clone is dropped and what is in
    /// memory was sent (or spooled).
    pub fn start(
        evident_url: &str,
        api_key: String,
        capacity: usize,
        http: reqwest::Client,
        spool: Option<Spool>,
    ) -> (Recorder, JoinHandle<()>) {
        let (sender, receiver) = mpsc::channel(capacity);
        let counters = Arc::new(Counters::default());
        let intake = Intake {
            url: format!("{}/api/v2/logs", evident_url.trim_end_matches('/')),
            api_key,
            http,
        };
        let task = match spool {
            None => tokio::spawn(send_from_memory(receiver, intake, Arc::clone(&counters))),
            Some(spool) => tokio::spawn(send_through_spool(
                receiver,
                intake,
                Arc::new(spool),
                Arc::clone(&counters),
            )),
        };
        (Recorder { sender, counters }, task)
    }

    /// A place for one call's event, or `None` while the queue is full.
    pub fn reserve(&self) -> Option<Reservation> {
        self.sender
            .clone()
            .try_reserve_owned()
            .ok()
            .map(|permit| Reservation {
                permit,
                counters: Arc::clone(&self.counters),
            })
    }

    pub fn counters(&self) -> &Arc<Counters> {
        &self.counters
    }
}

/// Takes what is waiting (after the first, without waiting) up to a batch.
fn take_batch(first: Vec<u8>, receiver: &mut mpsc::Receiver<Vec<u8>>) -> Vec<Vec<u8>> {
    let mut bytes = first.len();
    let mut events = vec![first];
    while events.len() < BATCH_EVENTS && bytes < BATCH_BYTES {
        match receiver.try_recv() {
            Ok(event) => {
                bytes += event.len() + 1;
                events.push(event);
            }
            Err(_) => break,
        }
    }
    events
}

/// The events as one JSON array.
pub(crate) fn json_array<'a>(events: impl Iterator<Item = &'a [u8]>) -> Vec<u8> {
    let mut body = vec![b'['];
    for (index, event) in events.enumerate() {
        if index > 0 {
            body.push(b',');
        }
        body.extend_from_slice(event);
    }
    body.push(b']');
    body
}

async fn send_from_memory(
    mut receiver: mpsc::Receiver<Vec<u8>>,
    intake: Intake,
    counters: Arc<Counters>,
) {
    while let Some(first) = receiver.recv().await {
        let events = take_batch(first, &mut receiver);
        let body = json_array(events.iter().map(Vec::as_slice));
        match post_until_done(&intake, &body, events.len(), &counters).await {
            Ok(()) => {}
            Err(reason) => counters.emit(RecorderEvent::Rejected {
                url: intake.url.as_str(),
                events: events.len(),
                reason: &reason,
                kept: false,
            }),
        }
    }
}

/// Posts until evident acknowledges (`Ok`) or refuses for good (`Err`).
async fn post_until_done(
    intake: &Intake,
    body: &[u8],
    events: usize,
    counters: &Counters,
) -> Result<(), String> {
    let mut delay = Duration::from_millis(100);
    loop {
        match post(intake, body.to_vec()).await {
            Ok(()) => {
                counters.emit(RecorderEvent::Sent { events });
                return Ok(());
            }
            Err(PostError::Permanent(reason)) => return Err(reason),
            Err(PostError::Transient(reason)) => {
                counters.emit(RecorderEvent::PostFailed {
                    url: intake.url.as_str(),
                    events,
                    reason: &reason,
                    retry_in: delay,
                });
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(5));
            }
        }
    }
}

async fn send_through_spool(
    mut receiver: mpsc::Receiver<Vec<u8>>,
    intake: Intake,
    spool: Arc<Spool>,
    counters: Arc<Counters>,
) {
    let written = Arc::new(Notify::new());
    let writer_done = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let poster = tokio::spawn(post_spooled(
        intake,
        Arc::clone(&spool),
        Arc::clone(&written),
        Arc::clone(&writer_done),
        Arc::clone(&counters),
    ));
    while let Some(first) = receiver.recv().await {
        let events = take_batch(first, &mut receiver);
        // A full spool holds the queue: new calls are refused meanwhile.
        while spool.is_full() {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let count = events.len();
        let spool_for_write = Arc::clone(&spool);
        let result = tokio::task::spawn_blocking(move || spool_for_write.append(&events)).await;
        match result {
            Ok(Ok(())) => {
                counters.emit(RecorderEvent::Spooled { events: count });
                written.notify_one();
            }
            Ok(Err(error)) => counters.emit(RecorderEvent::Dropped {
                events: count,
                reason: &format!("writing them to the spool failed: {error}"),
            }),
            Err(error) => counters.emit(RecorderEvent::Dropped {
                events: count,
                reason: &format!("the spool writer failed: {error}"),
            }),
        }
    }
    writer_done.store(true, Ordering::Release);
    written.notify_one();
    let _ = poster.await;
}

/// Sends the spool's batches, oldest first; ends when the writer is done
/// and the spool is empty (what is left is sent at the next start).
async fn post_spooled(
    intake: Intake,
    spool: Arc<Spool>,
    written: Arc<Notify>,
    writer_done: Arc<std::sync::atomic::AtomicBool>,
    counters: Arc<Counters>,
) {
    loop {
        let reading = Arc::clone(&spool);
        let batch =
            match tokio::task::spawn_blocking(move || reading.oldest(BATCH_BYTES, BATCH_EVENTS))
                .await
            {
                Ok(Ok(batch)) => batch,
                Ok(Err(error)) => {
                    tracing::error!(%error, "the spool could not be read");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    continue;
                }
                Err(_) => return,
            };
        let Some(batch) = batch else {
            if writer_done.load(Ordering::Acquire) {
                return;
            }
            written.notified().await;
            continue;
        };
        let body = json_array(batch.events.iter().map(Vec::as_slice));
        let events = batch.events.len();
        let outcome = post_until_done(&intake, &body, events, &counters).await;
        if let Err(reason) = &outcome {
            counters.emit(RecorderEvent::Rejected {
                url: intake.url.as_str(),
                events,
                reason,
                kept: true,
            });
        }
        let spool = Arc::clone(&spool);
        let files = batch.files;
        let done = tokio::task::spawn_blocking(move || match outcome {
            Ok(()) => spool.remove(&files),
            Err(_) => spool.set_aside(&files),
        })
        .await;
        if let Ok(Err(error)) = done {
            tracing::error!(%error, "the spool could not be updated");
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    }
}

async fn post(intake: &Intake, body: Vec<u8>) -> Result<(), PostError> {
    let response = intake
        .http
        .post(&intake.url)
        .header("DD-API-KEY", &intake.api_key)
        .header("Content-Type", "application/json")
        .body(body)
        .send()
        .await
        .map_err(|error| PostError::Transient(error.to_string()))?;
    let status = response.status();
    if status.is_success() {
        return Ok(());
    }
    let text = response.text().await.unwrap_or_default();
    let reason = format!(
        "status {status}: {}",
        text.chars().take(300).collect::<String>()
    );
    let retry = status.is_server_error()
        || status == reqwest::StatusCode::REQUEST_TIMEOUT
        || status == reqwest::StatusCode::TOO_MANY_REQUESTS;
    Err(if retry {
        PostError::Transient(reason)
    } else {
        PostError::Permanent(reason)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    /// A stand-in intake on loopback: answers each post with the next
    /// status of `statuses` (then 202), and counts the events it took.
    async fn intake(statuses: Vec<u16>) -> (String, Arc<AtomicU64>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("address"));
        let accepted = Arc::new(AtomicU64::new(0));
        let counted = Arc::clone(&accepted);
        tokio::spawn(async move {
            let mut statuses = statuses.into_iter();
            loop {
                let Ok((mut stream, _)) = listener.accept().await else {
                    return;
                };
                let mut request = Vec::new();
                let mut buffer = [0u8; 8192];
                // Read headers, then the body its length announces.
                let (head_end, length) = loop {
                    let Ok(read) = stream.read(&mut buffer).await else {
                        return;
                    };
                    request.extend_from_slice(&buffer[..read]);
                    if let Some(end) = request.windows(4).position(|window| window == b"\r\n\r\n") {
                        let head = String::from_utf8_lossy(&request[..end]).to_ascii_lowercase();
                        let length = head
                            .lines()
                            .find_map(|line| line.strip_prefix("content-length:"))
                            .and_then(|value| value.trim().parse::<usize>().ok())
                            .unwrap_or(0);
                        break (end + 4, length);
                    }
                };
                while request.len() < head_end + length {
                    let Ok(read) = stream.read(&mut buffer).await else {
                        return;
                    };
                    request.extend_from_slice(&buffer[..read]);
                }
                let status = statuses.next().unwrap_or(202);
                if status == 202 {
                    let body: Vec<Value> =
                        serde_json::from_slice(&request[head_end..]).unwrap_or_default();
                    counted.fetch_add(body.len() as u64, Ordering::Relaxed);
                }
                let answer = format!(
                    "HTTP/1.1 {status} X\r\ncontent-length: 2\r\nconnection: close\r\n\r\n{{}}"
                );
                let _ = stream.write_all(answer.as_bytes()).await;
            }
        });
        (url, accepted)
    }

    #[tokio::test]
    async fn a_refused_batch_does_not_wedge_the_queue() {
        let (url, accepted) = intake(vec![403, 503]).await;
        let (recorder, task) = Recorder::start(&url, "k".into(), 10, reqwest::Client::new(), None);
        let first = recorder.reserve().expect("a place");
        first.record(&serde_json::json!({"n": 1}));
        // Let the first batch meet the 403 before the next arrives.
        tokio::time::sleep(Duration::from_millis(300)).await;
        for n in 2..=4 {
            recorder
                .reserve()
                .expect("a place")
                .record(&serde_json::json!({ "n": n }));
        }
        let counters = Arc::clone(recorder.counters());
        drop(recorder);
        tokio::time::timeout(Duration::from_secs(10), task)
            .await
            .expect("the queue drains")
            .expect("the task ends");
        assert_eq!(counters.rejected.load(Ordering::Relaxed), 1);
        assert_eq!(counters.sent.load(Ordering::Relaxed), 3);
        assert_eq!(accepted.load(Ordering::Relaxed), 3);
        assert!(
            counters.failed_posts.load(Ordering::Relaxed) >= 1,
            "the 503 was retried"
        );
    }

    #[tokio::test]
    async fn places_are_held_from_arrival() {
        let (url, _) = intake(Vec::new()).await;
        let (recorder, _task) = Recorder::start(&url, "k".into(), 2, reqwest::Client::new(), None);
        let one = recorder.reserve().expect("a place");
        let two = recorder.reserve().expect("a place");
        assert!(
            recorder.reserve().is_none(),
            "two calls in flight fill a queue of two"
        );
        drop(one);
        let three = recorder
            .reserve()
            .expect("a call that ends frees its place");
        two.record(&serde_json::json!({}));
        three.record(&serde_json::json!({}));
    }

    #[tokio::test]
    async fn a_spool_keeps_what_a_refusing_intake_will_not_take() {
        let dir = tempfile::tempdir().expect("temp dir");
        let (url, accepted) = intake(vec![413]).await;
        let spool = Spool::open(dir.path(), 1 << 20).expect("spool");
        let (recorder, task) =
            Recorder::start(&url, "k".into(), 10, reqwest::Client::new(), Some(spool));
        recorder
            .reserve()
            .expect("a place")
            .record(&serde_json::json!({"n": 1}));
        tokio::time::sleep(Duration::from_millis(500)).await;
        recorder
            .reserve()
            .expect("a place")
            .record(&serde_json::json!({"n": 2}));
        let counters = Arc::clone(recorder.counters());
        drop(recorder);
        tokio::time::timeout(Duration::from_secs(10), task)
            .await
            .expect("the spool drains")
            .expect("the task ends");
        assert_eq!(counters.spooled.load(Ordering::Relaxed), 2);
        assert_eq!(counters.rejected.load(Ordering::Relaxed), 1);
        assert_eq!(accepted.load(Ordering::Relaxed), 1);
        let rejected: Vec<_> = std::fs::read_dir(dir.path().join("rejected"))
            .expect("rejected folder")
            .collect();
        assert_eq!(rejected.len(), 1);
    }
}
