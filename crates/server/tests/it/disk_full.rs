//! A full disk: the intake answers 507, keeps everything it acknowledged,
//! refuses the reads it cannot record and recovers once space is back. Runs on a small tmpfs mounted for the
//! test (needs root, as in CI; skipped with a notice otherwise).

use std::path::Path;
use std::process::Command;

use serde_json::{Value, json};

use crate::support::{Server, run_verify, search, submit, total};

struct Mount {
    path: std::path::PathBuf,
}

impl Mount {
    fn tmpfs(path: &Path, size: &str) -> Option<Mount> {
        let is_root = Command::new("id")
            .arg("-u")
            .output()
            .ok()
            .is_some_and(|out| out.stdout.starts_with(b"0\n"));
        if !is_root {
            eprintln!("skipped: mounting a tmpfs needs root");
            return None;
        }
        let status = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(path)
            .status()
            .expect("mount runs");
        assert!(
            status.success(),
            "root could not mount a tmpfs at {}",
            path.display()
        );
        Some(Mount {
            path: path.to_path_buf(),
        })
    }
}

impl Drop for Mount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.path).status();
    }
}

#[test]
fn a_full_disk_answers_507_and_loses_nothing_acknowledged() {
    let directory = tempfile::tempdir().expect("temp dir");
    let Some(_mount) = Mount::tmpfs(directory.path(), "4m") else {
        return;
    };
    let data = directory.path().join("data");
    let server = Server::start(&data);
    // Leave little room: a filler file takes most of the disk.
    let filler = directory.path().join("filler");
    let status = Command::new("dd")
        .args(["if=/dev/zero", "bs=1024", "count=3300"])
        .arg(format!("of={}", filler.display()))
        .stderr(std::process::Stdio::null())
        .status()
        .expect("dd runs");
    assert!(status.success());

    let mut acknowledged = Vec::new();
    let mut full = None;
    for batch in 0..400 {
        let items: Vec<Value> = (0..20).map(|i| json!({"message": format!("batch {batch} item {i} {}", "x".repeat(400)), "batch": batch})).collect();
        let response = submit(&server, &serde_json::to_string(&items).expect("json"));
        match response.status().as_u16() {
            202 => acknowledged.push(batch),
            status => {
                full = Some((status, response.text().unwrap_or_default()));
                break;
            }
        }
    }
    let (status, body) = full.expect("the disk filled up");
    assert_eq!(status, 507, "{body}");
    assert!(body.contains("the disk is full"), "{body}");
    assert!(!acknowledged.is_empty());

    // Fill what is left with small events, until not even one fits.
    let mut fillers = 0;
    loop {
        let response = submit(&server, r#"[{"message":"filler"}]"#);
        match response.status().as_u16() {
            202 => fillers += 1,
            507 => break,
            status => panic!("a small event got {status}"),
        }
        assert!(fillers < 10_000, "the disk never filled");
    }
    // Every read is recorded before it is answered: none can be now.
    let (status, answer) = search(
        &server,
        "logs",
        json!({"filter": {"query": "batch", "from": "now-1h", "to": "now+1m"}}),
    );
    assert_eq!(status, 507, "{answer}");
    assert!(
        answer.to_string().contains("this read cannot be recorded"),
        "{answer}"
    );

    // Space comes back: reading and writing go on.
    std::fs::remove_file(&filler).expect("free space");
    assert_eq!(
        total(&server, "batch"),
        acknowledged.len() * 20,
        "everything acknowledged is there"
    );
    assert_eq!(total(&server, "filler"), fillers);
    let response = submit(&server, r#"[{"message":"batch after the disk was freed"}]"#);
    assert_eq!(response.status().as_u16(), 202);
    server.stop();
    let verify = run_verify(&data);
    assert!(
        verify.status.success(),
        "{}",
        String::from_utf8_lossy(&verify.stdout)
    );
}
