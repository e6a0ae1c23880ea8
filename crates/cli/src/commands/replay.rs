//! `evident replay`: a recorded gateway session sent again to another
//! upstream, answers compared with the recording.

use std::process::ExitCode;

use anyhow::Context;
use evident_gateway::config::SecretRef;
use evident_gateway::replay::{self, ReplayTarget};

use crate::args::ReplayArgs;

pub fn run(args: &ReplayArgs) -> anyhow::Result<ExitCode> {
    let key = |name: &str| {
        std::env::var(name)
            .with_context(|| format!("{name} is not set (needed to read the recordings)"))
    };
    let mut headers = Vec::new();
    for header in &args.headers {
        let (name, reference) = header.split_once('=').with_context(|| {
            format!("--header {header:?}: expected NAME=env:VAR or NAME=file:PATH")
        })?;
        let reference = SecretRef::parse(reference)
            .map_err(|reason| anyhow::anyhow!("--header {name}: {reason}"))?;
        headers.push((name.to_owned(), reference.resolve()?));
    }
    let target = ReplayTarget {
        evident_url: args.server.clone(),
        api_key: key("EVIDENT_API_KEY")?,
        application_key: key("EVIDENT_APP_KEY")?,
        from: args.from.clone(),
        target: args.target.clone(),
        headers,
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .context("building the http client")?;
    let results = runtime.block_on(async {
        let calls = replay::recorded_session(&http, &target, &args.session).await?;
        eprintln!(
            "replaying {} calls of session {} to {}",
            calls.len(),
            args.session,
            args.target
        );
        anyhow::Ok(replay::replay(&http, &target, calls).await)
    })?;
    if args.json {
        println!("{}", replay::report_json(&args.session, &results));
    } else {
        print!("{}", replay::report(&args.session, &results));
    }
    let differs = results
        .iter()
        .any(|result| result.differs() || result.skipped.is_some());
    Ok(if differs {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}
