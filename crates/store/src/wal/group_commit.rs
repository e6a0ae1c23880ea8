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
//!
//! A batch is answered once durable, or, when its submitter asks for
//! [`Acknowledge::Written`], once written (in the operating system's cache,
//! so that the process may die without losing it), with the group's fsync
//! following at once. Either way the durability hook sees it only after the
//! fsync.

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

/// When a batch's reply goes out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Acknowledge {
    /// After the fsync that makes it durable.
    Durable,
    /// After it is written, before that fsync: a crash of the machine (not
    /// of the process) during that one fsync, or the fsync failing, can
    /// lose a batch already answered.
    Written,
}

struct Append<A> {
    payloads: Vec<Vec<u8>>,
    attachment: A,
    acknowledge: Acknowledge,
    /// Taken when the reply goes out.
    reply: Option<CommitReply>,
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
    /// durable (or failed), or written when `acknowledge` says so.
    pub fn submit(
        &self,
        payloads: Vec<Vec<u8>>,
        attachment: A,
        acknowledge: Acknowledge,
        reply: CommitReply,
    ) {
        let request = Request::Append(Append {
            payloads,
            attachment,
            acknowledge,
            reply: Some(reply),
        });
        let unsent = match &self.sender {
            Some(sender) => sender.send(request).err().map(|error| error.0),
            None => Some(request),
        };
        if let Some(Request::Append(Append {
            reply: Some(reply), ..
        })) = unsent
        {
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

fn commit_group<A>(wal: &mut Wal, mut group: Vec<Append<A>>, on_durable: &mut OnDurable<A>) {
    if group.is_empty() {
        return;
    }
    let appended: Vec<Result<Range<u64>, WalError>> = group
        .iter()
        .map(|append| wal.append(&append.payloads))
        .collect();
    // A batch that failed to be written is answered with the rest.
    let mut answered_early = 0usize;
    for (append, result) in group.iter_mut().zip(&appended) {
        if let (Acknowledge::Written, Ok(range)) = (append.acknowledge, result)
            && let Some(reply) = append.reply.take()
        {
            answered_early += append.payloads.len();
            reply(Ok(range.clone()));
        }
    }
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
                if let Some(reply) = append.reply {
                    reply(result);
                }
            }
        }
        Err(error) => {
            if answered_early > 0 {
                tracing::error!(
                    records = answered_early,
                    %error,
                    "records answered once written may be lost: the fsync after them failed"
                );
            }
            let reason = error.to_string();
            for append in group {
                if let Some(reply) = append.reply {
                    reply(Err(WalError::Poisoned(reason.clone())));
                }
            }
        }
    }
}
