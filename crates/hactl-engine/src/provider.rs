//! The provider shape: one provider per resource kind.

use crate::events::{Event, EventSink};
use crate::EngineError;
use async_trait::async_trait;
use hactl_core::{Address, KindSchema, Location, PropChange, Props, Value};
use std::any::Any;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{Mutex, OnceCell};

pub use crate::error::{AwsCall, ErrorDetail, Failure, ProviderError, BODY_EXCERPT};

/// What the engine wants read: a resource it knows of, by state id and/or address.
#[derive(Clone, Debug)]
pub struct ReadTarget {
    pub address: Address,
    /// The id recorded in state, if any.
    pub id: Option<String>,
    /// Desired properties (references resolved as far as known) or, without a desired
    /// spec, the recorded ones. Kinds without tags find their objects by natural key
    /// (e.g. route table + destination) from these.
    pub props: Props,
    /// The properties state recorded for the object, if any. Kinds whose objects are
    /// immutable (ECS task definition revisions) answer these for a recorded id that is
    /// still live instead of describing it again.
    pub recorded: Option<Props>,
}

/// A live object as a provider sees it.
#[derive(Clone, Debug, PartialEq)]
pub struct LiveObject {
    pub id: String,
    /// The address it belongs to: from its `hactl:address` tag, or the target whose
    /// natural key it matches (untagged kinds).
    pub address: Option<Address>,
    /// Properties in the same normalised form as desired properties.
    pub props: Props,
    /// Values other resources may reference (`id` is implied).
    pub outputs: BTreeMap<String, Value>,
    /// Carries this stack's `hactl:stack` tag (or belongs to an object that does).
    pub owned: bool,
}

impl LiveObject {
    pub fn output(&self, name: &str) -> Option<Value> {
        if name == "id" {
            Some(Value::Str(self.id.clone()))
        } else {
            self.outputs.get(name).cloned()
        }
    }
}

/// The result of a create or update.
#[derive(Clone, Debug, Default)]
pub struct Applied {
    pub id: String,
    pub outputs: BTreeMap<String, Value>,
}

pub struct UpdateRequest<'a> {
    pub address: &'a Address,
    pub id: &'a str,
    /// All desired properties, resolved.
    pub desired: &'a Props,
    /// The properties that differ, with the live value before and the desired after.
    pub changes: &'a [PropChange],
}

#[async_trait]
pub trait Provider: Send + Sync {
    fn schema(&self) -> &'static KindSchema;

    fn kind(&self) -> &'static str {
        self.schema().kind
    }

    /// Reads every live object of this kind that belongs to the stack or to a target,
    /// in one batched call (filtered by the stack tag, falling back to the target ids
    /// for objects that lost the tag). Never one call per resource.
    async fn read(&self, ctx: &Ctx, targets: &[ReadTarget]) -> Result<Vec<LiveObject>, ProviderError>;

    /// The properties `read` uses from its targets' `props` to find objects (natural
    /// keys: the load balancer of a listener, the cluster of a service). Refresh reads
    /// this kind once the kinds these properties refer to are read; a reference in any
    /// other property may still be unknown when `read` runs. `None` (the default): every
    /// property, so every kind referred to is read first.
    fn read_keys(&self) -> Option<&'static [&'static str]> {
        None
    }

    /// Creates the object, tagged with the stack and address; idempotent where the API
    /// allows (client tokens derived from stack + address).
    async fn create(&self, ctx: &Ctx, address: &Address, props: &Props) -> Result<Applied, ProviderError>;

    /// Changes the live object in place.
    async fn update(&self, ctx: &Ctx, req: UpdateRequest<'_>) -> Result<Applied, ProviderError>;

    /// Deletes the object and waits until it is gone. An object that is already gone
    /// is success. `ctx.delete_options` says whether protected objects may go, whether a
    /// final snapshot is taken and whether secrets skip their recovery window.
    async fn delete(&self, ctx: &Ctx, id: &str, recorded: &Props) -> Result<(), ProviderError>;

    /// Whether a live object (its read properties) is protected against deletion: a plan
    /// that deletes or replaces it is refused unless
    /// [`DeleteOptions::allow_delete_protected`]. Databases answer their
    /// `deletion_protection`; most kinds are never protected.
    fn deletion_protected(&self, _live: &Props) -> bool {
        false
    }

    /// Brings `live` (what `read` returned: what AWS says) into the form of `desired`
    /// where the two mean the same: AWS's defaults for settings the config leaves unset,
    /// equivalent forms (a policy document's order, a URL-encoded document, a case AWS
    /// folds), fields AWS or an autoscaler owns. The one declared place per kind for diff
    /// suppression; `read` itself never shapes values by what is desired. `desired` may
    /// hold [`Value::Unknown`] (known after apply): leave those alone. The default
    /// changes nothing.
    fn normalize(&self, _desired: &Props, _live: &mut Props) {}

    /// A note for the plan about how an update of these `changes` will be carried out
    /// (an ECS service's rolling or blue/green deployment); `None` (the default): none.
    fn update_note(&self, _desired: &Props, _changes: &[PropChange]) -> Option<String> {
        None
    }

    /// The property changes from `live` to `desired`, after [`Provider::normalize`].
    /// Plans (desired vs live) and drift (recorded vs live) both diff through it.
    fn diff(&self, desired: &Props, live: &Props) -> Vec<PropChange> {
        let mut live = live.clone();
        self.normalize(desired, &mut live);
        hactl_core::diff_props(self.schema(), desired, &live)
    }

    /// Whether the kind's API is global (IAM, CloudWatch dashboards, Route 53): its
    /// objects are the account's, not a region's, and live at [`Location::Global`]. The
    /// kind's declaration in [`hactl_core::kinds`] says.
    fn global(&self) -> bool {
        hactl_core::kinds::info(self.kind()).is_some_and(|k| k.global)
    }
}

/// How deletions behave (`hactl destroy` / `hactl apply` flags).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DeleteOptions {
    /// Delete objects with deletion protection on (turning it off first).
    pub allow_delete_protected: bool,
    /// Delete databases without a final snapshot.
    pub skip_final_snapshot: bool,
    /// Delete secrets at once instead of scheduling deletion after the recovery window.
    pub force_delete_secrets: bool,
}

/// Shares one describe call among the providers that need its answer during one
/// refresh (route tables, routes and associations all come from DescribeRouteTables).
#[derive(Default)]
pub struct ReadCache {
    cells: Mutex<HashMap<String, Arc<CacheCell>>>,
}

type CacheCell = OnceCell<Arc<dyn Any + Send + Sync>>;

impl ReadCache {
    pub async fn get_or_try_init<T, F, Fut>(&self, key: &str, init: F) -> Result<Arc<T>, ProviderError>
    where
        T: Any + Send + Sync,
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T, ProviderError>>,
    {
        let cell = {
            let mut cells = self.cells.lock().await;
            cells.entry(key.to_string()).or_default().clone()
        };
        let any = cell
            .get_or_try_init(|| async { init().await.map(|v| Arc::new(v) as Arc<dyn Any + Send + Sync>) })
            .await?
            .clone();
        any.downcast::<T>()
            .map_err(|_| ProviderError::fatal(format!("read cache key `{key}` holds another type")))
    }
}

/// What a provider call gets from the engine.
#[derive(Clone)]
pub struct Ctx {
    pub stack: String,
    /// The resource a create/update/delete works on.
    pub address: Option<Address>,
    /// Where the provider call works (its provider's clients are bound there); `None`
    /// outside a read or a step.
    pub location: Option<Location>,
    /// The step being run (apply only).
    pub phase: Option<hactl_core::exec::Phase>,
    /// On create: the id state recorded for the address before (an object deleted
    /// outside hactl), so idempotency tokens differ from that object's create.
    pub generation: Option<String>,
    /// The describe answers shared during one refresh, of this context's location.
    pub cache: Arc<ReadCache>,
    /// The read caches of every location of this refresh: answers of one region's
    /// clients never serve another region's read.
    caches: Arc<std::sync::Mutex<BTreeMap<Location, Arc<ReadCache>>>>,
    events: Arc<dyn EventSink>,
    started: Instant,
    /// How long a provider may wait for an object to settle (NAT gateway available, ...).
    pub wait_timeout: Duration,
    /// Poll interval cap while waiting.
    pub poll_max: Duration,
    /// How deletions behave.
    pub delete_options: DeleteOptions,
}

impl Ctx {
    pub fn new(stack: &str, events: Arc<dyn EventSink>) -> Self {
        Ctx {
            stack: stack.to_string(),
            address: None,
            location: None,
            phase: None,
            generation: None,
            cache: Arc::new(ReadCache::default()),
            caches: Arc::default(),
            events,
            started: Instant::now(),
            wait_timeout: Duration::from_secs(20 * 60),
            poll_max: Duration::from_secs(15),
            delete_options: DeleteOptions::default(),
        }
    }

    /// The same context with an empty read cache (one per refresh).
    pub fn with_fresh_cache(&self) -> Self {
        let mut c = self.clone();
        c.cache = Arc::new(ReadCache::default());
        c.caches = Arc::default();
        c
    }

    /// The same context working at `location`, with that location's read cache.
    pub fn at(&self, location: &Location) -> Self {
        let mut c = self.clone();
        c.location = Some(location.clone());
        let mut caches = self.caches.lock().unwrap_or_else(|p| p.into_inner());
        c.cache = caches.entry(location.clone()).or_default().clone();
        c
    }

    pub fn for_address(&self, address: &Address) -> Self {
        let mut c = self.clone();
        c.address = Some(address.clone());
        c.started = Instant::now();
        c
    }

    pub fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }

    /// Reports progress of a long wait.
    pub fn progress(&self, message: impl Into<String>) {
        if let Some(address) = &self.address {
            self.events.emit(Event::Progress {
                address: address.clone(),
                message: message.into(),
                elapsed: self.elapsed(),
            });
        }
    }

    pub(crate) fn events(&self) -> &Arc<dyn EventSink> {
        &self.events
    }

    /// Polls `check` with backoff (1 s doubling up to `poll_max`) until it answers
    /// `Some`, reporting progress, or fails after `wait_timeout`.
    pub async fn wait_for<T, F, Fut>(&self, what: &str, mut check: F) -> Result<T, ProviderError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<Option<T>, ProviderError>>,
    {
        let start = Instant::now();
        let mut delay = Duration::from_millis(250);
        let mut last_report = Instant::now();
        loop {
            if let Some(v) = check().await? {
                return Ok(v);
            }
            if start.elapsed() > self.wait_timeout {
                return Err(ProviderError::fatal(format!(
                    "timed out after {}s waiting for {what}",
                    start.elapsed().as_secs()
                )));
            }
            if last_report.elapsed() >= Duration::from_secs(5) {
                self.progress(format!("waiting for {what}"));
                last_report = Instant::now();
            }
            tokio::time::sleep(delay).await;
            delay = (delay * 2).min(self.poll_max);
        }
    }
}

/// Builds the providers of another region (SDK clients bound to that region).
pub type RegionalFactory = dyn Fn(&str) -> Registry + Send + Sync;

/// The providers, by kind and location: the one place clients come from.
///
/// The providers registered here are bound to the home region (`[stack] region`); a
/// global kind (registered with [`Registry::register_global`]) lives at
/// [`Location::Global`] and is reached through them too. Providers of another region are
/// built on first use by the factory given to [`Registry::with_regions`] and kept.
#[derive(Clone, Default)]
pub struct Registry {
    providers: BTreeMap<&'static str, Arc<dyn Provider>>,
    global: BTreeSet<&'static str>,
    /// The region the providers above are bound to; `None`: any region (test registries).
    home: Option<String>,
    factory: Option<Arc<RegionalFactory>>,
    regions: Arc<std::sync::Mutex<BTreeMap<String, Registry>>>,
}

impl Registry {
    pub fn new() -> Self {
        Registry::default()
    }

    /// Binds this registry to `home` and lets it build the providers of other regions
    /// with `factory`.
    pub fn with_regions(mut self, home: &str, factory: Arc<RegionalFactory>) -> Self {
        self.home = Some(home.to_string());
        self.factory = Some(factory);
        self
    }

    /// The home region, if the registry is bound to one.
    pub fn home(&self) -> Option<&str> {
        self.home.as_deref()
    }

    /// Registers a kind's provider. A global kind ([`Provider::global`]) lives at
    /// [`Location::Global`], once for the account, whatever region declares it.
    pub fn register(&mut self, p: Arc<dyn Provider>) {
        if p.global() {
            self.global.insert(p.kind());
        }
        self.providers.insert(p.kind(), p);
    }

    /// The home region's provider of `kind`.
    pub fn get(&self, kind: &str) -> Result<&Arc<dyn Provider>, EngineError> {
        self.providers.get(kind).ok_or_else(|| EngineError::UnknownKind(kind.to_string()))
    }

    pub fn schema(&self, kind: &str) -> Option<&'static KindSchema> {
        self.providers.get(kind).map(|p| p.schema())
    }

    /// Every registered kind, with whether it is global.
    pub fn kinds(&self) -> impl Iterator<Item = (&'static str, bool)> + '_ {
        self.providers.keys().map(|k| (*k, self.global.contains(k)))
    }

    pub fn is_global(&self, kind: &str) -> bool {
        self.global.contains(kind)
    }

    /// Where a resource of `kind` declared at `declared` (`None`: the home region) lives:
    /// `global` for a global kind, otherwise the declared region.
    pub fn place(&self, kind: &str, declared: Option<&Location>) -> Location {
        if self.global.contains(kind) {
            return Location::Global;
        }
        match (declared, &self.home) {
            (Some(l), _) => l.clone(),
            (None, Some(home)) => Location::Region(home.clone()),
            // A test registry bound to no region: the home region has no name.
            (None, None) => Location::Region(String::from(UNNAMED_HOME)),
        }
    }

    /// The provider of `kind` at `location`.
    pub fn at(&self, kind: &str, location: &Location) -> Result<Arc<dyn Provider>, EngineError> {
        let region = match location {
            Location::Global => return self.get(kind).cloned(),
            Location::Region(r) => r,
        };
        if self.home.is_none() || self.home.as_deref() == Some(region.as_str()) || region == UNNAMED_HOME {
            return self.get(kind).cloned();
        }
        let Some(factory) = &self.factory else {
            return Err(EngineError::UnknownLocation(location.clone()));
        };
        let mut regions = self.regions.lock().unwrap_or_else(|p| p.into_inner());
        let registry = regions.entry(region.clone()).or_insert_with(|| factory(region));
        registry.get(kind).cloned()
    }
}

/// The home region of a registry bound to none (engine tests).
const UNNAMED_HOME: &str = "home-region-0";
