//! The monthly cost of a stack's resources, from price tables kept in the repo, per
//! region. Pure: no I/O, no AWS call, nothing printed.

pub mod prices;

pub use prices::{Assumptions, CostError, PriceTable};
