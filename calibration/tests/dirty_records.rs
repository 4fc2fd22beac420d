//! `calibration fit` refuses records measured by a build with uncommitted changes unless
//! their commit is accepted in the records directory or `--allow-dirty` is given.

use std::path::Path;
use std::process::Command;

fn fit(data: &Path, out: &Path, extra: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_calibration"))
        .arg("--data")
        .arg(data)
        .arg("--tables")
        .arg(out.join("tables"))
        .arg("--reports")
        .arg(out.join("reports"))
        .args(extra)
        .arg("fit")
        .output()
        .unwrap()
}

#[test]
fn dirty_records_need_acceptance() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("data");
    let text = std::fs::read_to_string(root.join("intel-xeon-2c-24g.jsonl")).unwrap();
    let dirty: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("+dirty"))
        .take(40)
        .collect();
    assert!(!dirty.is_empty());
    let commit = dirty[0]
        .split("\"git_commit\":\"")
        .nth(1)
        .and_then(|r| r.split('"').next())
        .unwrap()
        .trim_end_matches("+dirty")
        .to_string();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir(&data).unwrap();
    std::fs::write(data.join("r.jsonl"), dirty.join("\n") + "\n").unwrap();

    let refused = fit(&data, dir.path(), &[]);
    assert!(!refused.status.success());
    let err = String::from_utf8_lossy(&refused.stderr);
    assert!(
        err.contains(&commit) && err.contains("accepted-dirty.txt"),
        "{err}"
    );
    assert!(
        !dir.path().join("tables").exists(),
        "nothing written when refused"
    );

    let allowed = fit(&data, dir.path(), &["--allow-dirty"]);
    assert!(
        allowed.status.success(),
        "{}",
        String::from_utf8_lossy(&allowed.stderr)
    );

    std::fs::write(
        data.join("accepted-dirty.txt"),
        format!("{commit}  # test\n"),
    )
    .unwrap();
    let accepted = fit(&data, dir.path(), &[]);
    assert!(
        accepted.status.success(),
        "{}",
        String::from_utf8_lossy(&accepted.stderr)
    );
}
