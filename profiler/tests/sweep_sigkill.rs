//! Killing a sweep with SIGKILL at random moments loses no completed record and leaves a
//! file the next sweep resumes from: after every kill, each record written before is still
//! there, unchanged, and every line but a torn last one parses; a final sweep completes the
//! grid with each configuration recorded exactly once.

mod measure_support;

use measure_support::{bin, tiny_model};
use predictor::record::{parse_jsonl, Record, Status};
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Complete records of the data directory's files, keyed by (key, timestamp); panics on a
/// broken line that is not the last of its file.
fn records(dir: &Path) -> BTreeMap<(String, u64), String> {
    let mut out = BTreeMap::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let text = std::fs::read_to_string(&path).unwrap();
        let n = text.lines().filter(|l| !l.trim().is_empty()).count();
        for (i, item) in parse_jsonl(&text).into_iter().enumerate() {
            match item {
                Ok(r) => {
                    let line = serde_json::to_string(&r).unwrap();
                    out.insert((r.key.clone(), r.timestamp), line);
                }
                Err((line, e)) => assert_eq!(
                    i + 1,
                    n,
                    "{}:{line}: broken line that is not the last: {e}",
                    path.display()
                ),
            }
        }
    }
    out
}

/// Every record of `before` is in `now`, unchanged.
fn assert_kept(
    before: &BTreeMap<(String, u64), String>,
    now: &BTreeMap<(String, u64), String>,
    when: &str,
) {
    for (k, line) in before {
        assert_eq!(
            now.get(k),
            Some(line),
            "{when}: record {k:?} lost or changed"
        );
    }
}

fn sweep_cmd(model: &Path, data: &Path) -> Command {
    let mut c = Command::new(bin());
    c.args(["sweep", "--model", model.to_str().unwrap(), "--data-dir"])
        .arg(data)
        .args([
            "--batch",
            "1,2",
            "--ctx",
            "128,256,512,1024",
            "--ubatch",
            "32,64",
            "--kv-dtype",
            "f16,f32",
            "--decode",
            "2",
        ])
        .env("MEMCAL_THREADS", "1")
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    c
}

#[test]
fn sigkilled_sweeps_lose_nothing_and_resume() {
    let dir = tempfile::tempdir().unwrap();
    let model = tiny_model(dir.path(), "tiny");
    let data = dir.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    let grid = 32;

    let mut seed = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .subsec_nanos() as u64
        | 1;
    eprintln!("seed {seed}");
    let mut before = BTreeMap::new();
    let mut interrupted = 0;
    for round in 0..10 {
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let wait_ms = 30 + (seed >> 33) % 300;
        let mut child = sweep_cmd(&model, &data).spawn().unwrap();
        std::thread::sleep(Duration::from_millis(wait_ms));
        // SIGKILL: no handler runs, a write in progress may be cut.
        child.kill().unwrap();
        child.wait().unwrap();
        let now = records(&data);
        assert_kept(&before, &now, &format!("round {round}"));
        eprintln!(
            "round {round}: killed after {wait_ms} ms, {} records",
            now.len()
        );
        if now.len() < grid {
            interrupted += 1;
        }
        before = now;
    }
    assert!(
        interrupted > 0,
        "no kill landed before the grid was complete"
    );

    let status = sweep_cmd(&model, &data).status().unwrap();
    assert!(status.success());
    let all = records(&data);
    assert_kept(&before, &all, "the final sweep");
    let keys: Vec<&String> = all.keys().map(|(k, _)| k).collect();
    let unique: BTreeSet<&String> = keys.iter().copied().collect();
    assert_eq!(unique.len(), grid, "every configuration recorded");
    assert_eq!(keys.len(), grid, "no configuration recorded twice");
    for line in all.values() {
        let r: Record = serde_json::from_str(line).unwrap();
        assert_eq!(r.status, Status::Ok, "{:?}", r.message);
    }
    // A further sweep finds nothing to do and writes nothing.
    assert!(sweep_cmd(&model, &data).status().unwrap().success());
    assert_eq!(records(&data).len(), grid);
}
