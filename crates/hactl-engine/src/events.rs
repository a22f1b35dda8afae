use hactl_core::exec::Phase;
use hactl_core::Address;
use std::time::Duration;

/// What the engine reports while it works. The binary renders these on stderr.
#[derive(Clone, Debug)]
pub enum Event {
    /// A batched read of one resource kind started / finished.
    ReadStarted {
        kind: String,
        targets: usize,
    },
    ReadFinished {
        kind: String,
        found: usize,
        elapsed: Duration,
    },
    StepStarted {
        address: Address,
        phase: Phase,
    },
    /// A long wait inside a step (e.g. a NAT gateway becoming available).
    Progress {
        address: Address,
        message: String,
        elapsed: Duration,
    },
    Retrying {
        address: Address,
        error: String,
        attempt: u32,
        wait: Duration,
    },
    StepFinished {
        address: Address,
        phase: Phase,
        id: Option<String>,
        elapsed: Duration,
    },
    StepFailed {
        address: Address,
        phase: Phase,
        error: String,
    },
    StepSkipped {
        address: Address,
        because: Address,
    },
    StateSaved {
        serial: u64,
    },
    /// Ctrl-C seen: nothing new starts; in-flight steps finish.
    Interrupted {
        in_flight: usize,
    },
}

pub trait EventSink: Send + Sync {
    fn emit(&self, event: Event);
}

/// Discards events.
pub struct NullSink;

impl EventSink for NullSink {
    fn emit(&self, _event: Event) {}
}
