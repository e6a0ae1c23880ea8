//! Group commit: many writers, one fsync.
//!
//! Request handlers [`GroupCommit::submit`] their batches; a dedicated
//! thread takes every batch waiting, appends them in order, syncs once and
//! then answers each. Under load one fsync covers many requests; alone, a
//! request pays one fsync. Blocking file IO stays off the async runtime.
//!
//! A batch may carry an attachment `A` (the store passes the parsed events
//! along, so nothing is decoded twice); it is handed to the durability hook
//! with the batch.

use std::ops::Range;
use std::sync::mpsc;
use std::thread;

use super::{Wal, WalError};

/// Called once per batch with its sequence numbers, or why it failed.
pub type CommitReply = Box<dyn FnOnce(Result<Range<u64>, WalError>) + Send>;

/// Called on the commit thread, in sequence order, for every batch once it
/// is durable and before any reply goes out: the place to feed the ledger
/// and the in-memory index, so that they see records in log order.
pub type OnDurable<A> = Box<dyn FnMut(u64, &[Vec<u8>], A) + Send>;

/// Work for the log that must not race with appends (deleting sealed
/// files), run on the commit thread between groups.
pub type Maintenance = Box<dyn FnOnce(&mut Wal) + Send>;

enum Request<A> {
    Append(Append<A>),
    Maintain(Maintenance),
}

struct Append<A> {
    payloads: Vec<Vec<u8>>,
    attachment: A,
    reply: CommitReply,
}

/// The handle to the commit thread. Dropping it lets the thread finish the
/// requests already submitted and exit.
#[derive(Debug)]
pub struct GroupCommit<A: Send + 'static = ()> {
    sender: Option<mpsc::Sender<Request<A>>>,
    thread: Option<thread::JoinHandle<Wal>>,
}

impl<A: Send + 'static> GroupCommit<A> {
    /// Moves `wal` onto a commit thread. `max_group_bytes` bounds how much
    /// one fsync covers.
    pub fn start(
        wal: Wal,
        max_group_bytes: usize,
        on_durable: OnDurable<A>,
    ) -> Result<GroupCommit<A>, WalError> {
        let (sender, receiver) = mpsc::channel::<Request<A>>();
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
    pub fn submit(&self, payloads: Vec<Vec<u8>>, attachment: A, reply: CommitReply) {
        let request = Request::Append(Append {
            payloads,
            attachment,
            reply,
        });
        let unsent = match &self.sender {
            Some(sender) => sender.send(request).err().map(|error| error.0),
            None => Some(request),
        };
        if let Some(Request::Append(append)) = unsent {
            (append.reply)(Err(WalError::Poisoned(
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

impl<A: Send + 'static> Drop for GroupCommit<A> {
    fn drop(&mut self) {
        self.sender.take();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn commit_loop<A>(
    mut wal: Wal,
    receiver: mpsc::Receiver<Request<A>>,
    max_group_bytes: usize,
    mut on_durable: OnDurable<A>,
) -> Wal {
    while let Ok(first) = receiver.recv() {
        let mut group: Vec<Append<A>> = Vec::new();
        let mut group_bytes = 0usize;
        let mut next = Some(first);
        while let Some(request) = next.take() {
            match request {
                Request::Append(append) => {
                    group_bytes += append.payloads.iter().map(Vec::len).sum::<usize>();
                    group.push(append);
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

fn commit_group<A>(wal: &mut Wal, group: Vec<Append<A>>, on_durable: &mut OnDurable<A>) {
    if group.is_empty() {
        return;
    }
    let appended: Vec<Result<Range<u64>, WalError>> = group
        .iter()
        .map(|append| wal.append(&append.payloads))
        .collect();
    let synced = if appended.iter().any(Result::is_ok) {
        wal.sync()
    } else {
        Ok(())
    };
    match synced {
        Ok(()) => {
            for (append, result) in group.into_iter().zip(appended) {
                if let Ok(range) = &result {
                    on_durable(range.start, &append.payloads, append.attachment);
                }
                (append.reply)(result);
            }
        }
        Err(error) => {
            let reason = error.to_string();
            for append in group {
                (append.reply)(Err(WalError::Poisoned(reason.clone())));
            }
        }
    }
}
