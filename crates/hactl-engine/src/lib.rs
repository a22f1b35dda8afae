//! The hactl engine: refresh live state in batches, plan (diff desired against live),
//! apply a plan over its DAG with bounded parallelism while journaling every finished
//! action into state, and report drift. It never prints: it emits [`Event`]s that the
//! binary renders.

mod apply;
mod drift;
mod error;
mod events;
mod import;
mod planner;
mod provider;
mod refresh;

pub use apply::{
    apply, check_plan, ApplyOptions, ApplyReport, BeforeCall, BeforeJournal, CancelFlag, StepFailure,
};
pub use drift::{drift_report, DriftChange, DriftReport, DriftedResource, GoneResource};
pub use events::{Event, EventSink, NullSink};
pub use import::{check_imports, discover, record_imports, Candidate, Checked, FoundBy, ImportRequest};
pub use planner::{catch_up, edges, make_plan, make_plan_with, place_state};
pub use provider::{
    Applied, AwsCall, Ctx, DeleteOptions, ErrorDetail, Failure, LiveObject, Provider, ProviderError,
    ReadCache, ReadTarget, Registry, UpdateRequest, BODY_EXCERPT,
};
pub use refresh::{refresh, LiveView, RefreshScope};

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("no provider for resource kind `{0}`")]
    UnknownKind(String),
    #[error("no providers for location `{0}`: this registry is bound to one region")]
    UnknownLocation(hactl_core::Location),
    #[error("reading {kind}: {source}")]
    Read { kind: String, source: ProviderError },
    #[error(transparent)]
    Order(#[from] hactl_core::exec::OrderError),
    #[error(
        "the saved plan was made against state serial {plan_serial} (lineage {plan_lineage}), \
         but the state is now at serial {state_serial} (lineage {state_lineage}); make a new plan"
    )]
    StalePlan { plan_serial: u64, plan_lineage: String, state_serial: u64, state_lineage: String },
    #[error("the saved plan is for stack `{plan}`, not `{config}`")]
    WrongStack { plan: String, config: String },
    #[error("the saved plan has format {0}; this hactl reads format {1}")]
    PlanVersion(u32, u32),
    #[error("state: {0}")]
    State(#[from] hactl_state::StateError),
    #[error(
        "refusing to delete {} with deletion protection on: {}; nothing was changed. \
         Pass --allow-delete-protected to turn protection off and delete {}, \
         or set deletion_protection = false in the config and apply first",
        if .0.len() == 1 { "an object" } else { "objects" },
        .0.iter().map(|a| a.to_string()).collect::<Vec<_>>().join(", "),
        if .0.len() == 1 { "it" } else { "them" }
    )]
    Protected(Vec<hactl_core::Address>),
    #[error(
        "{} not this stack's but {} a name it uses (no ownership tags, not in state): {}; nothing was changed. \
         Import {} (`hactl import ADDRESS ID`), rename the stack, or delete {} yourself",
        if .0.len() == 1 { "an object is" } else { "objects are" },
        if .0.len() == 1 { "has" } else { "have" },
        .0.iter().map(|c| format!("{} {} (for {})", c.kind, c.id, c.address)).collect::<Vec<_>>().join(", "),
        if .0.len() == 1 { "it" } else { "them" },
        if .0.len() == 1 { "it" } else { "them" }
    )]
    Conflicts(Vec<hactl_core::plan::Conflict>),
    #[error(transparent)]
    Targeting(#[from] hactl_core::select::Conflict),
}
