//! `evident monitor ...`: monitors on a running server, through the same
//! API as Datadog's `MonitorsApi` (each change recorded by the server).

use std::process::ExitCode;

use reqwest::Method;
use serde_json::{Value, json};

use crate::args::{MonitorAction, MonitorArgs};
use crate::remote::{self, DEFAULT_SERVER};

/// What a monitor watches, from its query.
fn kind(query: &str) -> &'static str {
    match evident_monitor::parse(query).map(|query| query.kind) {
        Ok(evident_monitor::Kind::NewValue { .. }) => "new value",
        Ok(evident_monitor::Kind::Threshold { comparator, .. }) if !comparator.upward() => {
            "no data"
        }
        Ok(_) => "threshold",
        Err(_) => "invalid",
    }
}

/// When the monitor last left OK, from its groups (epoch seconds).
fn last_triggered(monitor: &Value) -> String {
    let newest = monitor["state"]["groups"]
        .as_object()
        .into_iter()
        .flat_map(|groups| groups.values())
        .filter_map(|group| group["last_triggered_ts"].as_i64())
        .max();
    newest.map_or_else(
        || "-".into(),
        |seconds| {
            evident_model::Timestamp::from_nanos(seconds.saturating_mul(1_000_000_000)).to_string()
        },
    )
}

fn state(monitor: &Value) -> String {
    let state = monitor["overall_state"].as_str().unwrap_or("?").to_owned();
    if monitor["muted"] == true {
        format!("{state} (muted)")
    } else {
        state
    }
}

pub fn run(args: &MonitorArgs) -> anyhow::Result<ExitCode> {
    let http = reqwest::blocking::Client::new();
    let server = args
        .server
        .clone()
        .unwrap_or_else(|| DEFAULT_SERVER.to_owned());
    let call = |method: Method, path: &str, body: Option<&Value>| {
        remote::send(&http, &server, method, path, body)
    };
    let answer = match &args.action {
        MonitorAction::List { name, tags, json } => {
            let mut path = "/api/v1/monitor".to_owned();
            let mut params = Vec::new();
            if let Some(name) = name {
                params.push(format!("name={}", encode(name)));
            }
            if let Some(tags) = tags {
                params.push(format!("monitor_tags={}", encode(tags)));
            }
            if !params.is_empty() {
                path = format!("{path}?{}", params.join("&"));
            }
            call(Method::GET, &path, None)?.map(|monitors| {
                if *json {
                    println!(
                        "{}",
                        serde_json::to_string_pretty(&monitors).unwrap_or_default()
                    );
                    return;
                }
                println!(
                    "{:<6} {:<40} {:<10} {:<16} LAST TRIGGERED",
                    "ID", "NAME", "TYPE", "STATE"
                );
                for monitor in monitors.as_array().into_iter().flatten() {
                    println!(
                        "{:<6} {:<40} {:<10} {:<16} {}",
                        monitor["id"],
                        monitor["name"].as_str().unwrap_or(""),
                        kind(monitor["query"].as_str().unwrap_or("")),
                        state(monitor),
                        last_triggered(monitor)
                    );
                }
            })
        }
        MonitorAction::Show { id } => call(Method::GET, &format!("/api/v1/monitor/{id}"), None)?
            .map(|monitor| {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&monitor).unwrap_or_default()
                )
            }),
        MonitorAction::Create {
            name,
            query,
            message,
            tags,
            priority,
            warning,
            renotify_interval,
            evaluation_delay,
            no_data_timeframe,
        } => {
            let mut options = json!({});
            if let Some(warning) = warning {
                options["thresholds"] = json!({"warning": warning});
            }
            if let Some(minutes) = renotify_interval {
                options["renotify_interval"] = json!(minutes);
            }
            if let Some(seconds) = evaluation_delay {
                options["evaluation_delay"] = json!(seconds);
            }
            if let Some(minutes) = no_data_timeframe {
                options["notify_no_data"] = json!(true);
                options["no_data_timeframe"] = json!(minutes);
            }
            let body = json!({
                "name": name, "type": "audit alert", "query": query, "message": message,
                "tags": tags, "priority": priority, "options": options,
            });
            call(Method::POST, "/api/v1/monitor", Some(&body))?.map(|monitor| {
                println!(
                    "created monitor {} ({}): {}",
                    monitor["id"],
                    monitor["name"].as_str().unwrap_or(""),
                    state(&monitor)
                );
            })
        }
        MonitorAction::Delete { id } => {
            call(Method::DELETE, &format!("/api/v1/monitor/{id}"), None)?
                .map(|_| println!("deleted monitor {id}"))
        }
        MonitorAction::Mute { id, scope, end } => call(
            Method::POST,
            &format!("/api/v1/monitor/{id}/mute"),
            Some(&json!({"scope": scope, "end": end})),
        )?
        .map(|_| println!("muted monitor {id} on {}", scope.as_deref().unwrap_or("*"))),
        MonitorAction::Unmute { id, scope, all } => call(
            Method::POST,
            &format!("/api/v1/monitor/{id}/unmute"),
            Some(&json!({"scope": scope, "all_scopes": all})),
        )?
        .map(|_| println!("unmuted monitor {id}")),
    };
    Ok(match answer {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::from(2)
        }
    })
}

/// Percent-encodes a query parameter.
fn encode(text: &str) -> String {
    text.bytes()
        .map(|byte| match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (byte as char).to_string()
            }
            _ => format!("%{byte:02X}"),
        })
        .collect()
}
