//! Pure core of hactl: addresses, property values, the desired resource graph, property
//! diffs, plans and the execution order of a plan. Nothing here performs I/O.

pub mod address;
pub mod diff;
pub mod dot;
pub mod exec;
pub mod graph;
pub mod kinds;
pub mod location;
pub mod plan;
pub mod schema;
pub mod select;
pub mod value;

pub use address::Address;
pub use diff::{diff_props, PropChange};
pub use graph::{DesiredGraph, GraphError, ResourceSpec};
pub use location::Location;
pub use plan::{ActionType, Plan, PlannedAction};
pub use schema::{KindSchema, PropSchema, UpdateMode};
pub use select::Targeting;
pub use value::{Props, Ref, Value};

/// Tag carrying the stack name on every taggable resource hactl creates.
pub const TAG_STACK: &str = "hactl:stack";
/// Tag carrying the resource's stable address on every taggable resource hactl creates.
pub const TAG_ADDRESS: &str = "hactl:address";
