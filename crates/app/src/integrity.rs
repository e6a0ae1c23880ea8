//! The evidence a third party needs to check an event or the log's
//! history without trusting this server: the latest signed checkpoint,
//! inclusion and consistency proofs. Reading evidence never writes: a
//! proof is against the latest checkpoint the background signer made.

use std::time::{Duration, Instant};

use evident_ledger::{Hash, leaf_hash};
use evident_store::verify::LastVerify;
use evident_store::{SignedCheckpoint, StoreError};
use serde_json::{Value, json};

use crate::Evident;
use crate::activity::ReadActivity;
use crate::actor::Actor;
use crate::error::{AppError, ErrorKind};

/// How long a proof request waits for the checkpoint that covers its
/// event (one is signed every second while events arrive).
const CHECKPOINT_WAIT: Duration = Duration::from_secs(3);

fn base64_hashes(hashes: &[Hash]) -> Vec<String> {
    hashes.iter().map(Hash::to_base64).collect()
}

impl Evident {
    /// The latest signed checkpoint, and the last `evident verify` run.
    /// Waits (a few seconds at most) for the first one after a start.
    pub async fn checkpoint(&self) -> Result<(SignedCheckpoint, Option<LastVerify>), AppError> {
        let started = Instant::now();
        loop {
            if let Some(signed) = self.store.latest_checkpoint() {
                let last_verify = self
                    .blocking("checkpoint", |store| {
                        Ok(LastVerify::load(&store.paths().root))
                    })
                    .await?;
                return Ok((signed, last_verify));
            }
            if started.elapsed() >= CHECKPOINT_WAIT {
                return Err(AppError::new(
                    ErrorKind::NotReady,
                    "no checkpoint is signed yet; retry in a second",
                ));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The public key that verifies the checkpoints.
    pub fn public_key(&self) -> String {
        self.store.verifier().to_string()
    }

    /// The event `id`, its exact stored bytes and its audit path in the
    /// latest checkpoint's tree, recorded as `actor`'s read. An event newer
    /// than that checkpoint waits (up to a few seconds) for the next one.
    pub async fn inclusion_proof(&self, actor: &Actor, id: String) -> Result<Value, AppError> {
        let record = self.start_read_record(
            actor,
            &ReadActivity {
                kind: "inclusion_proof",
                query: &id,
                from: None,
                to: None,
                results: None,
            },
        );
        self.finish_read_record(record).await?;
        let started = Instant::now();
        loop {
            let id_now = id.clone();
            let proven = self
                .blocking("inclusion proof", move |store| {
                    let proven = store
                        .inclusion_proof_in_latest(&id_now)
                        .and_then(|proven| Ok((store.event_bytes(proven.leaf_index)?, proven)));
                    Ok(proven)
                })
                .await;
            match proven {
                Ok(Ok((bytes, proven))) => {
                    let signed = proven.checkpoint;
                    return Ok(json!({
                        "id": proven.event.id,
                        "leaf_index": proven.leaf_index,
                        "tree_size": signed.checkpoint.size,
                        "leaf_hash": leaf_hash(&bytes).to_base64(),
                        // The exact stored bytes: hash them (with a 0x00 prefix) to get the leaf.
                        "event": String::from_utf8_lossy(&bytes),
                        "proof": base64_hashes(&proven.path),
                        "root_hash": signed.checkpoint.root.to_base64(),
                        "checkpoint": signed.note,
                        "public_key": self.public_key(),
                    }));
                }
                Ok(Err(StoreError::NotYetCheckpointed(_)))
                    if started.elapsed() < CHECKPOINT_WAIT =>
                {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Ok(Err(error)) => return Err(AppError::from_store(error)),
                Err(error) => return Err(error),
            }
        }
    }

    /// The proof that the tree of `from` leaves is a prefix of the tree of
    /// `to` leaves, with both roots.
    pub async fn consistency_proof(&self, from: u64, to: u64) -> Result<Value, AppError> {
        let (from_root, to_root, proof) = self
            .blocking("consistency proof", move |store| {
                store
                    .consistency_proof(from, to)
                    .map_err(AppError::from_store)
            })
            .await?;
        Ok(json!({
            "from": from,
            "to": to,
            "from_root": from_root.to_base64(),
            "to_root": to_root.to_base64(),
            "proof": base64_hashes(&proof),
        }))
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use evident_model::{Event, StoredEvent, Timestamp};
    use evident_store::{Store, StoreOptions};

    use crate::access::Access;
    use crate::{ErrorKind, Evident, Settings};

    fn event(id: &str) -> StoredEvent {
        StoredEvent {
            id: id.to_owned(),
            discovery_timestamp: Timestamp::now(),
            tiebreaker: 1,
            random_draw: 0.5,
            ingest_size_in_bytes: 10,
            truncated: false,
            event: Event {
                message: Some(format!("event {id}")),
                timestamp: Some(Timestamp::now()),
                ..Event::default()
            },
        }
    }

    #[test]
    fn a_proof_is_read_from_the_latest_checkpoint_and_never_signs_one()
    -> Result<(), Box<dyn std::error::Error>> {
        // The store runs its own IO runtime: it is opened and dropped
        // outside the test's.
        let runtime = tokio::runtime::Runtime::new()?;
        let directory = tempfile::tempdir()?;
        let store = Arc::new(Store::open(directory.path(), StoreOptions::default())?);
        let evident = Evident::open(
            directory.path(),
            Arc::clone(&store),
            Access::none(),
            None,
            // Only the proofs here: their own records would grow the tree.
            Settings {
                audit_reads: crate::ReadAudit::Off,
                ..Settings::default()
            },
        )?;
        store.commit(vec![event("first")]).wait()?;
        evident.sign_checkpoint();
        store.commit(vec![event("second")]).wait()?;
        let checkpoints = store.paths().checkpoints();
        let before = std::fs::read(&checkpoints)?;

        let actor = crate::Actor::cli("tester");
        let proof = runtime.block_on(evident.inclusion_proof(&actor, "first".into()))?;
        assert_eq!(proof["tree_size"], 1);
        // Newer than every checkpoint, and nobody signs one here: the
        // request waits, then says so, without writing.
        let error = runtime
            .block_on(evident.inclusion_proof(&actor, "second".into()))
            .expect_err("not covered yet");
        assert_eq!(error.kind, ErrorKind::NotReady, "{error}");
        assert_eq!(
            std::fs::read(&checkpoints)?,
            before,
            "reading a proof wrote"
        );

        evident.sign_checkpoint();
        let proof = runtime.block_on(evident.inclusion_proof(&actor, "second".into()))?;
        assert_eq!(proof["tree_size"], 2);
        Ok(())
    }
}
