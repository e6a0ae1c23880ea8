//! Bodies passed through as they stream: a copy of the first bytes is kept
//! for the audit event (up to the capture limit, the rest only counted),
//! and the response has the injected credentials masked before the caller
//! sees a byte of them.

use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use bytes::{Bytes, BytesMut};
use http_body::{Body, Frame, SizeHint};

use crate::secrets::SecretSet;

/// The first bytes of a body and how it ended.
#[derive(Debug, Default, Clone)]
pub struct Capture {
    pub bytes: Vec<u8>,
    /// Every byte that passed, captured or not.
    pub total: u64,
    /// The body reached its end (not cut off by an error or the caller).
    pub ended: bool,
    pub error: Option<String>,
    limit: usize,
}

impl Capture {
    pub fn new(limit: usize) -> Capture {
        Capture {
            limit,
            ..Capture::default()
        }
    }

    pub fn truncated(&self) -> bool {
        self.total > self.bytes.len() as u64
    }

    fn push(&mut self, data: &[u8]) {
        self.total += data.len() as u64;
        let room = self.limit.saturating_sub(self.bytes.len());
        self.bytes.extend_from_slice(&data[..room.min(data.len())]);
    }
}

pub type SharedCapture = Arc<Mutex<Capture>>;

fn lock(capture: &SharedCapture) -> std::sync::MutexGuard<'_, Capture> {
    capture
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// A request body on its way upstream, copied into a capture.
#[derive(Debug)]
pub struct RequestBody<B> {
    inner: B,
    capture: SharedCapture,
}

impl<B> RequestBody<B> {
    pub fn new(inner: B, capture: SharedCapture) -> RequestBody<B> {
        RequestBody { inner, capture }
    }
}

impl<B> Body for RequestBody<B>
where
    B: Body<Data = Bytes> + Unpin,
    B::Error: std::fmt::Display,
{
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        context: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, B::Error>>> {
        let polled = Pin::new(&mut self.inner).poll_frame(context);
        match &polled {
            Poll::Ready(Some(Ok(frame))) => {
                let mut capture = lock(&self.capture);
                if let Some(data) = frame.data_ref() {
                    capture.push(data);
                }
                // A sender stops polling once the length it announced has
                // passed: this is the end it will see.
                capture.ended |= self.inner.is_end_stream();
            }
            Poll::Ready(Some(Err(error))) => lock(&self.capture).error = Some(error.to_string()),
            Poll::Ready(None) => lock(&self.capture).ended = true,
            Poll::Pending => {}
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// Masks secrets in a stream, each byte replaced by `*` so lengths (and a
/// `Content-Length`) stay true. The last `longest - 1` bytes are held back
/// until the next chunk shows whether a secret continues into it.
#[derive(Debug, Clone)]
pub struct Masker {
    secrets: Arc<SecretSet>,
    held: BytesMut,
    keep: usize,
}

impl Masker {
    pub fn new(secrets: Arc<SecretSet>) -> Masker {
        let keep = secrets.longest().saturating_sub(1);
        Masker {
            secrets,
            held: BytesMut::new(),
            keep,
        }
    }

    /// The bytes that can go on now.
    pub fn feed(&mut self, data: Bytes) -> Bytes {
        if self.secrets.is_empty() {
            return data;
        }
        self.held.extend_from_slice(&data);
        self.secrets.mask(&mut self.held);
        let ready = self.held.len().saturating_sub(self.keep);
        self.held.split_to(ready).freeze()
    }

    /// What was held back, at the end of the stream.
    pub fn finish(&mut self) -> Bytes {
        std::mem::take(&mut self.held).freeze()
    }
}

/// Called once when the response body is done, with its capture: at its
/// end, on an error, or when the caller went away.
pub type OnDone = Box<dyn FnOnce(Capture) + Send + Sync>;

/// A response body on its way to the caller: masked, captured, and
/// reported when done.
pub struct ResponseBody<B> {
    inner: B,
    masker: Masker,
    capture: Capture,
    /// A trailers frame waiting while the held-back bytes go out first.
    waiting: Option<Frame<Bytes>>,
    finished: bool,
    on_done: Option<OnDone>,
}

impl<B> std::fmt::Debug for ResponseBody<B> {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("ResponseBody")
            .field("capture", &self.capture)
            .finish_non_exhaustive()
    }
}

impl<B> ResponseBody<B> {
    pub fn new(inner: B, masker: Masker, limit: usize, on_done: OnDone) -> ResponseBody<B> {
        ResponseBody {
            inner,
            masker,
            capture: Capture::new(limit),
            waiting: None,
            finished: false,
            on_done: Some(on_done),
        }
    }

    fn done(&mut self) {
        if let Some(on_done) = self.on_done.take() {
            on_done(std::mem::take(&mut self.capture));
        }
    }

    fn data(&mut self, data: Bytes) -> Frame<Bytes> {
        self.capture.push(&data);
        Frame::data(data)
    }
}

impl<B> Drop for ResponseBody<B> {
    fn drop(&mut self) {
        if self.on_done.is_some() && !self.capture.ended && self.capture.error.is_none() {
            self.capture.error = Some("the caller closed the connection".to_owned());
        }
        self.done();
    }
}

impl<B> Body for ResponseBody<B>
where
    B: Body<Data = Bytes> + Unpin,
    B::Error: std::fmt::Display,
{
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        context: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, B::Error>>> {
        let this = &mut *self;
        if let Some(frame) = this.waiting.take() {
            return Poll::Ready(Some(Ok(frame)));
        }
        if this.finished {
            this.capture.ended = true;
            this.done();
            return Poll::Ready(None);
        }
        loop {
            match Pin::new(&mut this.inner).poll_frame(context) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Some(Ok(frame))) => match frame.into_data() {
                    Ok(data) => {
                        let mut ready = this.masker.feed(data);
                        if this.inner.is_end_stream() {
                            // The announced length has passed: the
                            // receiver may not poll again, so this is the
                            // last frame.
                            let held = this.masker.finish();
                            if !held.is_empty() {
                                let mut joined = BytesMut::from(&ready[..]);
                                joined.extend_from_slice(&held);
                                ready = joined.freeze();
                            }
                            this.finished = true;
                            this.capture.ended = true;
                        } else if ready.is_empty() {
                            continue; // all held back; read on
                        }
                        return Poll::Ready(Some(Ok(this.data(ready))));
                    }
                    Err(other) => {
                        let held = this.masker.finish();
                        if held.is_empty() {
                            return Poll::Ready(Some(Ok(other)));
                        }
                        this.waiting = Some(other);
                        return Poll::Ready(Some(Ok(this.data(held))));
                    }
                },
                Poll::Ready(Some(Err(error))) => {
                    this.capture.error = Some(format!("upstream body: {error}"));
                    this.done();
                    return Poll::Ready(Some(Err(error)));
                }
                Poll::Ready(None) => {
                    this.finished = true;
                    let held = this.masker.finish();
                    if held.is_empty() {
                        this.capture.ended = true;
                        this.done();
                        return Poll::Ready(None);
                    }
                    return Poll::Ready(Some(Ok(this.data(held))));
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.finished && self.waiting.is_none()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;

    fn secrets() -> Arc<SecretSet> {
        Arc::new(SecretSet::new([
            b"s3cret-value".to_vec(),
            b"other".to_vec(),
        ]))
    }

    #[test]
    fn secrets_split_across_chunks_are_masked() {
        let text = b"a s3cret-value and s3cret-value; other.";
        for split in 1..text.len() {
            let mut masker = Masker::new(secrets());
            let mut output = Vec::new();
            for chunk in text.chunks(split) {
                output.extend_from_slice(&masker.feed(Bytes::copy_from_slice(chunk)));
            }
            output.extend_from_slice(&masker.finish());
            assert_eq!(
                output, b"a ************ and ************; *****.",
                "chunks of {split}"
            );
        }
    }

    #[tokio::test]
    async fn response_bodies_are_masked_captured_and_reported() -> Result<(), String> {
        let chunks = ["{\"key\":\"s3cr", "et-value\",", "\"pad\":\"0123456789\"}"];
        let stream = Chunks(
            chunks
                .iter()
                .map(|chunk| Bytes::from_static(chunk.as_bytes()))
                .collect(),
        );
        let reported: Arc<Mutex<Option<Capture>>> = Arc::default();
        let sink = Arc::clone(&reported);
        let body = ResponseBody::new(
            stream,
            Masker::new(secrets()),
            10,
            Box::new(move |capture| {
                *sink
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(capture)
            }),
        );
        let bytes = body
            .collect()
            .await
            .map_err(|error| error.to_string())?
            .to_bytes();
        assert_eq!(
            &bytes[..],
            b"{\"key\":\"************\",\"pad\":\"0123456789\"}"
        );
        let capture = reported.lock().map_err(|error| error.to_string())?.clone();
        let capture = capture.ok_or("reported")?;
        assert!(capture.ended && capture.truncated());
        assert_eq!(capture.bytes, b"{\"key\":\"**");
        assert_eq!(capture.total, bytes.len() as u64);
        Ok(())
    }

    /// A body of ready chunks.
    struct Chunks(std::collections::VecDeque<Bytes>);

    impl Body for Chunks {
        type Data = Bytes;
        type Error = std::convert::Infallible;

        fn poll_frame(
            mut self: Pin<&mut Self>,
            _: &mut Context<'_>,
        ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
            Poll::Ready(self.0.pop_front().map(|chunk| Ok(Frame::data(chunk))))
        }
    }
}
