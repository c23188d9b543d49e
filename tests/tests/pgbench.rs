//! pgbench against the `aiondb` binary: `pgbench -i -s 2` (drop, create,
//! COPY of the accounts, VACUUM, primary keys), then TPC-B, select-only,
//! `-M prepared` and `-M extended` runs with no failed transaction, and
//! balances that still add up afterwards.

use aiondb_integration_tests::wire::{have, text, Server, PASSWORD};

/// Seconds per run: short in a debug build, still thousands of
/// transactions.
const SECONDS: &str = "3";

fn processed(out: &str) -> u64 {
    out.lines()
        .find_map(|l| l.strip_prefix("number of transactions actually processed: "))
        .and_then(|rest| rest.split(['/', ' ']).next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

fn failed(out: &str) -> Option<u64> {
    out.lines()
        .find_map(|l| l.strip_prefix("number of failed transactions: "))
        .and_then(|rest| rest.split(' ').next())
        .and_then(|n| n.parse().ok())
}

#[test]
fn pgbench_initialises_and_runs_without_failures() {
    if !have("pgbench", &["--version"]) || !have("psql", &["--version"]) {
        return;
    }
    let server = Server::start(&[]);
    let init = server.pgbench(&["-i", "-s", "2"]);
    let init_err = text(&init.stderr);
    assert!(init.status.success(), "pgbench -i failed:\n{init_err}");
    assert!(init_err.contains("done in"), "{init_err}");

    let count = server.psql(PASSWORD, "SELECT count(*) FROM pgbench_accounts;\n");
    assert_eq!(text(&count.stdout), "200000\n", "{}", text(&count.stderr));

    let runs: [(&str, &[&str]); 4] = [
        ("tpc-b", &[]),
        ("select-only", &["-S"]),
        ("prepared", &["-M", "prepared"]),
        ("extended", &["-M", "extended"]),
    ];
    for (name, extra) in runs {
        let mut args = vec!["-c", "4", "-j", "2", "-T", SECONDS, "-n"];
        args.extend_from_slice(extra);
        let out = server.pgbench(&args);
        let stdout = text(&out.stdout);
        let stderr = text(&out.stderr);
        assert!(
            out.status.success(),
            "pgbench {name} failed:\n{stdout}\n{stderr}"
        );
        assert!(processed(&stdout) > 0, "{name}: no transactions:\n{stdout}");
        assert_eq!(
            failed(&stdout),
            Some(0),
            "{name}: failed transactions:\n{stdout}\n{stderr}"
        );
    }

    // Every TPC-B transaction moved the same delta through all four tables.
    let sums = server.psql(PASSWORD,
        "SELECT (SELECT sum(abalance) FROM pgbench_accounts) = (SELECT sum(bbalance) FROM pgbench_branches),
       (SELECT sum(bbalance) FROM pgbench_branches) = (SELECT sum(tbalance) FROM pgbench_tellers),
       (SELECT sum(tbalance) FROM pgbench_tellers) = (SELECT sum(delta) FROM pgbench_history),
       (SELECT count(*) FROM pgbench_history) > 0;\n",
    );
    assert_eq!(text(&sums.stdout), "t|t|t|t\n", "{}", text(&sums.stderr));
}
