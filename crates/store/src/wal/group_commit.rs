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

/// Work for the log that must not race with appends (deleting sealed
/// files), run on the commit thread between groups.
pub type Maintenance = Box<dyn FnOnce(&mut Wal) + Send>;

enum Request {
    Append {
        payloads: Vec<Vec<u8>>,
        reply: CommitReply,
    },
    Maintain(Maintenance),
}

struct Append {
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
        let request = Request::Append { payloads, reply };
        let unsent = match &self.sender {
            Some(sender) => sender.send(request).err().map(|error| error.0),
            None => Some(request),
        };
        if let Some(Request::Append { reply, .. }) = unsent {
            reply(Err(WalError::Poisoned(
                "the write-ahead log is shut down".into(),
            )));
        }
    }

    /// Runs `work` on the commit thread, between two groups.
    pub fn maintain(&self, work: Maintenance) {
        if let Some(sender) = &self.sender {
            let _ = sender.send(Request::Maintain(work));
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
        let mut group: Vec<Append> = Vec::new();
        let mut group_bytes = 0usize;
        let mut next = Some(first);
        while let Some(request) = next.take() {
            match request {
                Request::Append { payloads, reply } => {
                    group_bytes += payloads.iter().map(Vec::len).sum::<usize>();
                    group.push(Append { payloads, reply });
                }
                // Maintenance waits for the group before it to be durable.
                Request::Maintain(work) => {
                    commit_group(&mut wal, std::mem::take(&mut group), &mut on_durable);
                    work(&mut wal);
                }
            }
            if group_bytes < max_group_bytes {
                next = receiver.try_recv().ok();
            }
        }
        commit_group(&mut wal, group, &mut on_durable);
    }
    wal
}

fn commit_group(wal: &mut Wal, group: Vec<Append>, on_durable: &mut OnDurable) {
    if group.is_empty() {
        return;
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
