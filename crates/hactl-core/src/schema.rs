//! What a resource kind's properties mean to the planner.

/// How a change to a property is carried out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UpdateMode {
    /// The provider can change it on the live object.
    InPlace,
    /// The object must be deleted and created again.
    Replace,
    /// Set when the object is created, then owned by something else (an ECS service's task
    /// count under auto scaling, an ASG's desired capacity under a capacity provider):
    /// never compared, so never reported as drift.
    CreateOnly,
}

#[derive(Clone, Copy, Debug)]
pub struct PropSchema {
    pub name: &'static str,
    pub update: UpdateMode,
    /// Lists compared as sets (order and duplicates ignored).
    pub set: bool,
    /// Never rendered in plan output or logs.
    pub sensitive: bool,
}

impl PropSchema {
    pub const fn in_place(name: &'static str) -> Self {
        PropSchema { name, update: UpdateMode::InPlace, set: false, sensitive: false }
    }
    pub const fn replace(name: &'static str) -> Self {
        PropSchema { name, update: UpdateMode::Replace, set: false, sensitive: false }
    }
    pub const fn create_only(name: &'static str) -> Self {
        PropSchema { name, update: UpdateMode::CreateOnly, set: false, sensitive: false }
    }
    pub const fn as_set(mut self) -> Self {
        self.set = true;
        self
    }
    pub const fn sensitive(mut self) -> Self {
        self.sensitive = true;
        self
    }
}

#[derive(Debug)]
pub struct KindSchema {
    /// Kind name, `service.type`, e.g. `ec2.subnet`.
    pub kind: &'static str,
    pub props: &'static [PropSchema],
}

impl KindSchema {
    pub fn prop(&self, name: &str) -> Option<&PropSchema> {
        self.props.iter().find(|p| p.name == name)
    }
}
