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
//! so that the process may die without losing it). The fsync after such
//! batches waits a few milliseconds for company: on a virtual disk a fsync
//! costs about a tenth of a millisecond of CPU, which a record per read
//! should not pay alone. Any batch that must be durable ends the wait.
//! Either way the durability hook sees a batch only after its fsync.

use std::ops::Range;
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

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
    /// After it is written, before its fsync (which may wait for more
    /// batches, see [`GroupCommit::start`]): a crash of the machine (not of
    /// the process) before that fsync, or the fsync failing, can lose a
    /// batch already answered.
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
    /// one fsync covers; `written_sync_delay`, how long the fsync after
    /// batches answered once written may wait to cover more of them.
    pub fn start(
        wal: Wal,
        max_group_bytes: usize,
        written_sync_delay: Duration,
        on_durable: OnDurable<A>,
    ) -> Result<GroupCommit<A>, WalError> {
        let (sender, receiver) = mpsc::channel::<Request<A>>();
        let thread = thread::Builder::new()
            .name("evident-wal".into())
            .spawn(move || {
                commit_loop(
                    wal,
                    receiver,
                    max_group_bytes,
                    written_sync_delay,
                    on_durable,
                )
            })
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

/// A batch written to the log and awaiting the fsync that makes it durable.
struct Written<A> {
    append: Append<A>,
    result: Result<Range<u64>, WalError>,
}

fn commit_loop<A>(
    mut wal: Wal,
    receiver: mpsc::Receiver<Request<A>>,
    max_group_bytes: usize,
    written_sync_delay: Duration,
    mut on_durable: OnDurable<A>,
) -> Wal {
    // Batches answered once written whose fsync waits for company, and
    // until when it may.
    let mut unsynced: Vec<Written<A>> = Vec::new();
    let mut unsynced_bytes = 0usize;
    let mut sync_by: Option<Instant> = None;
    loop {
        let first = match sync_by {
            None => match receiver.recv() {
                Ok(request) => request,
                Err(mpsc::RecvError) => break,
            },
            Some(deadline) => {
                match receiver.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
                    Ok(request) => request,
                    Err(mpsc::RecvTimeoutError::Timeout) => {
                        sync(&mut wal, std::mem::take(&mut unsynced), &mut on_durable);
                        (unsynced_bytes, sync_by) = (0, None);
                        continue;
                    }
                    Err(mpsc::RecvTimeoutError::Disconnected) => break,
                }
            }
        };
        let mut group: Vec<Append<A>> = Vec::new();
        let mut group_bytes = 0usize;
        let mut next = Some(first);
        while let Some(request) = next.take() {
            match request {
                Request::Append(append) => {
                    group_bytes += append.payloads.iter().map(Vec::len).sum::<usize>();
                    group.push(append);
                }
                // Maintenance waits for everything before it to be durable.
                Request::Maintain(work) => {
                    unsynced.extend(write(&mut wal, std::mem::take(&mut group)));
                    sync(&mut wal, std::mem::take(&mut unsynced), &mut on_durable);
                    (unsynced_bytes, sync_by) = (0, None);
                    work(&mut wal);
                }
            }
            if group_bytes < max_group_bytes {
                next = receiver.try_recv().ok();
            }
        }
        let written = write(&mut wal, group);
        // A group answered in full once written lets its fsync wait (up to
        // the delay) to cover the groups that follow; anything else (a
        // durable batch, a failure) syncs now, with whatever waited.
        let deferrable = written
            .iter()
            .all(|batch| batch.append.acknowledge == Acknowledge::Written && batch.result.is_ok());
        unsynced.extend(written);
        unsynced_bytes += group_bytes;
        if deferrable && unsynced_bytes < max_group_bytes && !written_sync_delay.is_zero() {
            sync_by.get_or_insert_with(|| Instant::now() + written_sync_delay);
        } else {
            sync(&mut wal, std::mem::take(&mut unsynced), &mut on_durable);
            (unsynced_bytes, sync_by) = (0, None);
        }
    }
    sync(&mut wal, unsynced, &mut on_durable);
    wal
}

/// Appends a group to the log and answers the batches that asked to be
/// answered once written.
fn write<A>(wal: &mut Wal, group: Vec<Append<A>>) -> Vec<Written<A>> {
    group
        .into_iter()
        .map(|mut append| {
            let result = wal.append(&append.payloads);
            // A batch that failed to be written is answered after the sync,
            // with the rest.
            if let (Acknowledge::Written, Ok(range)) = (append.acknowledge, &result)
                && let Some(reply) = append.reply.take()
            {
                reply(Ok(range.clone()));
            }
            Written { append, result }
        })
        .collect()
}

/// One fsync for the written batches, then the durability hook and the
/// replies still owed, in log order.
fn sync<A>(wal: &mut Wal, written: Vec<Written<A>>, on_durable: &mut OnDurable<A>) {
    if written.is_empty() {
        return;
    }
    let synced = if written.iter().any(|batch| batch.result.is_ok()) {
        wal.sync()
    } else {
        Ok(())
    };
    match synced {
        Ok(()) => {
            for Written { append, result } in written {
                if let Ok(range) = &result {
                    on_durable(range.start, &append.payloads, append.attachment);
                }
                if let Some(reply) = append.reply {
                    reply(result);
                }
            }
        }
        Err(error) => {
            let answered_early: usize = written
                .iter()
                .filter(|batch| batch.append.reply.is_none())
                .map(|batch| batch.append.payloads.len())
                .sum();
            if answered_early > 0 {
                tracing::error!(
                    records = answered_early,
                    %error,
                    "records answered once written may be lost: the fsync after them failed"
                );
            }
            let reason = error.to_string();
            for Written { append, .. } in written {
                if let Some(reply) = append.reply {
                    reply(Err(WalError::Poisoned(reason.clone())));
                }
            }
        }
    }
}
