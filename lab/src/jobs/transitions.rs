//! The job state machine, as one table: [`transition`] says, for a job's state and what just
//! happened, where the job goes next, or why it cannot. Every move of a job anywhere in baas —
//! the job runner, the boot services, the agent's reports, a reservation's end, a cancel —
//! is one of these events, applied by [`Lab::job_event`](crate::Lab::job_event).
//!
//! ```text
//! queued ─Powered→ powering ─ScriptServed→ netbooting ─AgentEnrolled→ enrolled
//!   ─Progress(saving|writing|verifying)→ saving → writing → verifying (forward only)
//!   any state before rebooting ─Result(Verified)→ rebooting ─LocalBootSeen|SentToDisk→ booting
//!   booting ─Observed(Up)→ booted   ─Observed(Failure)→ failed   ─Observed(Unwatched)→ boot-unobserved
//!   any active ─Result(Done)→ booted   ─Result(Failed)|Timeout|BmcFailed→ failed
//!   any active ─Cancel|ReservationEnded→ cancelled
//! ```
//!
//! Some edges are wider than the happy path, on purpose: a machine that boots again before its
//! job is done is served the management OS again (`ScriptServed` from any state before
//! rebooting), its agent may enrol again from any active state, and progress may arrive before
//! the enrolment was recorded (from queued, powering or netbooting), as long as it goes forward.

use crate::agent_protocol::AgentPhase;
use crate::model::JobState;

/// Something that happened to a job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JobEvent {
    /// The job runner told the BMC to boot from the network and powered the machine (or, with
    /// no BMC, asked a person to).
    Powered,
    /// The BMC failed while the job runner powered the machine (the job may have moved on
    /// meanwhile; it fails all the same, at the step "powering").
    BmcFailed,
    /// The boot services served the management OS to the machine.
    ScriptServed,
    /// The agent in the management OS enrolled with the job's token.
    AgentEnrolled,
    /// The agent reported work in a phase.
    Progress(AgentPhase),
    /// The agent's final word, as the lab judged it.
    Result(Verdict),
    /// The machine network-booted to its own disk after the agent's verified work.
    LocalBootSeen,
    /// The BMC was told to boot the disk next, or the reboot timeout passed with no network
    /// boot seen: the agent's verified work is the last word.
    SentToDisk,
    /// What the machine's console showed (or that nothing could be seen) after it was sent
    /// to its disk.
    Observed(Observation),
    /// The job's phase outlived its timeout; `phase` is the one judged overdue (the failed step,
    /// even if the job moved on while it was being judged).
    Timeout { phase: JobState },
    /// The reservation the job ran in ended.
    ReservationEnded,
    /// Someone allowed to called the job off.
    Cancel,
}

/// The lab's judgement of an agent's final word.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// The job is done with nothing left to wait for (inventory, a plain boot, an unknown kind).
    Done,
    /// The disk was written (or read) and checked: the machine reboots next.
    Verified,
    /// The work failed at this step.
    Failed(String),
}

/// What watching a machine's console after the reboot to its written disk found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Observation {
    /// The system is up: the image's ready pattern showed, or (an image without one) the new
    /// boot printed and no failure showed within the settle time.
    Up,
    /// A failure pattern matched this console line (a kernel panic, a missing root device…).
    Failure(String),
    /// The boot could not be watched: no console, or it stayed silent.
    Unwatched,
}

/// Why an event cannot move a job.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// The job has ended; nothing moves it any more.
    #[error("the job has already {0}")]
    Ended(JobState),
    /// The event makes no sense in the job's state.
    #[error("a job that is {state} cannot take {event}")]
    Illegal { state: JobState, event: String },
    /// Progress may only go forward.
    #[error("the job is {state}; it cannot go back to {phase}")]
    Backwards { state: JobState, phase: JobState },
}

impl From<AgentPhase> for JobState {
    fn from(phase: AgentPhase) -> JobState {
        match phase {
            AgentPhase::Saving => JobState::Saving,
            AgentPhase::Writing => JobState::Writing,
            AgentPhase::Verifying => JobState::Verifying,
        }
    }
}

impl std::fmt::Display for JobEvent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            JobEvent::Powered => f.write_str("the machine being powered"),
            JobEvent::BmcFailed => f.write_str("a BMC failure"),
            JobEvent::ScriptServed => f.write_str("the management OS being served"),
            JobEvent::AgentEnrolled => f.write_str("an agent enrolling"),
            JobEvent::Progress(phase) => write!(f, "progress in {phase}"),
            JobEvent::Result(Verdict::Done) => f.write_str("the agent's final word"),
            JobEvent::Result(Verdict::Verified) => f.write_str("a verified result"),
            JobEvent::Result(Verdict::Failed(_)) => f.write_str("a failure"),
            JobEvent::LocalBootSeen => f.write_str("a network boot to the disk"),
            JobEvent::SentToDisk => f.write_str("the boot from disk"),
            JobEvent::Observed(Observation::Up) => f.write_str("the system coming up"),
            JobEvent::Observed(Observation::Failure(_)) => {
                f.write_str("a boot failure on the console")
            }
            JobEvent::Observed(Observation::Unwatched) => f.write_str("an unwatched boot"),
            JobEvent::Timeout { .. } => f.write_str("a timeout"),
            JobEvent::ReservationEnded => f.write_str("the reservation's end"),
            JobEvent::Cancel => f.write_str("a cancel"),
        }
    }
}

/// The next state of a job in `state` after `event`, or why there is none. The same state
/// back means the event is accepted and the job stays (a repeated boot, more progress).
pub fn transition(state: JobState, event: &JobEvent) -> Result<JobState, Refusal> {
    use JobEvent as E;
    use JobState as S;
    if state.is_final() {
        return Err(Refusal::Ended(state));
    }
    let before_reboot = S::BEFORE_REBOOT.contains(&state);
    let next = match (state, event) {
        (S::Queued, E::Powered) => S::Powering,
        (_, E::BmcFailed) => S::Failed,
        (_, E::ScriptServed) if before_reboot => S::Netbooting,
        (_, E::AgentEnrolled) => S::Enrolled,
        (_, E::Progress(phase)) => {
            let phase = S::from(*phase);
            let order = |s: S| S::ACTIVE.iter().position(|a| *a == s);
            if order(state) > order(phase) {
                return Err(Refusal::Backwards { state, phase });
            }
            phase
        }
        (_, E::Result(Verdict::Verified)) if before_reboot => S::Rebooting,
        (_, E::Result(Verdict::Done)) => S::Booted,
        (_, E::Result(Verdict::Failed(_))) => S::Failed,
        (S::Rebooting, E::LocalBootSeen | E::SentToDisk) => S::Booting,
        (S::Booting, E::Observed(Observation::Up)) => S::Booted,
        (S::Booting, E::Observed(Observation::Failure(_))) => S::Failed,
        (S::Booting, E::Observed(Observation::Unwatched)) => S::BootUnobserved,
        (_, E::Timeout { .. }) => S::Failed,
        (_, E::Cancel | E::ReservationEnded) => S::Cancelled,
        (state, event) => {
            return Err(Refusal::Illegal {
                state,
                event: event.to_string(),
            })
        }
    };
    Ok(next)
}

#[cfg(test)]
mod tests {
    use super::*;
    use JobEvent as E;
    use JobState as S;

    fn events() -> Vec<JobEvent> {
        vec![
            E::Powered,
            E::BmcFailed,
            E::ScriptServed,
            E::AgentEnrolled,
            E::Progress(AgentPhase::Saving),
            E::Progress(AgentPhase::Writing),
            E::Progress(AgentPhase::Verifying),
            E::Result(Verdict::Done),
            E::Result(Verdict::Verified),
            E::Result(Verdict::Failed("write".into())),
            E::LocalBootSeen,
            E::SentToDisk,
            E::Observed(Observation::Up),
            E::Observed(Observation::Failure("Kernel panic".into())),
            E::Observed(Observation::Unwatched),
            E::Timeout { phase: S::Writing },
            E::ReservationEnded,
            E::Cancel,
        ]
    }

    /// The whole table, written out by hand: (state, event) → next state. Anything not listed
    /// must be refused.
    fn legal() -> Vec<(JobState, JobEvent, JobState)> {
        let mut edges = vec![
            (S::Queued, E::Powered, S::Powering),
            (S::Rebooting, E::LocalBootSeen, S::Booting),
            (S::Rebooting, E::SentToDisk, S::Booting),
            (S::Booting, E::Observed(Observation::Up), S::Booted),
            (
                S::Booting,
                E::Observed(Observation::Failure("Kernel panic".into())),
                S::Failed,
            ),
            (
                S::Booting,
                E::Observed(Observation::Unwatched),
                S::BootUnobserved,
            ),
        ];
        let before_reboot = [
            S::Queued,
            S::Powering,
            S::Netbooting,
            S::Enrolled,
            S::Saving,
            S::Writing,
            S::Verifying,
        ];
        for state in before_reboot {
            edges.push((state, E::ScriptServed, S::Netbooting));
            edges.push((state, E::Result(Verdict::Verified), S::Rebooting));
        }
        for (rank, state) in S::ACTIVE.iter().copied().enumerate() {
            edges.push((state, E::AgentEnrolled, S::Enrolled));
            edges.push((state, E::Result(Verdict::Done), S::Booted));
            edges.push((state, E::Result(Verdict::Failed("write".into())), S::Failed));
            edges.push((state, E::Timeout { phase: S::Writing }, S::Failed));
            edges.push((state, E::BmcFailed, S::Failed));
            edges.push((state, E::ReservationEnded, S::Cancelled));
            edges.push((state, E::Cancel, S::Cancelled));
            for phase in [
                AgentPhase::Saving,
                AgentPhase::Writing,
                AgentPhase::Verifying,
            ] {
                let target = S::from(phase);
                let target_rank = S::ACTIVE.iter().position(|s| *s == target).unwrap();
                if rank <= target_rank {
                    edges.push((state, E::Progress(phase), target));
                }
            }
        }
        edges
    }

    #[test]
    fn every_legal_edge_is_taken_and_every_other_is_refused_with_a_reason() {
        let legal = legal();
        let mut taken = 0;
        let mut refused = 0;
        for state in S::ALL.iter().copied() {
            for event in events() {
                let expected = legal
                    .iter()
                    .find(|(s, e, _)| *s == state && *e == event)
                    .map(|(_, _, next)| *next);
                match (transition(state, &event), expected) {
                    (Ok(next), Some(want)) => {
                        assert_eq!(next, want, "{state} + {event}");
                        taken += 1;
                    }
                    (Err(refusal), None) => {
                        let reason = refusal.to_string();
                        assert!(
                            reason.contains(state.as_str()),
                            "the reason names the state: {reason}"
                        );
                        refused += 1;
                    }
                    (Ok(next), None) => panic!("{state} + {event} → {next} is not in the table"),
                    (Err(refusal), Some(want)) => {
                        panic!("{state} + {event} should go to {want}, refused: {refusal}")
                    }
                }
            }
        }
        assert_eq!(taken, legal.len(), "every listed edge was taken once");
        assert_eq!(taken + refused, S::ALL.len() * events().len());
    }

    #[test]
    fn ended_jobs_refuse_everything_and_progress_never_goes_back() {
        for ended in [S::Booted, S::BootUnobserved, S::Failed, S::Cancelled] {
            assert_eq!(
                transition(ended, &E::Cancel),
                Err(Refusal::Ended(ended)),
                "{ended}"
            );
        }
        assert_eq!(
            transition(S::Verifying, &E::Progress(AgentPhase::Writing))
                .unwrap_err()
                .to_string(),
            "the job is verifying; it cannot go back to writing"
        );
        assert_eq!(
            transition(S::Writing, &E::Progress(AgentPhase::Writing)),
            Ok(S::Writing),
            "more progress in the same phase keeps the job there"
        );
        assert_eq!(
            transition(S::Queued, &E::LocalBootSeen)
                .unwrap_err()
                .to_string(),
            "a job that is queued cannot take a network boot to the disk"
        );
    }
}
