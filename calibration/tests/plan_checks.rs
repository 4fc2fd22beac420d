//! The planner's answers, run for real (`scripts/engines/plan-check.sh`, records in
//! `calibration/plan-checks/`): `plan --serve` and `plan --hosts` with `--margin 0` give the
//! largest configuration that fits a budget; its measured peak must be under the budget and
//! the peak of one step larger (one more slot, one more sequence) over it. The plan is
//! recomputed here from the records' profiles with the committed tables: when the tables
//! change the answer, the committed measurements no longer test it and this test asks for
//! the script to be run again.

use predictor::backend::Backend;
use predictor::calibrate::table_set::TableSet;
use predictor::config::split::parse_hosts;
use predictor::config::Role;
use predictor::planner::{plan_for, plan_hosts, Budget};
use predictor::record::{Record, Status};
use predictor::units::parse_size;
use std::path::PathBuf;

fn dir() -> PathBuf {
    calibration::paths::workspace_root().join("calibration/plan-checks")
}

fn check(name: &str) -> serde_json::Value {
    let path = dir().join(format!("{name}.check.json"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e} (run scripts/engines/plan-check.sh)",
            path.display()
        )
    });
    serde_json::from_str(&text).expect("a check description")
}

fn records(name: &str) -> Vec<Record> {
    let path = dir().join(format!("{name}.jsonl"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e} (run scripts/engines/plan-check.sh)",
            path.display()
        )
    });
    predictor::record::parse_jsonl(&text)
        .into_iter()
        .map(|r| r.expect("a record"))
        .collect()
}

fn rerun(what: &str) -> String {
    format!(
        "{what}: the committed tables give another plan than the one measured; run \
         scripts/engines/plan-check.sh and commit calibration/plan-checks"
    )
}

#[test]
fn the_most_slots_planned_measure_under_the_budget_and_one_more_over_it() {
    let c = check("serve");
    let budget = parse_size(c["budget"].as_str().unwrap()).unwrap();
    let max = c["max"].as_u64().unwrap() as u32;
    let rs = records("serve");
    let at = |slots: u32| {
        rs.iter()
            .rfind(|r| r.role == Role::Server && r.config.batch == slots)
            .unwrap_or_else(|| panic!("no measured server with {slots} slots"))
    };
    let (fits, over) = (at(max), at(max + 1));
    // The plan, again, from what was measured (the request as the plan saw it).
    let tables = TableSet::embedded().unwrap();
    let mut config = fits.config.clone();
    config.margin_pct = 0.0;
    let plan = plan_for(
        Backend::LlamaCpp,
        &fits.profile,
        &config,
        Budget {
            host_bytes: budget,
            gpu_bytes: None,
        },
        &tables,
    )
    .unwrap();
    assert_eq!(plan.max_batch, Some(max), "{}", rerun("plan --serve"));
    assert_eq!(fits.status, Status::Ok, "{:?}", fits.message);
    assert!(
        fits.measured.peak_rss_bytes <= budget,
        "{max} slots measured {} bytes, over the {budget} budget",
        fits.measured.peak_rss_bytes
    );
    assert!(
        over.status != Status::Ok || over.measured.peak_rss_bytes > budget,
        "{} slots measured {} bytes, still within the {budget} budget",
        max + 1,
        over.measured.peak_rss_bytes
    );
}

#[test]
fn the_largest_split_planned_fits_every_machine_and_one_more_sequence_does_not() {
    let c = check("hosts");
    let hosts = parse_hosts(c["hosts"].as_str().unwrap()).unwrap();
    let max = c["max"].as_u64().unwrap() as u32;
    let rs = records("hosts");
    let budget = |r: &Record| {
        let name = r.device_name.as_deref().unwrap_or(&hosts[0].name);
        hosts
            .iter()
            .find(|h| h.name == name)
            .and_then(|h| h.budget)
            .unwrap_or_else(|| panic!("no budget for {name}"))
    };
    // Every process of the run at `batch`: the client first.
    let run = |batch: u32| -> Vec<&Record> {
        let client = rs
            .iter()
            .rposition(|r| r.role == Role::RpcClient && r.config.batch == batch)
            .unwrap_or_else(|| panic!("no measured split with batch {batch}"));
        rs[client..]
            .iter()
            .take(hosts.len())
            .filter(|r| r.config.batch == batch)
            .collect()
    };
    let fits = run(max);
    let over = run(max + 1);
    assert_eq!(fits.len(), hosts.len());
    let tables = TableSet::embedded().unwrap();
    let mut config = fits[0].config.clone();
    config.margin_pct = 0.0;
    config.split = None;
    config.gpu_layers = None;
    let plan = plan_hosts(
        Backend::LlamaCpp,
        &fits[0].profile,
        &config,
        &hosts,
        &tables,
    )
    .unwrap();
    assert_eq!(plan.max_batch, Some(max), "{}", rerun("plan --hosts"));
    for r in &fits {
        assert_eq!(r.status, Status::Ok, "{:?}", r.message);
        assert!(
            r.measured.peak_rss_bytes <= budget(r),
            "batch {max}: {} ({}) measured {} bytes, over its budget {}",
            r.role,
            r.device_name.as_deref().unwrap_or("client"),
            r.measured.peak_rss_bytes,
            budget(r)
        );
    }
    assert!(
        over.iter()
            .any(|r| r.status != Status::Ok || r.measured.peak_rss_bytes > budget(r)),
        "batch {}: every machine still within its budget",
        max + 1
    );
}
