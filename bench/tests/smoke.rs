#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! The benchmarks still run and still print their side-by-side ratios (tiny sizes; the
//! figures in BENCHMARKS.md come from the full-size runs).

use std::process::Command;

/// Runs `flightrec-bench --data-dir TMP ARGS...` and returns its standard output.
fn run(args: &[&str]) -> String {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_flightrec-bench"))
        .arg("--data-dir")
        .arg(dir.path())
        .args(args)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "{args:?}: {stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    stdout
}

/// The `cpu=<µs>/event` figures of a benchmark's output, in order.
fn cpu_figures(text: &str) -> Vec<f64> {
    text.split("cpu=").skip(1).map(|c| c.split("us/event").next().unwrap().parse().unwrap()).collect()
}

#[test]
fn ingest_prints_rates_latencies_and_the_three_baseline_ratios() {
    let out = run(&["ingest", "--writers", "2", "--seconds", "0.3", "--baselines"]);
    assert!(out.contains("durability=sync writers=2"), "{out}");
    assert!(out.contains("p999="), "{out}");
    assert!(out.contains("fdatasync loop") && out.contains("naive DuckDB INSERT"), "{out}");
    let probe = out.split("group-commit probe").nth(1).unwrap_or_else(|| panic!("the probe baseline runs: {out}"));
    let probe_rate: f64 = probe.split_whitespace().next().unwrap().parse().unwrap();
    assert!(probe_rate > 0.0, "the probe acknowledged records: {out}");
    assert_eq!(out.matches("flightrec/baseline =").count(), 3, "{out}");
    // flightrec's run and the probe each say what an event cost in CPU (the probe's may round
    // to 0 ticks of 10 ms in so short a run; flightrec's does not).
    let costs = cpu_figures(&out);
    assert_eq!(costs.len(), 2, "{out}");
    assert!(costs[0] > 0.0, "{out}");
}

#[test]
fn ingest_holds_an_offered_rate_and_counts_async_drops() {
    let out = run(&["ingest", "--writers", "4", "--seconds", "1", "--rate", "400"]);
    let events: f64 = out.split("events=").nth(1).unwrap().split_whitespace().next().unwrap().parse().unwrap();
    assert!((300.0..=500.0).contains(&events), "about 400 events in one second at --rate 400: {out}");
    let out = run(&["ingest", "--writers", "2", "--seconds", "0.3", "--durability", "async"]);
    assert!(out.contains("durability=async") && out.contains("dropped (async queue full)"), "{out}");
    let out = run(&["ingest", "--writers", "2", "--seconds", "0.3", "--prepared"]);
    assert!(out.contains("durability=sync writers=2"), "the bare WAL append runs: {out}");
    let out = run(&["ingest", "--writers", "2", "--seconds", "0.3", "--durability", "async", "--typed"]);
    let events: u64 = out.split("events=").nth(1).unwrap().split_whitespace().next().unwrap().parse().unwrap();
    assert!(events > 0, "typed events are recorded: {out}");
}

#[test]
fn query_prints_compaction_queries_baselines_and_rss() {
    let out = run(&["query", "--events", "3000", "--days", "1", "--reps", "2", "--baselines"]);
    assert!(out.contains("compaction: 3000 events"), "{out}");
    assert!(out.contains("baseline DuckDB read_json -> Parquet"), "{out}");
    assert_eq!(out.matches("baseline full Parquet scan").count(), 3, "{out}");
    assert!(out.contains("peak RSS after ingest + compaction"), "{out}");
}

#[test]
fn curve_times_every_question_quiet_and_under_writers_at_each_size() {
    let args = "curve --sizes 2000,4000 --days 2 --reps 3 --text-reps 2 --compact-every 1500 --writers 4 --seconds 0.3";
    let out = run(&args.split(' ').collect::<Vec<_>>());
    assert!(out.contains("== 2000 events") && out.contains("== 4000 events"), "{out}");
    assert!(out.contains("compaction: 4000 events"), "compacted as it went, then the rest: {out}");
    for q in ["trace lookup", "job lookup", "one-hour page", "text= search, rare", "text= search, common", "stats"] {
        assert_eq!(out.matches(&format!("quiet       {q}")).count(), 2, "{q} timed at each size: {out}");
    }
    assert_eq!(out.matches("4 writers   trace lookup").count(), 2, "{out}");
    assert_eq!(out.matches("with lookups / alone =").count(), 2, "{out}");
    assert!(!out.contains("(0 events returned in all)"), "the questions find events: {out}");
}

#[test]
fn recovery_replays_what_it_wrote_and_prints_the_baseline() {
    let out = run(&["recovery", "--mb", "2", "--rounds", "2"]);
    let wrote: u64 = out.split("wrote ").nth(1).unwrap().split_whitespace().next().unwrap().parse().unwrap();
    let replayed = format!("recovery: {wrote} events");
    assert_eq!(out.matches(&replayed).count(), 2, "every written event is replayed in each round: {out}");
    assert_eq!(out.matches("baseline read + CRC32").count(), 2, "{out}");
    assert!(out.contains("recovery over 2 rounds: flightrec/baseline median"), "{out}");
}

#[test]
fn otlp_prints_both_rates_and_their_ratio() {
    let out = run(&["otlp", "--spans", "2000", "--batch", "100", "--clients", "2"]);
    assert!(out.contains("POST /v1/traces (protobuf)") && out.contains("POST /v1/events (same events)"), "{out}");
    assert!(out.contains("ratio otlp/events"), "{out}");
}

#[test]
fn backlog_prints_both_modes_and_compacts_in_each() {
    let out = run(&["backlog", "--segment-kib", "16", "--seals", "20", "--seconds", "2"]);
    for mode in ["one transaction per segment (1 segments", "batched (64 segments"] {
        let line = out.lines().find(|l| l.contains(mode)).unwrap_or_else(|| panic!("{mode}: {out}"));
        let compacted: u64 =
            line.split("compacted ").nth(1).unwrap().split_whitespace().next().unwrap().parse().unwrap();
        assert!(compacted > 0, "{mode}: the compactor kept up with some segments: {out}");
    }
}

#[test]
fn ship_prints_both_rates_and_their_ratio() {
    // memory:/// keeps the smoke run off the network; BENCHMARKS.md runs it against moto_server.
    let out = run(&["ship", "--events", "3000", "--ship-to", "memory:///smoke", "--reps", "1"]);
    assert!(out.contains("flightrec ship (upload + catalog record per file): median"), "{out}");
    assert!(out.contains("flightrec/baseline = "), "{out}");
}

#[test]
fn http_prints_each_shape_over_http_and_in_process() {
    let out = run(&["http", "--clients", "1,2", "--seconds", "0.3", "--batch", "20"]);
    for shape in ["POST /v1/events, arrays of 1,", "POST /v1/events, arrays of 20,", "POST /v1/events:ndjson, 20 lines"]
    {
        assert_eq!(out.matches(shape).count(), 2, "{shape} at 1 and 2 clients: {out}");
    }
    assert_eq!(out.matches("http/in-process = ").count(), 6, "{out}");
    for line in out.lines().filter(|l| l.contains("over HTTP") || l.contains("in-process recorder")) {
        let words: Vec<&str> = line.split_whitespace().collect();
        let at = words.iter().position(|w| *w == "events/s").unwrap();
        let rate: f64 = words[at - 1].parse().unwrap();
        assert!(rate > 0.0, "events were recorded: {line}");
        assert!(matches!(cpu_figures(line)[..], [cpu] if cpu > 0.0), "the CPU an event cost: {line}");
        // Over HTTP that CPU is split into the server's and the clients' thread's parts (the
        // clients' may round to no tick of 10 ms in so short a run; the server's does not).
        let split: Vec<f64> = ["server=", "clients="]
            .iter()
            .filter_map(|k| line.split(k).nth(1))
            .map(|v| v.split("us/event").next().unwrap().parse().unwrap())
            .collect();
        if line.contains("over HTTP") {
            assert!(matches!(split[..], [server, clients] if server > 0.0 && clients >= 0.0), "{line}");
        } else {
            assert!(split.is_empty(), "{line}");
        }
    }
}
