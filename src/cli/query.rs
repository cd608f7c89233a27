//! `flightrec query` and `flightrec sql`: read a data directory without any lock, so they run
//! beside a serving recorder (the Parquet files and the WAL are readable by anyone).

use std::path::Path;
use std::process::ExitCode;

use flightrec::query::reader::query_dir;
use flightrec::query::sql::{open_events_view, run_sql};
use flightrec::query::{EventPage, EventQuery};

use super::CliError;

/// Where `query` reads: the data directory, or a running server.
pub enum Source<'a> {
    Dir(&'a Path),
    Server(flightrec::client::Endpoint),
}

pub fn run_query(source: Source<'_>, q: &EventQuery, json: bool) -> Result<ExitCode, CliError> {
    let page = match source {
        Source::Dir(root) => query_dir(root, q)?,
        Source::Server(server) => super::remote::query(&server, q)?,
    };
    if json {
        for e in &page.events {
            println!(
                "{}",
                serde_json::to_string(e).map_err(|e| CliError::Io { what: "encode JSON".into(), source: e.into() })?
            );
        }
        if let Some(c) = &page.next_cursor {
            eprintln!("next_cursor: {c}");
        }
    } else {
        print_table(&page);
    }
    Ok(ExitCode::SUCCESS)
}

fn print_table(page: &EventPage) {
    println!("{:<27} {:<20} {:<6} {:<36} {:<14} event_id", "timestamp", "type", "actor", "trace_id", "job_id");
    for e in &page.events {
        println!(
            "{:<27} {:<20} {:<6} {:<36} {:<14} {}",
            e.timestamp.to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
            e.ty,
            e.actor,
            e.trace_id,
            e.job_id.as_deref().unwrap_or("-"),
            e.event_id
        );
    }
    match &page.next_cursor {
        Some(c) => println!("{} events; more with --cursor {c}", page.events.len()),
        None => println!("{} events", page.events.len()),
    }
}

pub fn run_sql_verb(root: &Path, sql: &str, json: bool) -> Result<ExitCode, CliError> {
    let conn = open_events_view(root)?;
    let result = run_sql(&conn, sql)?;
    if json {
        for row in &result.rows {
            let obj: serde_json::Map<String, serde_json::Value> = result
                .columns
                .iter()
                .zip(row)
                .map(|(c, v)| (c.clone(), v.clone().map_or(serde_json::Value::Null, serde_json::Value::String)))
                .collect();
            println!("{}", serde_json::Value::Object(obj));
        }
    } else {
        println!("{}", result.columns.join(" | "));
        for row in &result.rows {
            let cells: Vec<&str> = row.iter().map(|v| v.as_deref().unwrap_or("NULL")).collect();
            println!("{}", cells.join(" | "));
        }
        println!("({} rows)", result.rows.len());
    }
    Ok(ExitCode::SUCCESS)
}
