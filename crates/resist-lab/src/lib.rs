#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![deny(clippy::unwrap_used)]

pub mod censor;
pub mod error;
pub mod fixture;
pub mod plan;
pub mod procs;
pub mod scenario;
pub mod sys;
pub mod timeline;
pub mod topology;
pub mod verdict;
pub mod world;

use std::future::Future;

pub use error::LabError;
pub use scenario::{Outcome, Scenario};
pub use world::Options;

/// Builds the lab, runs `scenario` in it, prints the timeline, the checks and
/// the findings (when `options.print`), and tears everything down, also when
/// `interrupted` completes first (Ctrl-C) or a step fails. Fails with
/// [`LabError::ChecksFailed`] when the scenario ran but a check failed.
pub async fn run(
    scenario: Scenario,
    options: &Options,
    interrupted: impl Future<Output = ()>,
) -> Result<Outcome, LabError> {
    let tools = sys::preflight()?;
    let work = async {
        let mut world = world::World::start(tools, options).await?;
        world
            .timeline
            .event("lab", format!("scenario {scenario} begins"));
        let outcome = scenario::run(scenario, &mut world).await;
        let logs = world.logs().to_owned();
        let passed = outcome
            .as_ref()
            .is_ok_and(|o| o.checks.iter().all(|c| c.passed));
        if passed {
            world.discard_logs();
        }
        let kept = options.keep_logs.is_some() || !passed;
        world.timeline.event("lab", "tearing down");
        drop(world);
        let outcome = outcome?;
        if options.print {
            println!("\n{scenario}: checks");
            for c in &outcome.checks {
                println!("  {c}");
            }
            if !outcome.findings.is_empty() {
                println!("\n{scenario}: findings");
                for f in &outcome.findings {
                    println!("  {f}");
                }
            }
            if kept {
                println!("\nlogs: {}", logs.display());
            }
        }
        let failed = outcome.checks.iter().filter(|c| !c.passed).count();
        if failed > 0 {
            return Err(LabError::ChecksFailed {
                scenario: scenario.to_string(),
                failed,
                total: outcome.checks.len(),
                logs,
            });
        }
        Ok(outcome)
    };
    tokio::select! {
        r = work => r,
        () = interrupted => Err(LabError::Interrupted),
    }
}
