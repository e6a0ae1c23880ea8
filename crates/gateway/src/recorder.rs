//! Audit events on their way to evident: queued without waiting, sent in
//! batches through the Datadog logs intake (`POST /api/v2/logs`) with an
//! API key, retried until evident acknowledges them (202 means durable).
//! A full queue makes the gateway refuse new calls rather than let them
//! through unrecorded.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use serde_json::Value;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// A batch stays under the intake's 5 MB body limit.
const BATCH_BYTES: usize = 4 << 20;
const BATCH_EVENTS: usize = 1000;

#[derive(Debug, Clone)]
pub struct Recorder {
    sender: mpsc::Sender<Vec<u8>>,
    counters: Arc<Counters>,
}

#[derive(Debug, Default)]
pub struct Counters {
    pub sent: AtomicU64,
    pub dropped: AtomicU64,
    pub failed_posts: AtomicU64,
}

impl Recorder {
    /// Starts the sender task; it ends once every `Recorder` clone is
    /// dropped and the queue is empty.
    pub fn start(
        evident_url: &str,
        api_key: String,
        capacity: usize,
        http: reqwest::Client,
    ) -> (Recorder, JoinHandle<()>) {
        let (sender, receiver) = mpsc::channel(capacity);
        let counters = Arc::new(Counters::default());
        let url = format!("{}/api/v2/logs", evident_url.trim_end_matches('/'));
        let task = tokio::spawn(send_batches(
            receiver,
            url,
            api_key,
            http,
            Arc::clone(&counters),
        ));
        (Recorder { sender, counters }, task)
    }

    /// There is room for another event: calls are refused while there is
    /// not.
    pub fn has_room(&self) -> bool {
        self.sender.capacity() > 0
    }

    pub fn record(&self, event: &Value) {
        let Ok(bytes) = serde_json::to_vec(event) else {
            return;
        };
        if self.sender.try_send(bytes).is_err() {
            self.counters.dropped.fetch_add(1, Ordering::Relaxed);
            tracing::error!("audit event queue full: an event was dropped");
        }
    }

    pub fn counters(&self) -> &Arc<Counters> {
        &self.counters
    }
}

async fn send_batches(
    mut receiver: mpsc::Receiver<Vec<u8>>,
    url: String,
    api_key: String,
    http: reqwest::Client,
    counters: Arc<Counters>,
) {
    while let Some(first) = receiver.recv().await {
        let mut events = vec![first];
        let mut bytes = events[0].len();
        while events.len() < BATCH_EVENTS && bytes < BATCH_BYTES {
            match receiver.try_recv() {
                Ok(event) => {
                    bytes += event.len() + 1;
                    events.push(event);
                }
                Err(_) => break,
            }
        }
        let mut body = Vec::with_capacity(bytes + 2);
        body.push(b'[');
        for (index, event) in events.iter().enumerate() {
            if index > 0 {
                body.push(b',');
            }
            body.extend_from_slice(event);
        }
        body.push(b']');
        let mut delay = Duration::from_millis(100);
        loop {
            match post(&http, &url, &api_key, body.clone()).await {
                Ok(()) => {
                    counters
                        .sent
                        .fetch_add(events.len() as u64, Ordering::Relaxed);
                    break;
                }
                Err(reason) => {
                    counters.failed_posts.fetch_add(1, Ordering::Relaxed);
                    tracing::warn!(%url, events = events.len(), %reason, retry_in_ms = delay.as_millis() as u64, "audit events not accepted yet");
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(Duration::from_secs(5));
                }
            }
        }
    }
}

async fn post(
    http: &reqwest::Client,
    url: &str,
    api_key: &str,
    body: Vec<u8>,
) -> Result<(), String> {
    let response = http
        .post(url)
        .header("DD-API-KEY", api_key)
        .header("Content-Type", "application/json")
        .body(body)
        .send()
        .await
        .map_err(|error| error.to_string())?;
    let status = response.status();
    if status.is_success() {
        Ok(())
    } else {
        let text = response.text().await.unwrap_or_default();
        Err(format!(
            "status {status}: {}",
            text.chars().take(300).collect::<String>()
        ))
    }
}
