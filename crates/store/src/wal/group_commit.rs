//! Group commit: many writers, one fsync.
//!
//! Request handlers [`GroupCommit::submit`] their batches; a dedicated
//! thread takes every batch waiting, appends them in order, syncs once and
//! then answers each. Under load one fsync covers many requests; alone, a
//! request pays one fsync. Blocking file IO stays off the async runtime.

use std::ops::Range;
use std::sync::mpsc;
use std::thread;

use super::{Wal, WalError};

/// Called once per batch with its sequence numbers, or why it failed.
pub type CommitReply = Box<dyn FnOnce(Result<Range<u64>, WalError>) + Send>;

/// Called on the commit thread, in sequence order, for every batch once it
/// is durable and before any reply goes out: the place to feed the ledger
/// and the in-memory index, so that they see records in log order.
pub type OnDurable = Box<dyn FnMut(u64, &[Vec<u8>]) + Send>;

struct Request {
    payloads: Vec<Vec<u8>>,
    reply: CommitReply,
}

/// The handle to the commit thread. Dropping it lets the thread finish the
/// requests already submitted and exit.
#[derive(Debug)]
pub struct GroupCommit {
    sender: Option<mpsc::Sender<Request>>,
    thread: Option<thread::JoinHandle<Wal>>,
}

impl GroupCommit {
    /// Moves `wal` onto a commit thread. `max_group_bytes` bounds how much
    /// one fsync covers.
    pub fn start(
        wal: Wal,
        max_group_bytes: usize,
        on_durable: OnDurable,
    ) -> Result<GroupCommit, WalError> {
        let (sender, receiver) = mpsc::channel::<Request>();
        let thread = thread::Builder::new()
            .name("evident-wal".into())
            .spawn(move || commit_loop(wal, receiver, max_group_bytes, on_durable))
            .map_err(WalError::io("starting the write-ahead log thread"))?;
        Ok(GroupCommit {
            sender: Some(sender),
            thread: Some(thread),
        })
    }

    /// Queues a batch; `reply` runs on the commit thread once the batch is
    /// durable (or failed).
    pub fn submit(&self, payloads: Vec<Vec<u8>>, reply: CommitReply) {
        let request = Request { payloads, reply };
        let unsent = match &self.sender {
            Some(sender) => sender.send(request).err().map(|error| error.0),
            None => Some(request),
        };
        if let Some(request) = unsent {
            (request.reply)(Err(WalError::Poisoned(
                "the write-ahead log is shut down".into(),
            )));
        }
    }

    /// Finishes the queued requests and returns the log.
    pub fn shut_down(mut self) -> Option<Wal> {
        self.sender.take();
        self.thread.take()?.join().ok()
    }
}

impl Drop for GroupCommit {
    fn drop(&mut self) {
        self.sender.take();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn commit_loop(
    mut wal: Wal,
    receiver: mpsc::Receiver<Request>,
    max_group_bytes: usize,
    mut on_durable: OnDurable,
) -> Wal {
    while let Ok(first) = receiver.recv() {
        let mut group = vec![first];
        let mut group_bytes: usize = group[0].payloads.iter().map(Vec::len).sum();
        while group_bytes < max_group_bytes {
            let Ok(next) = receiver.try_recv() else { break };
            group_bytes += next.payloads.iter().map(Vec::len).sum::<usize>();
            group.push(next);
        }

        let appended: Vec<Result<Range<u64>, WalError>> = group
            .iter()
            .map(|request| wal.append(&request.payloads))
            .collect();
        let synced = if appended.iter().any(Result::is_ok) {
            wal.sync()
        } else {
            Ok(())
        };
        match synced {
            Ok(()) => {
                for (request, result) in group.into_iter().zip(appended) {
                    if let Ok(range) = &result {
                        on_durable(range.start, &request.payloads);
                    }
                    (request.reply)(result);
                }
            }
            Err(error) => {
                let reason = error.to_string();
                for request in group {
                    (request.reply)(Err(WalError::Poisoned(reason.clone())));
                }
            }
        }
    }
    wal
}
