//! The probe loop: ask the coordinator what to test, test it, queue the
//! signed reports on disk, deliver them, and repeat.
//!
//! Every poll (30 s by default, ±20 % jitter so probes do not synchronise):
//!
//! 1. `GET /api/probe/assignments`, signed with the probe key
//!    (`resist_proto::probe_auth`). A 401 means the funder has not enrolled
//!    this key (or this machine's clock is far off): the agent says how to
//!    enrol it and keeps polling.
//! 2. Test each assigned node that the coordinator does not have a report for
//!    yet and that has no report in the local queue or from this process in
//!    this window (at most [`AgentConfig::concurrency`] at once), sign the
//!    reports and queue them.
//! 3. `POST /api/probe/reports` with the queue's reports, oldest first, in
//!    batches. Per receipt: `accepted` or `duplicate` leaves the queue,
//!    `refused` moves to `rejected/` with its reason; anything else (no
//!    receipt, an unknown status, a transport error, a 5xx) keeps the report
//!    for the next poll.
//!
//! Failures back off exponentially (up to [`AgentConfig::max_backoff`]).
//! Nothing here logs node addresses or credentials: nodes are named by id.
//!
//! The decisions are pure functions ([`tests_to_run`], [`dispositions`],
//! [`next_delay`], [`batch_len`]), so they are tested without a network.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use resist_client::{Client, ClientError, Method};
use resist_clock::Clock;
use resist_proto::api::{
    Assignment, Assignments, MAX_REPORTS_PER_BATCH, Receipt, ReceiptStatus, ReportBatch,
    ReportReceipts,
};
use resist_proto::endpoint::EndpointRules;
use resist_proto::probe_auth;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tracing::{debug, info, warn};

use crate::check::{self, CheckError, CheckLimits};
use crate::key::ProbeKey;
use crate::queue::{Queue, QueueError, Queued};

/// Where assignments are read.
pub const ASSIGNMENTS_PATH: &str = "/api/probe/assignments";
/// Where reports are delivered.
pub const REPORTS_PATH: &str = "/api/probe/reports";

/// How the agent behaves.
#[derive(Clone, Debug)]
pub struct AgentConfig {
    /// The region the operator says this probe is in (`--region`), e.g.
    /// `censored:RU`. Only compared with the coordinator's enrolment, to warn
    /// about a mistake; the coordinator's label is what counts.
    pub region: Option<String>,
    /// Time between polls (jittered by ±20 %).
    pub poll_interval: Duration,
    /// Longest wait between polls while the coordinator keeps failing.
    pub max_backoff: Duration,
    /// Tests run at once.
    pub concurrency: usize,
    /// Reports per `POST` (at most [`MAX_REPORTS_PER_BATCH`]).
    pub batch_size: usize,
    /// No new tests while this many reports wait in the queue (a bound on
    /// disk use during a long outage; nothing queued is ever dropped).
    pub max_queued: usize,
    /// Time limits and sample size of each test.
    pub limits: CheckLimits,
    /// Which node addresses may be dialled.
    pub rules: EndpointRules,
}

impl Default for AgentConfig {
    fn default() -> Self {
        Self {
            region: None,
            poll_interval: Duration::from_secs(30),
            max_backoff: Duration::from_secs(300),
            concurrency: 8,
            batch_size: MAX_REPORTS_PER_BATCH,
            max_queued: 10_000,
            limits: CheckLimits::default(),
            rules: EndpointRules::default(),
        }
    }
}

/// A poll or a flush failed; the agent logs it and tries again later.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AgentError {
    /// The coordinator answered 401: it does not know this probe's key (or
    /// the request's time was too far from its clock). The funder enrols the
    /// key with the command in the message; if it is enrolled, check this
    /// machine's clock.
    #[error(
        "this probe is not enrolled: resist admin probe enrol --public-key {public_key} --region {region} (the coordinator said: {message}; if it is enrolled, check this machine's clock)"
    )]
    NotEnrolled {
        /// This probe's public key, hex.
        public_key: String,
        /// The region given with `--region`, or `LABEL`.
        region: String,
        /// The coordinator's explanation.
        message: String,
    },
    /// The coordinator could not be reached, failed (5xx) or refused the
    /// request. Queued reports stay queued; the agent retries with backoff.
    #[error("{0}")]
    Coordinator(ClientError),
    /// The coordinator's assignments cannot be tested (e.g. an unusable
    /// canary address). Its operator must fix its configuration.
    #[error("{0}")]
    Assignment(#[from] CheckError),
    /// The local queue failed (disk full, permissions).
    #[error("{0}")]
    Queue(#[from] QueueError),
    /// A task of the agent failed unexpectedly; please report it.
    #[error("internal error in the probe agent: {0}; please report it")]
    Bug(String),
}

/// What one flush did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FlushSummary {
    /// Reports sent.
    pub sent: usize,
    /// Reports acknowledged (accepted or duplicate) and removed.
    pub removed: usize,
    /// Reports refused and moved to `rejected/`.
    pub rejected: usize,
    /// Reports kept for the next flush (no usable receipt).
    pub kept: usize,
}

/// What to do with a sent report, given its receipt.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Disposition {
    /// The coordinator has it (`accepted` or `duplicate`): delete it.
    Remove,
    /// The coordinator refused it for good: move it to `rejected/`.
    Reject {
        /// The coordinator's reason.
        reason: String,
    },
    /// No usable receipt: keep it and send it again later.
    Keep {
        /// Why.
        why: String,
    },
}

/// The probe agent.
#[derive(Debug)]
pub struct Agent {
    /// The coordinator's API.
    client: Client,
    /// Signs reports and requests.
    key: ProbeKey,
    /// Reports waiting for the coordinator.
    queue: Queue,
    /// Time for request headers and reports.
    clock: Arc<dyn Clock>,
    /// Behaviour.
    config: AgentConfig,
    /// `(window, node)` tested by this process in the current and previous
    /// window, so that a report the coordinator refused is not measured
    /// again at every poll.
    tested: HashSet<(i64, i64)>,
    /// Whether the region mismatch was already reported.
    warned_region: bool,
}

impl Agent {
    /// An agent for the coordinator behind `client`.
    pub fn new(
        client: Client,
        key: ProbeKey,
        queue: Queue,
        clock: Arc<dyn Clock>,
        config: AgentConfig,
    ) -> Agent {
        Agent {
            client,
            key,
            queue,
            clock,
            config,
            tested: HashSet::new(),
            warned_region: false,
        }
    }

    /// Polls, tests and delivers until `shutdown` completes. Tests in flight
    /// when it does are abandoned (their reports were not queued yet);
    /// everything queued stays on disk for the next start.
    pub async fn run(mut self, shutdown: impl Future<Output = ()>) {
        tokio::pin!(shutdown);
        let mut failures = 0u32;
        info!(
            public_key = %self.key.public_key_hex(),
            coordinator = %self.client.base(),
            "probe agent started"
        );
        loop {
            let ok = tokio::select! {
                () = &mut shutdown => break,
                ok = self.cycle() => ok,
            };
            failures = if ok { 0 } else { failures.saturating_add(1) };
            let delay = next_delay(
                self.config.poll_interval,
                self.config.max_backoff,
                failures,
                rand::random_range(0.8..=1.2),
            );
            if failures > 0 {
                info!(
                    failures,
                    retry_in_s = delay.as_secs(),
                    "will retry the coordinator"
                );
            }
            tokio::select! {
                () = &mut shutdown => break,
                () = tokio::time::sleep(delay) => {}
            }
        }
        info!("probe agent stopped");
    }

    /// One poll then one flush; whether both went well.
    async fn cycle(&mut self) -> bool {
        let polled = self.poll_once().await;
        if let Err(e) = &polled {
            warn!(error = %e, "polling for assignments failed");
        }
        let flushed = self.flush().await;
        match &flushed {
            Err(AgentError::NotEnrolled { .. }) if polled.is_err() => {} // said once above
            Err(e) => warn!(error = %e, "delivering reports failed; they stay queued"),
            Ok(s) if s.sent > 0 => debug!(?s, "reports delivered"),
            Ok(_) => {}
        }
        polled.is_ok() && flushed.is_ok()
    }

    /// Fetches the assignments, tests what needs testing and queues the
    /// signed reports. Returns how many reports were queued.
    pub async fn poll_once(&mut self) -> Result<usize, AgentError> {
        let assignments: Assignments = self
            .call(Method::GET, ASSIGNMENTS_PATH, None::<&()>)
            .await?;
        if let Some(mine) = &self.config.region
            && *mine != assignments.region
            && !self.warned_region
        {
            self.warned_region = true;
            warn!(
                enrolled = %assignments.region,
                given = %mine,
                "the coordinator enrolled this probe for another region than --region says; its reports count for the enrolled region: ask the funder to fix the enrolment, or correct --region"
            );
        }
        // A bad canary would fail every test the same way: blame no node.
        check::canary_address(&assignments.canary)?;

        let queue = self.queue.clone();
        let pending = blocking(move || queue.pending()).await??;
        let window = assignments.window;
        self.tested.retain(|(w, _)| *w >= window.saturating_sub(1));
        let room = self.config.max_queued.saturating_sub(pending.len());
        let mut todo = tests_to_run(&assignments, &pending, &self.tested);
        if todo.len() > room {
            warn!(
                queued = pending.len(),
                max = self.config.max_queued,
                skipped = todo.len() - room,
                "the report queue is full; not testing more until the coordinator takes reports"
            );
            todo.truncate(room);
        }
        if todo.is_empty() {
            return Ok(0);
        }
        debug!(window, nodes = todo.len(), "testing assigned nodes");

        let slots = Arc::new(Semaphore::new(self.config.concurrency.max(1)));
        let mut running = JoinSet::new();
        for assignment in todo.into_iter().cloned() {
            let slots = Arc::clone(&slots);
            let canary = assignments.canary.clone();
            let clock = Arc::clone(&self.clock);
            let (key, limits, rules) =
                (self.key.public_key(), self.config.limits, self.config.rules);
            running.spawn(async move {
                let _slot = slots.acquire_owned().await;
                let result =
                    check::check_node(&assignment, &canary, key, window, &limits, rules, &*clock)
                        .await;
                (assignment.node, result)
            });
        }

        let mut queued = 0;
        let mut first_error = None;
        while let Some(joined) = running.join_next().await {
            let (node, result) = match joined {
                Ok(r) => r,
                Err(e) => {
                    first_error.get_or_insert(AgentError::Bug(format!("test task: {e}")));
                    continue;
                }
            };
            let report = match result {
                Ok(report) => report,
                Err(e) => {
                    warn!(node, error = %e, "cannot test this node");
                    self.tested.insert((window, node));
                    continue;
                }
            };
            let signed = report.sign(self.key.signing_key());
            let queue = self.queue.clone();
            match blocking(move || queue.enqueue(&signed)).await {
                Ok(Ok(_)) => {
                    // Logged once the report is safely on disk: from here on
                    // it reaches the coordinator exactly once.
                    info!(
                        node,
                        window,
                        report = %hex::encode(report.report_id),
                        outcome = report.outcome.as_str(),
                        reply_code = report.reply_code,
                        connect_us = report.connect_us,
                        rtt_us = report.rtt_us,
                        sample_bytes = report.sample_bytes,
                        "tested and queued"
                    );
                    self.tested.insert((window, node));
                    queued += 1;
                }
                Ok(Err(e)) => {
                    first_error.get_or_insert(e.into());
                }
                Err(e) => {
                    first_error.get_or_insert(e);
                }
            }
        }
        match first_error {
            Some(e) => Err(e),
            None => Ok(queued),
        }
    }

    /// Delivers the queued reports, oldest first, and removes or rejects
    /// them by their receipts. Stops at the first batch that fails (the
    /// rest stay queued).
    pub async fn flush(&mut self) -> Result<FlushSummary, AgentError> {
        let queue = self.queue.clone();
        let pending = blocking(move || queue.pending()).await??;
        let mut summary = FlushSummary::default();
        for chunk in pending.chunks(batch_len(self.config.batch_size)) {
            let batch = ReportBatch {
                reports: chunk.iter().map(|q| STANDARD.encode(&q.signed)).collect(),
            };
            let receipts: ReportReceipts =
                self.call(Method::POST, REPORTS_PATH, Some(&batch)).await?;
            summary.sent += chunk.len();
            if receipts.receipts.len() != chunk.len() {
                warn!(
                    sent = chunk.len(),
                    receipts = receipts.receipts.len(),
                    "the coordinator answered a different number of receipts; reports without one stay queued"
                );
            }
            let ids: Vec<[u8; 16]> = chunk.iter().map(|q| q.report.report_id).collect();
            let decided = dispositions(&ids, &receipts.receipts);
            let queue = self.queue.clone();
            let applied = blocking(move || {
                let mut done = FlushSummary::default();
                for (id, d) in decided {
                    match d {
                        Disposition::Remove => {
                            queue.remove(&id)?;
                            done.removed += 1;
                        }
                        Disposition::Reject { reason } => {
                            warn!(report = %hex::encode(id), %reason, "the coordinator refused a report; moved to rejected/");
                            queue.reject(&id, &reason)?;
                            done.rejected += 1;
                        }
                        Disposition::Keep { why } => {
                            debug!(report = %hex::encode(id), %why, "report kept for the next flush");
                            done.kept += 1;
                        }
                    }
                }
                Ok::<_, QueueError>(done)
            })
            .await??;
            summary.removed += applied.removed;
            summary.rejected += applied.rejected;
            summary.kept += applied.kept;
        }
        Ok(summary)
    }

    /// A signed call to the coordinator.
    async fn call<B: serde::Serialize, T: serde::de::DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<&B>,
    ) -> Result<T, AgentError> {
        let now = self.clock.now().seconds();
        let authorization = probe_auth::header(self.key.signing_key(), method.as_str(), path, now);
        self.client
            .call_authorized(method, path, Some(&authorization), body)
            .await
            .map_err(|e| match e {
                ClientError::Refused {
                    status, message, ..
                } if status.as_u16() == 401 => AgentError::NotEnrolled {
                    public_key: self.key.public_key_hex(),
                    region: self.config.region.clone().unwrap_or_else(|| "LABEL".into()),
                    message,
                },
                e => AgentError::Coordinator(e),
            })
    }
}

/// The assignments to test now: not yet reported to the coordinator, not
/// waiting in the queue, and not already tested by this process, for the
/// assignments' window. Each node once, in the coordinator's order.
pub fn tests_to_run<'a>(
    assignments: &'a Assignments,
    queued: &[Queued],
    tested: &HashSet<(i64, i64)>,
) -> Vec<&'a Assignment> {
    let window = assignments.window;
    let mut seen: HashSet<(i64, i64)> = queued
        .iter()
        .map(|q| (q.report.window, q.report.node))
        .collect();
    seen.extend(tested.iter().copied());
    assignments
        .nodes
        .iter()
        .filter(|a| !a.reported && seen.insert((window, a.node)))
        .collect()
}

/// What to do with each report sent (`sent`, in order) given the receipts.
/// A receipt is matched by its report id; one without an id (the coordinator
/// could not decode the report) applies to the report at its position.
pub fn dispositions(sent: &[[u8; 16]], receipts: &[Receipt]) -> Vec<([u8; 16], Disposition)> {
    let by_id: HashMap<String, &Receipt> = receipts
        .iter()
        .filter(|r| !r.report_id.is_empty())
        .map(|r| (r.report_id.to_ascii_lowercase(), r))
        .collect();
    sent.iter()
        .enumerate()
        .map(|(i, id)| {
            let receipt = by_id
                .get(&hex::encode(id))
                .copied()
                .or_else(|| receipts.get(i).filter(|r| r.report_id.is_empty()));
            let d = match receipt {
                None => Disposition::Keep {
                    why: "no receipt".into(),
                },
                Some(r) => match &r.status {
                    ReceiptStatus::Accepted | ReceiptStatus::Duplicate => Disposition::Remove,
                    ReceiptStatus::Refused => Disposition::Reject {
                        reason: r
                            .reason
                            .clone()
                            .unwrap_or_else(|| "refused without a reason".into()),
                    },
                    ReceiptStatus::Unrecognised(other) => Disposition::Keep {
                        why: format!("unknown receipt status {other:?}"),
                    },
                },
            };
            (*id, d)
        })
        .collect()
}

/// The wait before the next poll: `poll` after a success, doubled per
/// consecutive failure up to `max_backoff` (but never below `poll`), times
/// `jitter` (drawn from 0.8–1.2).
pub fn next_delay(poll: Duration, max_backoff: Duration, failures: u32, jitter: f64) -> Duration {
    let base = poll
        .saturating_mul(1u32 << failures.min(16))
        .min(max_backoff.max(poll));
    Duration::try_from_secs_f64(base.as_secs_f64() * jitter.clamp(0.0, 2.0)).unwrap_or(base)
}

/// Reports per batch for a configured size: 1 to [`MAX_REPORTS_PER_BATCH`].
pub fn batch_len(configured: usize) -> usize {
    configured.clamp(1, MAX_REPORTS_PER_BATCH)
}

/// Runs blocking queue work off the async threads.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T, AgentError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| AgentError::Bug(format!("queue task: {e}")))
}

#[cfg(test)]
mod test {
    use resist_proto::endpoint::Endpoint;
    use resist_proto::report::{Outcome, Report};

    use super::*;

    fn assignment(node: i64, reported: bool) -> Assignment {
        Assignment {
            node,
            endpoint: Endpoint {
                host: "203.0.113.1".into(),
                port: 1080,
            },
            protocol: "socks5".into(),
            username: None,
            password: None,
            reported,
        }
    }

    fn queued(window: i64, node: i64) -> Queued {
        let id = node.to_be_bytes().repeat(2).try_into().unwrap();
        let report = Report::blank(id, [0; 32], window, node, Outcome::Relayed);
        Queued {
            report,
            signed: Vec::new(),
        }
    }

    #[test]
    fn tests_only_what_nobody_has() {
        let a = Assignments {
            window: 7,
            window_start: 0,
            window_end: 600,
            canary: "203.0.113.2:7000".into(),
            region: "free:DE".into(),
            nodes: vec![
                assignment(1, false), // to test
                assignment(2, true),  // the coordinator has it
                assignment(3, false), // queued for this window
                assignment(4, false), // queued for an older window only: test
                assignment(5, false), // tested by this process (refused, say)
                assignment(1, false), // listed twice: once
            ],
        };
        let queue = [queued(7, 3), queued(6, 4)];
        let tested = HashSet::from([(7, 5), (6, 1)]);
        let nodes: Vec<i64> = tests_to_run(&a, &queue, &tested)
            .iter()
            .map(|a| a.node)
            .collect();
        assert_eq!(nodes, [1, 4]);
    }

    fn receipt(id: &str, status: &str, reason: Option<&str>) -> Receipt {
        Receipt {
            report_id: id.into(),
            status: status.into(),
            reason: reason.map(Into::into),
        }
    }

    #[test]
    fn receipts_decide_what_leaves_the_queue() {
        let ids = [[1u8; 16], [2; 16], [3; 16], [4; 16], [5; 16], [6; 16]];
        let h = |i: usize| hex::encode(ids[i]);
        // Out of order, one upper-case, one without id, one unknown, one missing.
        let receipts = [
            receipt(&h(1), "duplicate", None),
            receipt(&h(0).to_uppercase(), "accepted", None),
            receipt(&h(2), "refused", Some("stale: measured 3 days ago")),
            receipt("", "refused", None),
            receipt(&h(4), "postponed", None),
        ];
        let d = dispositions(&ids, &receipts);
        let want = [
            Disposition::Remove,
            Disposition::Remove,
            Disposition::Reject {
                reason: "stale: measured 3 days ago".into(),
            },
            Disposition::Reject {
                reason: "refused without a reason".into(),
            },
            Disposition::Keep {
                why: "unknown receipt status \"postponed\"".into(),
            },
            Disposition::Keep {
                why: "no receipt".into(),
            },
        ];
        assert_eq!(d.len(), ids.len());
        for (i, (id, got)) in d.into_iter().enumerate() {
            assert_eq!(id, ids[i]);
            assert_eq!(got, want[i], "report {i}");
        }
    }

    #[test]
    fn a_receipt_for_another_report_is_not_taken_by_position() {
        let d = dispositions(
            &[[1; 16]],
            &[receipt(&hex::encode([9u8; 16]), "accepted", None)],
        );
        assert!(matches!(d[0].1, Disposition::Keep { .. }));
    }

    #[test]
    fn batches_stay_within_the_api_limit() {
        assert_eq!(batch_len(0), 1);
        assert_eq!(batch_len(10), 10);
        assert_eq!(batch_len(256), 256);
        assert_eq!(batch_len(100_000), MAX_REPORTS_PER_BATCH);
        assert_eq!(AgentConfig::default().batch_size, 256);
    }

    #[test]
    fn delays_back_off_and_jitter() {
        let poll = Duration::from_secs(30);
        let max = Duration::from_secs(300);
        assert_eq!(next_delay(poll, max, 0, 1.0), poll);
        assert_eq!(next_delay(poll, max, 1, 1.0), Duration::from_secs(60));
        assert_eq!(next_delay(poll, max, 3, 1.0), Duration::from_secs(240));
        assert_eq!(next_delay(poll, max, 4, 1.0), max);
        assert_eq!(next_delay(poll, max, u32::MAX, 1.0), max);
        assert_eq!(next_delay(poll, max, 0, 0.8), Duration::from_secs(24));
        assert_eq!(next_delay(poll, max, 0, 1.2), Duration::from_secs(36));
        // A backoff cap below the poll interval does not shorten the poll.
        assert_eq!(next_delay(poll, Duration::from_secs(1), 2, 1.0), poll);
    }
}
