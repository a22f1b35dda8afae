//! `hactl`: provisions and reconciles a high-availability AWS stack from a config file.

#[macro_use]
mod output;
mod failure;
mod inspect;
mod outputs;
mod render;

use anyhow::{bail, Context, Result};
use clap::{Args, CommandFactory, FromArgMatches, Parser, Subcommand};
use hactl_aws::failover::FailoverTarget;
use hactl_config::StateBackend;
use hactl_core::plan::PlanMode;
use hactl_core::{Address, DesiredGraph, Plan};
use hactl_engine::{
    apply, check_plan, drift_report, make_plan, refresh, ApplyOptions, ApplyReport, CancelFlag, Ctx,
    DeleteOptions, RefreshScope, Registry,
};
use hactl_state::{LockGuard, LockRelease, State, StateStore};
use render::{StderrSink, Style};
use std::future::Future;
use std::io::{BufRead, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// `hactl --version` and `hactl version`: the crate version, the commit, the target.
const VERSION: &str =
    concat!(env!("CARGO_PKG_VERSION"), " (commit ", env!("HACTL_COMMIT"), ", ", env!("HACTL_TARGET"), ")");

#[derive(Parser)]
#[command(
    name = "hactl",
    version = VERSION,
    about = "Provision and reconcile a high-availability AWS stack through the AWS SDK",
    after_help = "Exit codes: 0 success; 1 error; 2 changes present (plan --detailed-exitcode) or drift \
                  found (drift); 64 usage error (unknown command, flag or value); 130 interrupted (Ctrl-C \
                  or SIGTERM outside an apply, or a second one during it)."
)]
struct Cli {
    #[command(flatten)]
    global: Global,
    #[command(subcommand)]
    command: Command,
}

#[derive(Args, Clone)]
struct Global {
    /// The stack config file.
    #[arg(long, global = true, default_value = "config/ha-stack.toml", env = "HACTL_CONFIG")]
    config: PathBuf,
    /// Where state files live.
    #[arg(long, global = true, default_value = "state", env = "HACTL_STATE_DIR")]
    state_dir: PathBuf,
    /// AWS region: the config's stack.region; another value is refused (a stack lives in
    /// one region).
    #[arg(long, global = true)]
    region: Option<String>,
    /// AWS endpoint URL, e.g. http://127.0.0.1:4566 for LocalStack (default: AWS_ENDPOINT_URL or AWS).
    #[arg(long, global = true)]
    endpoint_url: Option<String>,
    /// AWS shared-config profile.
    #[arg(long, global = true)]
    profile: Option<String>,
    /// More logging on stderr (-v info, -vv debug, -vvv trace); RUST_LOG overrides.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    verbose: u8,
    /// No colours (NO_COLOR is honoured too).
    #[arg(long, global = true)]
    no_color: bool,
    /// No progress lines on stderr (failures are still shown).
    #[arg(long, global = true)]
    no_progress: bool,
    /// Logs (and `drift --watch` run lines) as text or as JSON lines.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,
    /// Print one `hactl-stats {json}` line on stderr at the end: AWS API calls by operation and wall time.
    #[arg(long, global = true)]
    stats: bool,
    /// Seconds one AWS call may keep retrying throttling, 5xx and connection errors (reads
    /// too), and one apply or destroy action retryable errors (DependencyViolation, ...).
    #[arg(long, global = true, default_value_t = 300, value_parser = clap::value_parser!(u64).range(1..=86_400))]
    retry_timeout: u64,
}

#[derive(Subcommand)]
enum Command {
    /// Check the config (and its dependency graph) without calling AWS.
    Validate {
        /// Print the result as JSON on stdout: `valid`, and `errors` with file, line,
        /// column, field, message and hint each.
        #[arg(long)]
        json: bool,
    },
    /// Show what apply would change, from live AWS state.
    Plan {
        /// Save the plan for `hactl apply FILE`.
        #[arg(long)]
        out: Option<PathBuf>,
        /// Print the plan document as JSON on stdout.
        #[arg(long)]
        json: bool,
        /// Exit 0 when there are no changes, 2 when there are, 1 on error.
        #[arg(long)]
        detailed_exitcode: bool,
        /// Plan the destruction of the stack.
        #[arg(long, conflicts_with = "refresh_only")]
        destroy: bool,
        /// Only refresh: show what changed in AWS since state was written (what a refresh
        /// would record), change nothing in AWS or in state.
        #[arg(long, conflicts_with = "out")]
        refresh_only: bool,
    },
    /// Apply the changes (a fresh plan, or a saved plan file exactly).
    Apply {
        /// A plan saved by `hactl plan --out`.
        planfile: Option<PathBuf>,
        #[command(flatten)]
        run: RunFlags,
    },
    /// Delete every resource of the stack, in reverse dependency order.
    Destroy {
        #[command(flatten)]
        run: RunFlags,
    },
    /// Report what changed outside hactl (never changes AWS). Exit 0 none, 2 drift, 1 error.
    Drift {
        /// Print the drift report as JSON on stdout (one line per run with --watch).
        #[arg(long)]
        json: bool,
        /// After each run, put `DriftedResources` (namespace `hactl`, dimension `Stack`) to
        /// CloudWatch: changed + deleted + unmanaged resources.
        #[arg(long)]
        publish_metrics: bool,
        /// Keep running: one run per --interval (up to 10% jitter), one log line per run,
        /// until SIGTERM or SIGINT (exit 0). The stack lock is held only during a run.
        #[arg(long)]
        watch: bool,
        /// Time between runs with --watch: e.g. 30s, 15m, 1h.
        #[arg(long, default_value = "15m", value_parser = parse_interval)]
        interval: Duration,
    },
    /// Promote a database replica: DocumentDB fails over to a reader in another zone (or
    /// --target), RDS Multi-AZ reboots with failover. Waits until the database is
    /// available again.
    Failover {
        /// The DocumentDB instance identifier to promote (default: the first reader in
        /// another availability zone than the writer).
        #[arg(long)]
        target: Option<String>,
    },
    /// Print the desired resource graph as Graphviz DOT, clustered by tier and zone; an
    /// edge A -> B means A depends on B (B is created first and deleted last). Render it
    /// with e.g. `hactl graph | dot -Tsvg > graph.svg`.
    Graph {
        /// Colour the nodes by what a plan saved with `plan --out` does to them (and draw
        /// what it deletes).
        #[arg(long, value_name = "PLANFILE")]
        plan: Option<PathBuf>,
    },
    /// Print the stack's outputs from state (no AWS call): the app's URL, the database
    /// endpoints, the secrets' ARNs, the dashboard. With NAME, that value alone.
    Output {
        /// One output, printed bare (strings without quotes), e.g. `url`.
        name: Option<String>,
        /// Print the outputs (or the one) as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Print a plan saved by `hactl plan --out` as `plan` printed it.
    Show {
        planfile: PathBuf,
        /// Print the plan document as JSON instead.
        #[arg(long)]
        json: bool,
    },
    /// Print hactl's version, the commit it was built from and its target.
    Version,
    /// Print a completion script for SHELL (bash, zsh, fish, elvish, powershell), e.g.
    /// `hactl completions bash > ~/.local/share/bash-completion/completions/hactl`.
    Completions { shell: clap_complete::Shell },
    /// Print the man page (roff), e.g. `hactl man > hactl.1 && man ./hactl.1`.
    Man,
    /// Inspect state.
    State {
        #[command(subcommand)]
        command: StateCommand,
    },
    /// Remove a stack lock left behind by a run that is gone.
    ForceUnlock {
        /// The lock id printed in the "locked" message (checked when given).
        lock_id: Option<String>,
    },
}

/// How apply and destroy run.
#[derive(Args)]
struct RunFlags {
    /// Do not ask for confirmation.
    #[arg(long)]
    auto_approve: bool,
    /// How many actions run at once (1 to 256).
    #[arg(long, default_value_t = 10, value_parser = parse_parallelism)]
    parallelism: usize,
    /// Delete databases that have deletion protection on (it is turned off first).
    /// Without it, a plan that deletes a protected database is refused and nothing changes.
    #[arg(long)]
    allow_delete_protected: bool,
    /// Delete databases without a final snapshot (by default one named
    /// `<identifier>-final-<UTC timestamp>` is taken and kept).
    #[arg(long)]
    skip_final_snapshot: bool,
    /// Delete secrets at once instead of after their recovery window
    /// (`database.secret_recovery_window_days`).
    #[arg(long)]
    force_delete_secrets: bool,
}

impl RunFlags {
    fn delete_options(&self) -> DeleteOptions {
        DeleteOptions {
            allow_delete_protected: self.allow_delete_protected,
            skip_final_snapshot: self.skip_final_snapshot,
            force_delete_secrets: self.force_delete_secrets,
        }
    }
}

#[derive(Subcommand)]
enum StateCommand {
    /// One line per resource: address, kind, id.
    List {
        /// One JSON array of {address, kind, id} instead.
        #[arg(long)]
        json: bool,
    },
    /// A resource's recorded id, properties and outputs as JSON.
    Show { address: String },
    /// Forget resources without deleting them in AWS. An object that still carries the
    /// stack's ownership tags is found and adopted again by the next plan, unless its
    /// address left the config: remove the tags to hand it over.
    Rm {
        #[arg(required = true)]
        addresses: Vec<String>,
    },
}

/// `--parallelism`: 1 to 256 (0 would run nothing).
fn parse_parallelism(s: &str) -> Result<usize, String> {
    match s.parse::<usize>() {
        Ok(n @ 1..=256) => Ok(n),
        Ok(n) => Err(format!("{n} is out of range: use a whole number from 1 to 256")),
        Err(_) => Err(format!("\"{s}\" is not a whole number (use 1 to 256)")),
    }
}

/// A failure with its exit code (1, or 2 for "changes present" style answers).
struct Exit(u8);

/// The exit code of a command-line mistake (sysexits' EX_USAGE): never 2, which means
/// "changes present" (`plan --detailed-exitcode`) or "drift found" (`drift`).
const EXIT_USAGE: u8 = 64;

/// The region this run targets, once known (for hints in error messages).
static TARGET_REGION: std::sync::OnceLock<String> = std::sync::OnceLock::new();

/// The config path came from `HACTL_CONFIG` (named in errors about the file).
static CONFIG_FROM_ENV: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

fn main() -> ExitCode {
    let cli = match Cli::command().try_get_matches().and_then(|m| {
        let from_env = m.value_source("config") == Some(clap::parser::ValueSource::EnvVariable);
        CONFIG_FROM_ENV.store(from_env, std::sync::atomic::Ordering::Relaxed);
        Cli::from_arg_matches(&m)
    }) {
        Ok(cli) => cli,
        Err(e) => return usage_error(&e),
    };
    let log_colour = Style::detect(cli.global.no_color, render::is_stderr_terminal()).color;
    init_logging(cli.global.verbose, cli.global.log_format, log_colour);
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            errln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    let started = Instant::now();
    let counter = hactl_aws::ApiCounter::new();
    let command = cli.command.name();
    let result = runtime.block_on(run(cli.command, cli.global.clone(), counter.clone()));
    if cli.global.stats {
        errln!("{}", render::stats_line(&counter.snapshot(), started.elapsed().as_millis()));
    }
    match result {
        Ok(Exit(code)) => ExitCode::from(code),
        Err(e) => {
            let st = Style::detect(cli.global.no_color, render::is_stderr_terminal());
            let w = failure_where(&cli.global, command);
            for (i, line) in failure::lines(&e, &w).iter().enumerate() {
                if i == 0 {
                    errln!("{} {line}", st.red("error:"));
                } else {
                    errln!("{line}");
                }
            }
            if cli.global.verbose >= 2 {
                errln!("\n{}", st.dim("full detail (-vv):"));
                errln!("{}", failure::full_detail(&e));
            }
            ExitCode::from(1)
        }
    }
}

/// Where a failed command was pointed, for the hint of its error.
fn failure_where(g: &Global, command: String) -> failure::Where {
    let env = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    failure::Where {
        command,
        endpoint: g.endpoint_url.clone().or_else(|| env("AWS_ENDPOINT_URL")),
        region: TARGET_REGION.get().cloned().or_else(|| g.region.clone()),
        profile: g.profile.clone().or_else(|| env("AWS_PROFILE")),
    }
}

/// `--help` and `--version` print on stdout and exit 0; a command-line mistake prints
/// clap's message (at most three lines) and exits [`EXIT_USAGE`].
fn usage_error(e: &clap::Error) -> ExitCode {
    if !e.use_stderr() {
        // A closed stdout is not an error here either.
        let _ = e.print();
        return ExitCode::SUCCESS;
    }
    let text = e.render().to_string();
    if e.kind() == clap::error::ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand {
        // clap would print the whole help: name the commands and the usage instead.
        let commands: Vec<&str> = text
            .lines()
            .skip_while(|l| !l.starts_with("Commands:"))
            .skip(1)
            .take_while(|l| !l.trim().is_empty())
            .filter_map(|l| l.split_whitespace().next())
            .filter(|c| *c != "help")
            .collect();
        let usage = text.lines().find(|l| l.starts_with("Usage:")).unwrap_or("Usage: hactl <COMMAND>");
        errln!("error: a command is needed: {}", commands.join(", "));
        errln!("  {usage} (more: --help)");
        return ExitCode::from(EXIT_USAGE);
    }
    // clap's text: the error, maybe a tip or the list of subcommands, the usage line and
    // "For more information, try '--help'.", with blank lines between.
    let mut lines =
        text.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with("For more information"));
    let first = lines.next().unwrap_or("error: invalid command line");
    let rest: Vec<&str> = lines.collect();
    errln!("{first}");
    if let Some(context) = rest.iter().find(|l| !l.starts_with("Usage:")) {
        errln!("  {context}");
    }
    match rest.iter().find(|l| l.starts_with("Usage:")) {
        Some(u) => errln!("  {u} (more: --help)"),
        None => errln!("  more: --help"),
    }
    ExitCode::from(EXIT_USAGE)
}

impl Command {
    /// The command as typed (`plan`, `state list`), for error messages.
    fn name(&self) -> String {
        match self {
            Command::Validate { .. } => "validate",
            Command::Plan { .. } => "plan",
            Command::Apply { .. } => "apply",
            Command::Destroy { .. } => "destroy",
            Command::Drift { .. } => "drift",
            Command::Failover { .. } => "failover",
            Command::Graph { .. } => "graph",
            Command::Output { .. } => "output",
            Command::Show { .. } => "show",
            Command::Version => "version",
            Command::Completions { .. } => "completions",
            Command::Man => "man",
            Command::State { command: StateCommand::List { .. } } => "state list",
            Command::State { command: StateCommand::Show { .. } } => "state show",
            Command::State { command: StateCommand::Rm { .. } } => "state rm",
            Command::ForceUnlock { .. } => "force-unlock",
        }
        .to_string()
    }
}

/// How logs are written on stderr.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

/// Log targets that would print request or response bodies at trace level.
const WIRE_LOG_TARGETS: [&str; 8] = [
    "aws_smithy_runtime",
    "aws_smithy_runtime_api",
    "aws_smithy_http",
    "aws_smithy_http_client",
    "aws_sigv4",
    "hyper",
    "hyper_util",
    "h2",
];

fn init_logging(verbose: u8, format: LogFormat, colour: bool) {
    let default = match verbose {
        // The SDK's own warnings (each credential source that failed, with its raw
        // response) repeat what the error a person reads already says: -v shows them.
        0 => "warn,aws=error",
        1 => "info",
        2 => "debug",
        _ => "trace",
    };
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    use tracing_subscriber::Layer;
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    // The SDK's orchestrator and the HTTP stack log whole requests and responses at trace
    // level: a CreateDBCluster body carries the master password, a GetSecretValue answer
    // the secret. Whatever RUST_LOG or -vvv asks, their trace events are dropped (after
    // the env filter, so a more specific RUST_LOG directive cannot bring them back).
    let no_wire_trace = tracing_subscriber::filter::filter_fn(|m| !is_wire_trace(m.level(), m.target()));
    // Log lines that cannot be written (stderr closed) are dropped, not reported with
    // eprintln! (which would panic on the same closed stderr).
    let layer = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_target(true)
        .with_ansi(colour)
        .log_internal_errors(false);
    let layer = match format {
        LogFormat::Text => layer.boxed(),
        LogFormat::Json => layer.json().boxed(),
    };
    tracing_subscriber::registry().with(layer.with_filter(filter).with_filter(no_wire_trace)).init();
}

/// A trace-level event or span of the SDK's or the HTTP stack's wire logging.
fn is_wire_trace(level: &tracing::Level, target: &str) -> bool {
    *level == tracing::Level::TRACE
        && WIRE_LOG_TARGETS
            .iter()
            .any(|t| target == *t || target.strip_prefix(t).is_some_and(|rest| rest.starts_with("::")))
}

/// Everything a command that talks to AWS needs.
struct Session {
    region: String,
    /// The account of this run's credentials (STS GetCallerIdentity).
    account_id: String,
    /// The endpoint URL this run talks to (--endpoint-url or AWS_ENDPOINT_URL); none for AWS.
    endpoint: Option<String>,
    retry_timeout: Duration,
    sdk: hactl_aws::SdkConfig,
    desired: DesiredGraph,
    store: StateStore,
    registry: Registry,
    ctx: Ctx,
    sink: Arc<StderrSink>,
    stdout_style: Style,
}

/// `path`, and where it came from when that was `HACTL_CONFIG`.
fn config_name(path: &Path) -> String {
    if CONFIG_FROM_ENV.load(std::sync::atomic::Ordering::Relaxed) {
        format!("{} (from HACTL_CONFIG)", path.display())
    } else {
        path.display().to_string()
    }
}

/// Loads and validates the config (no AWS call is made before this succeeds).
fn load_config(path: &Path) -> Result<(hactl_config::StackConfig, DesiredGraph)> {
    let cfg = match hactl_config::load(path) {
        Ok(c) => c,
        Err(errors) => {
            err!("{errors}");
            let n = errors.len();
            bail!(
                "{} has {n} error{}; nothing was changed",
                config_name(path),
                if n == 1 { "" } else { "s" }
            );
        }
    };
    // Offline (validate, graph): no AWS call, so no account id in the policies.
    let desired = hactl_config::expand::expand(&cfg, &hactl_config::expand::ExpandEnv::offline())
        .with_context(|| format!("expanding {}", path.display()))?;
    Ok((cfg, desired))
}

async fn session(g: &Global, counter: &hactl_aws::ApiCounter) -> Result<Session> {
    let (cfg, _) = load_config(&g.config)?;
    let region = target_region(&cfg, g)?;
    let conn = hactl_aws::Connection {
        region: Some(region.clone()),
        endpoint_url: g.endpoint_url.clone(),
        profile: g.profile.clone(),
        retry_deadline: Duration::from_secs(g.retry_timeout),
    };
    let sdk = hactl_aws::sdk_config(&conn).await;
    // The account (trust policy conditions, scoped ARNs): one STS call per run.
    let account = hactl_aws::sts::account_id(&sdk, counter).await.context("reading the AWS account")?;
    let allowed = &cfg.stack.allowed_account_ids;
    if !allowed.is_empty() && !allowed.contains(&account) {
        bail!(
            "refusing to run: these credentials belong to account {account}, which is not in \
             stack.allowed_account_ids of {} ({}); nothing was changed\n\
             hint: use credentials (or --profile) of an allowed account, or add {account} to the list",
            g.config.display(),
            allowed.join(", ")
        );
    }
    let account_id = account.clone();
    let account = hactl_config::expand::AccountId::parse(&account)
        .with_context(|| format!("`{account}` is not an AWS account id"))?;
    let desired = hactl_config::expand::expand(&cfg, &hactl_config::expand::ExpandEnv::account(account))
        .with_context(|| format!("expanding {}", g.config.display()))?;
    let registry = hactl_aws::registry(&sdk, counter);
    let store = state_store(&cfg, g, &sdk, counter);
    let err_style = Style::detect(g.no_color, render::is_stderr_terminal());
    let sink = Arc::new(StderrSink::new(err_style, !g.no_progress, g.verbose > 0));
    let ctx = Ctx::new(&cfg.stack.name, sink.clone());
    Ok(Session {
        region,
        account_id,
        endpoint: sdk.endpoint_url().map(|e| e.trim_end_matches('/').to_string()),
        retry_timeout: Duration::from_secs(g.retry_timeout),
        sdk,
        desired,
        store,
        registry,
        ctx,
        sink,
        stdout_style: Style::detect(g.no_color, render::is_stdout_terminal()),
    })
}

/// The state store of `cfg`: files under --state-dir, or the S3 object of `[state]`
/// (its client from `sdk`, so --endpoint-url, --profile and AWS_ENDPOINT_URL apply; in
/// the bucket's region: `[state] region`, else the config's stack region).
fn state_store(
    cfg: &hactl_config::StackConfig,
    g: &Global,
    sdk: &hactl_aws::SdkConfig,
    counter: &hactl_aws::ApiCounter,
) -> StateStore {
    match &cfg.state.backend {
        StateBackend::Local => StateStore::local(&g.state_dir, &cfg.stack.name),
        StateBackend::S3 { bucket, key, region } => {
            let region = region.as_deref().unwrap_or(&cfg.stack.region);
            let conf = hactl_state::s3_config(sdk, Some(region))
                .interceptor(counter.clone())
                .retry_partition(hactl_aws::retry_partition("aws_sdk_s3"))
                .retry_classifier(hactl_aws::RefusedIsFinal)
                .build();
            StateStore::s3(hactl_state::aws_sdk_s3::Client::from_conf(conf), bucket, key, &cfg.stack.name)
        }
    }
}

/// The state store for commands that only touch state (`state`, `force-unlock`): the SDK
/// configuration is loaded only when state lives in S3.
async fn open_store(
    cfg: &hactl_config::StackConfig,
    g: &Global,
    counter: &hactl_aws::ApiCounter,
) -> Result<StateStore> {
    let region = target_region(cfg, g)?;
    if matches!(cfg.state.backend, StateBackend::Local) {
        return Ok(StateStore::local(&g.state_dir, &cfg.stack.name));
    }
    let conn = hactl_aws::Connection {
        region: Some(region),
        endpoint_url: g.endpoint_url.clone(),
        profile: g.profile.clone(),
        retry_deadline: Duration::from_secs(g.retry_timeout),
    };
    let sdk = hactl_aws::sdk_config(&conn).await;
    Ok(state_store(cfg, g, &sdk, counter))
}

/// The region a command targets: the config's `stack.region`. `--region` may only
/// repeat it: a stack lives in one region (its state, names and plans record it), so
/// another value is refused before any AWS call.
fn target_region(cfg: &hactl_config::StackConfig, g: &Global) -> Result<String> {
    let region = cfg.stack.region.clone();
    if let Some(flag) = g.region.as_deref().filter(|r| *r != region) {
        bail!(
            "--region {flag} differs from stack.region = \"{region}\" in {}; a stack lives in one region: \
             drop --region, or use a config (and stack name) made for {flag}",
            g.config.display()
        );
    }
    let _ = TARGET_REGION.set(region.clone());
    Ok(region)
}

/// How long a command waits for a drift run's lock before failing.
const DRIFT_WAIT: Duration = Duration::from_secs(120);

/// The lock this process holds, for the signal handler's forced quit.
static HELD_LOCK: Mutex<Option<LockRelease>> = Mutex::new(None);

fn set_held_lock(held: Option<LockRelease>) {
    *HELD_LOCK.lock().unwrap_or_else(|p| p.into_inner()) = held;
}

fn take_held_lock() -> Option<LockRelease> {
    HELD_LOCK.lock().unwrap_or_else(|p| p.into_inner()).take()
}

impl Session {
    /// Takes the stack's lock. A lock held by a drift run (seconds long; the scheduled job
    /// runs every few minutes) is waited for, up to [`DRIFT_WAIT`], instead of failing an
    /// apply that happens to overlap it.
    async fn lock(&self, op: &str) -> Result<LockGuard> {
        let started = Instant::now();
        let mut said = false;
        let (guard, took_over) = loop {
            match self.store.lock(op).await {
                Err(hactl_state::StateError::Locked { holder, .. })
                    if holder.operation == "drift" && started.elapsed() < DRIFT_WAIT =>
                {
                    if !said {
                        errln!(
                            "waiting for the drift run that holds the lock of stack `{}` ({holder})",
                            self.store.stack()
                        );
                        said = true;
                    }
                    tokio::time::sleep(Duration::from_secs(2)).await;
                }
                other => break other?,
            }
        };
        if let Some(t) = took_over {
            let why = if t.0.is_expired_drift_lock() {
                format!("a drift run's lock older than {} min", hactl_state::DRIFT_LOCK_LEASE_SECS / 60)
            } else {
                "its process is gone".to_string()
            };
            errln!(
                "{} took over a stale lock of stack `{}` left by {} ({why})",
                self.sink.style.yellow("warning:"),
                self.store.stack(),
                t.0
            );
        }
        Ok(guard)
    }

    /// Runs `body` with the stack locked for `op`; the lock is released whatever `body`
    /// returns, and by an interrupt (see [`ensure_signal_handler`]).
    async fn locked<T>(&self, op: &str, body: impl Future<Output = Result<T>>) -> Result<T> {
        ensure_signal_handler();
        let guard = self.lock(op).await?;
        set_held_lock(Some(guard.handle()));
        let result = body.await;
        set_held_lock(None);
        let released = guard.release().await;
        match (result, released) {
            (Ok(v), Ok(())) => Ok(v),
            (Ok(_), Err(e)) => Err(anyhow::Error::new(e).context(format!(
                "releasing the lock of stack `{}` ({})",
                self.store.stack(),
                self.store
            ))),
            (Err(e), Ok(())) => Err(e),
            (Err(e), Err(re)) => {
                errln!(
                    "{} could not release the lock of stack `{}`: {re}",
                    self.sink.style.yellow("warning:"),
                    self.store.stack()
                );
                Err(e)
            }
        }
    }

    /// Loads state, refusing one written for another region (a `--region` typo would
    /// otherwise see every resource as deleted, or destroy nothing and forget it all).
    async fn load_state(&self) -> Result<State> {
        let mut state = self.store.load().await?;
        if state.region.is_empty() {
            state.region = self.region.clone();
        } else if state.region != self.region {
            bail!(
                "the state of stack `{}` belongs to region {}, but this run targets {} \
                 (the config's stack.region)",
                state.stack,
                state.region,
                self.region
            );
        }
        // The account and endpoint are recorded together (state written before they were
        // recorded gets both now, saved with its next write).
        match &state.account_id {
            None => {
                state.account_id = Some(self.account_id.clone());
                state.endpoint = self.endpoint.clone();
            }
            Some(recorded) if *recorded != self.account_id => bail!(
                "refusing to run: the state of stack `{}` belongs to AWS account {recorded}, but these \
                 credentials are for account {}; nothing was changed\n\
                 hint: use the credentials (or --profile) of account {recorded}",
                state.stack,
                self.account_id
            ),
            Some(_) if state.endpoint != self.endpoint => {
                let show =
                    |e: &Option<String>| e.clone().unwrap_or_else(|| "AWS itself (no endpoint URL)".into());
                bail!(
                    "refusing to run: the state of stack `{}` was made through {}, but this run talks to {}; \
                     nothing was changed\n\
                     hint: set the same --endpoint-url / AWS_ENDPOINT_URL (an emulator's state never applies to AWS)",
                    state.stack,
                    show(&state.endpoint),
                    show(&self.endpoint)
                )
            }
            Some(_) => {}
        }
        Ok(state)
    }

    /// Refreshes and plans. Planning an apply first records in state what AWS already
    /// has as configured while state holds older values (a change whose journal entry was
    /// lost): no AWS call, state saved, one note line on stderr.
    async fn plan(&self, state: &mut State, mode: PlanMode) -> Result<Plan> {
        let live =
            refresh(&self.registry, &self.ctx, &self.desired, state, RefreshScope::DesiredAndState).await?;
        if mode == PlanMode::Apply {
            let recorded = hactl_engine::catch_up(&self.registry, &self.desired, state, &live)?;
            if !recorded.is_empty() {
                self.store.save(state).await?;
                let names: Vec<&str> = recorded.iter().map(Address::as_str).collect();
                errln!(
                    "{} recorded in state: {} (AWS already matched the configuration; state had older values)",
                    self.sink.style.yellow("Note:"),
                    names.join(", ")
                );
            }
        }
        Ok(make_plan(&self.registry, &self.desired, state, &live, mode)?)
    }

    async fn execute(&self, plan: &Plan, state: State, run: &RunFlags) -> Result<ApplyReport> {
        let mut ctx = self.ctx.clone();
        ctx.delete_options = run.delete_options();
        let cancel = CancelFlag::default();
        let opts = ApplyOptions {
            parallelism: run.parallelism,
            retry_timeout: self.retry_timeout,
            cancel: cancel.clone(),
            before_journal: fault_before_journal()?,
            before_call: fault_before_call()?,
        };
        ensure_signal_handler();
        set_signal_mode(SignalMode::Cancel(cancel));
        let report = apply(&self.registry, &ctx, plan, &self.store, state, &opts).await;
        set_signal_mode(SignalMode::Quit);
        Ok(report?)
    }
}

/// What a Ctrl-C (SIGINT) or SIGTERM does, by phase.
enum SignalMode {
    /// Release the lock this process holds (if any) and exit 130.
    Quit,
    /// Applying: the first signal starts nothing new and lets in-flight actions finish
    /// (state is saved); a second one releases the lock and exits 130.
    Cancel(CancelFlag),
    /// `drift --watch` stops between runs through its own listener.
    Watch,
}

static SIGNAL_MODE: Mutex<SignalMode> = Mutex::new(SignalMode::Quit);
static SIGNAL_HANDLER: std::sync::Once = std::sync::Once::new();

fn set_signal_mode(mode: SignalMode) {
    *SIGNAL_MODE.lock().unwrap_or_else(|p| p.into_inner()) = mode;
}

/// Installs the process's signal handler once (before the first lock is taken: from
/// then on SIGINT and SIGTERM no longer kill the process by default, so an interrupted
/// run never leaves its lock behind; an S3 lock is never taken over automatically).
fn ensure_signal_handler() {
    SIGNAL_HANDLER.call_once(|| {
        tokio::spawn(async move {
            #[cfg(unix)]
            let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
            loop {
                #[cfg(unix)]
                let got = match term.as_mut() {
                    Some(t) => {
                        tokio::select! { r = tokio::signal::ctrl_c() => r.is_ok(), _ = t.recv() => true }
                    }
                    None => tokio::signal::ctrl_c().await.is_ok(),
                };
                #[cfg(not(unix))]
                let got = tokio::signal::ctrl_c().await.is_ok();
                if !got {
                    return;
                }
                let quit = {
                    let mode = SIGNAL_MODE.lock().unwrap_or_else(|p| p.into_inner());
                    match &*mode {
                        SignalMode::Watch => false,
                        SignalMode::Cancel(cancel) if !cancel.is_cancelled() => {
                            cancel.cancel();
                            false
                        }
                        SignalMode::Cancel(_) => {
                            errln!("interrupted again: quitting now");
                            true
                        }
                        SignalMode::Quit => {
                            errln!("interrupted");
                            true
                        }
                    }
                };
                if quit {
                    // Journaled state is safe; the lock goes first.
                    if let Some(held) = take_held_lock() {
                        let _ = tokio::time::timeout(Duration::from_secs(10), held.release()).await;
                    }
                    std::process::exit(130);
                }
            }
        });
    });
}

/// `HACTL_FAULT` (crash and failure tests only):
/// - `delay-ms:N` sleeps N ms after each action's AWS calls, before it is journaled;
/// - `crash-before-journal:ADDRESS` aborts the process there for ADDRESS, like a kill -9
///   between create and journal;
/// - `fail:ADDRESS` fails ADDRESS's action before any AWS call, as an AWS error would.
///
/// Debug builds only (the tests' binary): a release build ignores the variable, so it is
/// no part of what hactl offers its users.
fn fault_spec() -> Option<String> {
    if cfg!(debug_assertions) {
        std::env::var("HACTL_FAULT").ok()
    } else {
        None
    }
}

fn fault_before_call() -> Result<Option<hactl_engine::BeforeCall>> {
    let Some(target) = fault_spec().and_then(|s| s.strip_prefix("fail:").map(str::to_string)) else {
        return Ok(None);
    };
    let target = Address::parse(&target)?;
    Ok(Some(Arc::new(
        move |a: &Address, _| {
            if *a == target {
                Err(format!("HACTL_FAULT fails {a}"))
            } else {
                Ok(())
            }
        },
    )))
}

fn fault_before_journal() -> Result<Option<hactl_engine::BeforeJournal>> {
    let Some(spec) = fault_spec() else { return Ok(None) };
    if spec.starts_with("fail:") {
        return Ok(None);
    }
    if let Some(ms) = spec.strip_prefix("delay-ms:") {
        let ms: u64 = ms.parse().with_context(|| format!("HACTL_FAULT={spec}: delay must be a number"))?;
        // block_in_place: the sleeping step hands its worker's other duties (the signal
        // and I/O drivers) to another thread, as an AWS call would leave them free; a plain
        // sleep there kept a second Ctrl-C from being seen until the step ended.
        return Ok(Some(Arc::new(move |_: &Address, _| {
            tokio::task::block_in_place(|| std::thread::sleep(Duration::from_millis(ms)))
        })));
    }
    if let Some(target) = spec.strip_prefix("crash-before-journal:") {
        let target = Address::parse(target)?;
        return Ok(Some(Arc::new(move |a: &Address, _| {
            if *a == target {
                errln!("HACTL_FAULT: aborting before journaling {a}");
                std::process::abort();
            }
        })));
    }
    bail!("HACTL_FAULT={spec}: expected delay-ms:N, crash-before-journal:ADDRESS or fail:ADDRESS")
}

/// One drift run: lock, refresh, report, release; the metric put when asked.
async fn drift_once(
    s: &Session,
    counter: &hactl_aws::ApiCounter,
    publish_metrics: bool,
) -> Result<hactl_engine::DriftReport> {
    let report = s
        .locked("drift", async {
            let state = s.load_state().await?;
            let live = refresh(&s.registry, &s.ctx, &s.desired, &state, RefreshScope::StateOnly).await?;
            Ok(drift_report(&s.registry, &state, &live))
        })
        .await?;
    if publish_metrics {
        hactl_aws::metrics::publish_drift_metric(&s.sdk, counter, &report.stack, report.drifted_count())
            .await
            .context("publishing the DriftedResources metric")?;
    }
    Ok(report)
}

/// `hactl drift --watch`: a run per interval (with jitter) until SIGTERM/SIGINT, which
/// stop it between runs (a run in progress finishes first). A failed run is logged and
/// the next one still happens.
async fn drift_watch(
    s: &Session,
    counter: &hactl_aws::ApiCounter,
    json: bool,
    publish_metrics: bool,
    interval: Duration,
    g: &Global,
) -> Result<Exit> {
    // Runs stop between runs (the listener below); the process handler stands aside.
    ensure_signal_handler();
    set_signal_mode(SignalMode::Watch);
    let stop = Arc::new(tokio::sync::Notify::new());
    let stopping = Arc::new(std::sync::atomic::AtomicBool::new(false));
    {
        let (stop, stopping) = (stop.clone(), stopping.clone());
        tokio::spawn(async move {
            #[cfg(unix)]
            {
                let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
                match term.as_mut() {
                    Some(t) => tokio::select! { _ = tokio::signal::ctrl_c() => {}, _ = t.recv() => {} },
                    None => {
                        let _ = tokio::signal::ctrl_c().await;
                    }
                }
            }
            #[cfg(not(unix))]
            let _ = tokio::signal::ctrl_c().await;
            stopping.store(true, std::sync::atomic::Ordering::SeqCst);
            stop.notify_one();
        });
    }
    let mut run = 0u64;
    loop {
        run += 1;
        let started = Instant::now();
        let outcome = drift_once(s, counter, publish_metrics).await;
        let failed =
            outcome.as_ref().err().map(|e| failure::one_line_summary(e, &failure_where(g, "drift".into())));
        let line = render::drift_run_line(
            g.log_format,
            s.store.stack(),
            run,
            outcome.as_ref().map_err(|_| failed.as_deref().unwrap_or_default()),
            started.elapsed(),
            publish_metrics,
        );
        errln!("{line}");
        if let (true, Ok(report)) = (json, &outcome) {
            outln!("{}", serde_json::to_string(report)?)?;
        }
        if stopping.load(std::sync::atomic::Ordering::SeqCst) {
            break;
        }
        tokio::select! {
            _ = tokio::time::sleep(jittered(interval)) => {}
            _ = stop.notified() => break,
        }
    }
    Ok(Exit(0))
}

/// `interval` ± up to 10%, so many watchers started together do not call AWS in step.
fn jittered(interval: Duration) -> Duration {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let factor = 0.9 + 0.2 * (f64::from(nanos % 1_000_000) / 1_000_000.0);
    interval.mul_f64(factor)
}

/// The longest `drift --interval`: a year.
const MAX_INTERVAL_SECS: u64 = 366 * 86_400;

/// `30s`, `15m`, `1h`, `2d` (a bare number is seconds), from 1s to 366d.
fn parse_interval(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let (num, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len()));
    let too_long = || format!("\"{s}\": too long; the interval is at most 366d");
    let n: u64 = match num.parse() {
        Ok(n) => n,
        // Only digits, but more than u64 holds.
        Err(_) if !num.is_empty() => return Err(too_long()),
        Err(_) => return Err(format!("\"{s}\": expected a number and a unit, e.g. 15m")),
    };
    let per = match unit {
        "" | "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        other => return Err(format!("\"{s}\": unknown unit \"{other}\" (use s, m, h or d)")),
    };
    let secs = n.checked_mul(per).filter(|s| *s <= MAX_INTERVAL_SECS).ok_or_else(too_long)?;
    if secs == 0 {
        return Err("the interval must be at least 1s".into());
    }
    Ok(Duration::from_secs(secs))
}

/// A plan saved by `plan --out`.
fn read_plan_file(path: &Path) -> Result<Plan> {
    let text = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    serde_json::from_slice(&text)
        .with_context(|| format!("{} is not a hactl plan (made by `hactl plan --out`)", path.display()))
}

/// A plan that deletes objects with deletion protection on is refused before anything
/// runs, unless the run allows it.
fn refuse_protected(plan: &Plan, run: &RunFlags) -> Result<()> {
    if plan.protected.is_empty() || run.allow_delete_protected {
        return Ok(());
    }
    Err(hactl_engine::EngineError::Protected(plan.protected.clone()).into())
}

/// A plan that would create over an object that is not the stack's (same name, no
/// ownership tags, not in state) stops before anything runs; destroy leaves such objects
/// in place.
fn refuse_conflicts(plan: &Plan) -> Result<()> {
    if plan.mode == PlanMode::Destroy || plan.conflicts.is_empty() {
        return Ok(());
    }
    Err(hactl_engine::EngineError::Conflicts(plan.conflicts.clone()).into())
}

/// Writes a file readable by its owner only.
fn write_private(path: &Path, body: &[u8]) -> std::io::Result<()> {
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    opts.open(path)?.write_all(body)
}

fn confirm(question: &str) -> Result<bool> {
    let stdin = std::io::stdin();
    if !stdin.is_terminal() && std::env::var_os("HACTL_ASSUME_TTY").is_none() {
        bail!("confirmation needed, but standard input is not a terminal; pass --auto-approve to proceed without it");
    }
    err!("{question} [y/N] ");
    let mut line = String::new();
    stdin.lock().read_line(&mut line)?;
    Ok(matches!(line.trim().to_ascii_lowercase().as_str(), "y" | "yes"))
}

fn summarize(st: &Style, report: &ApplyReport, verb: &str) -> Exit {
    use hactl_core::exec::Phase;
    let count = |p: Phase| report.succeeded.iter().filter(|(_, ph)| *ph == p).count();
    // Only what happened; "recorded" = adopted into or forgotten from state, no AWS call.
    let parts: Vec<String> = [
        (Phase::Create, "created"),
        (Phase::Update, "updated"),
        (Phase::Delete, "deleted"),
        (Phase::Record, "recorded in state"),
    ]
    .iter()
    .filter(|(p, _)| count(*p) > 0)
    .map(|(p, w)| format!("{} {w}", count(*p)))
    .collect();
    let done = if parts.is_empty() { "nothing done".to_string() } else { parts.join(", ") };
    let secs = report.elapsed.as_secs_f64();
    if report.ok() {
        errln!(
            "{} {done} in {secs:.1}s. State serial {}.",
            st.green(&format!("{verb} complete:")),
            report.state.serial
        );
        return Exit(0);
    }
    if report.cancelled {
        errln!(
            "{} {done} in {secs:.1}s; {} action(s) not started. State saved (serial {}); run the command again to finish.",
            st.yellow(&format!("{verb} interrupted:")),
            report.not_started.len(),
            report.state.serial
        );
    } else {
        errln!(
            "{} {done} in {secs:.1}s; state saved (serial {}).",
            st.red(&format!("{verb} failed:")),
            report.state.serial
        );
    }
    for f in &report.failed {
        errln!("  {} {}: {}", st.red("failed"), f.address, f.error);
    }
    if !report.skipped.is_empty() {
        let names: Vec<String> = report.skipped.iter().map(Address::to_string).collect();
        errln!("  {} {} (they depend on a failed action)", st.yellow("skipped"), names.join(", "));
    }
    if !report.cancelled && !report.not_started.is_empty() {
        let names: Vec<String> = report.not_started.iter().map(Address::to_string).collect();
        errln!("  {} {} (state could not be saved)", st.yellow("not started"), names.join(", "));
    }
    Exit(1)
}

async fn run(cmd: Command, g: Global, counter: hactl_aws::ApiCounter) -> Result<Exit> {
    match cmd {
        Command::Validate { json: true } => inspect::validate_json(&g),
        Command::Validate { json: false } => {
            let (cfg, desired) = load_config(&g.config)?;
            target_region(&cfg, &g)?;
            outln!(
                "{}: valid. Stack `{}` in {}: {} resources over {} availability zones.",
                g.config.display(),
                cfg.stack.name,
                cfg.stack.region,
                desired.len(),
                cfg.network.zones.len()
            )?;
            Ok(Exit(0))
        }
        Command::Graph { plan } => {
            let (cfg, desired) = load_config(&g.config)?;
            target_region(&cfg, &g)?;
            let plan = plan.as_deref().map(read_plan_file).transpose()?;
            if let Some(p) = &plan {
                if p.stack != cfg.stack.name {
                    bail!("the plan is for stack `{}`, the config for `{}`", p.stack, cfg.stack.name);
                }
            }
            out!("{}", hactl_core::dot::dot(&desired, plan.as_ref()))?;
            Ok(Exit(0))
        }
        Command::Version => {
            outln!("hactl {VERSION}")?;
            Ok(Exit(0))
        }
        Command::Completions { shell } => {
            let mut script = Vec::new();
            clap_complete::generate(shell, &mut Cli::command(), "hactl", &mut script);
            out!("{}", String::from_utf8_lossy(&script))?;
            Ok(Exit(0))
        }
        Command::Man => {
            let mut page = Vec::new();
            clap_mangen::Man::new(Cli::command()).render(&mut page).context("rendering the man page")?;
            out!("{}", String::from_utf8_lossy(&page))?;
            Ok(Exit(0))
        }
        Command::Show { planfile, json } => {
            let plan = read_plan_file(&planfile)?;
            if json {
                outln!("{}", serde_json::to_string_pretty(&plan)?)?;
            } else {
                let st = Style::detect(g.no_color, render::is_stdout_terminal());
                out!("{}", render::plan_text(&st, &plan, &plan.region))?;
            }
            Ok(Exit(0))
        }
        Command::Output { name, json } => inspect::output(&g, &counter, name.as_deref(), json).await,
        Command::State { command } => inspect::state(&g, &counter, command).await,
        Command::ForceUnlock { lock_id } => {
            let (cfg, _) = load_config(&g.config)?;
            let store = open_store(&cfg, &g, &counter).await?;
            let held = store.force_unlock(lock_id.as_deref()).await?;
            errln!("Released the lock of stack `{}` held by {held}.", cfg.stack.name);
            Ok(Exit(0))
        }
        Command::Plan { json, detailed_exitcode, refresh_only: true, .. } => {
            let s = session(&g, &counter).await?;
            let report = s
                .locked("plan", async {
                    let state = s.load_state().await?;
                    let live =
                        refresh(&s.registry, &s.ctx, &s.desired, &state, RefreshScope::StateOnly).await?;
                    Ok(drift_report(&s.registry, &state, &live))
                })
                .await?;
            if json {
                outln!("{}", serde_json::to_string_pretty(&report)?)?;
            } else {
                out!("{}", render::refresh_text(&s.stdout_style, &report))?;
            }
            Ok(Exit(if detailed_exitcode && report.has_drift() { 2 } else { 0 }))
        }
        Command::Plan { out, json, detailed_exitcode, destroy, refresh_only: false } => {
            let s = session(&g, &counter).await?;
            let plan = s
                .locked("plan", async {
                    let mut state = s.load_state().await?;
                    let mode = if destroy { PlanMode::Destroy } else { PlanMode::Apply };
                    s.plan(&mut state, mode).await
                })
                .await?;
            if json {
                outln!("{}", serde_json::to_string_pretty(&plan)?)?;
            } else {
                out!("{}", render::plan_text(&s.stdout_style, &plan, &s.region))?;
            }
            refuse_conflicts(&plan)?;
            if let Some(path) = out {
                write_private(&path, &serde_json::to_vec_pretty(&plan)?)
                    .with_context(|| format!("writing {}", path.display()))?;
                errln!(
                    "Saved the plan to {}. Apply it exactly with: hactl apply {}",
                    path.display(),
                    path.display()
                );
            }
            Ok(Exit(if detailed_exitcode && plan.has_changes() { 2 } else { 0 }))
        }
        Command::Apply { planfile, run } => {
            let s = session(&g, &counter).await?;
            s.locked("apply", async {
                let mut state = s.load_state().await?;
                let plan = match &planfile {
                    Some(path) => {
                        let plan = read_plan_file(path)?;
                        check_plan(&plan, &state)
                            .with_context(|| format!("refusing to apply {}", path.display()))?;
                        if !plan.region.is_empty() && plan.region != s.region {
                            bail!(
                                "refusing to apply {}: it was made for region {}, this run targets {}",
                                path.display(),
                                plan.region,
                                s.region
                            );
                        }
                        plan
                    }
                    None => s.plan(&mut state, PlanMode::Apply).await?,
                };
                out!("{}", render::plan_text(&s.stdout_style, &plan, &s.region))?;
                refuse_conflicts(&plan)?;
                if !plan.has_changes() {
                    return Ok(Exit(0));
                }
                refuse_protected(&plan, &run)?;
                if planfile.is_none() && !run.auto_approve && !confirm("Apply these changes?")? {
                    errln!("Apply cancelled; nothing was changed.");
                    return Ok(Exit(1));
                }
                let report = s.execute(&plan, state, &run).await?;
                Ok(summarize(&s.sink.style, &report, "Apply"))
            })
            .await
        }
        Command::Destroy { run } => {
            let s = session(&g, &counter).await?;
            s.locked("destroy", async {
                let mut state = s.load_state().await?;
                let plan = s.plan(&mut state, PlanMode::Destroy).await?;
                out!("{}", render::plan_text(&s.stdout_style, &plan, &s.region))?;
                if !plan.has_changes() {
                    return Ok(Exit(0));
                }
                refuse_protected(&plan, &run)?;
                if !run.auto_approve
                    && !confirm(&format!("Destroy every resource of stack `{}`?", plan.stack))?
                {
                    errln!("Destroy cancelled; nothing was changed.");
                    return Ok(Exit(1));
                }
                let report = s.execute(&plan, state, &run).await?;
                Ok(summarize(&s.sink.style, &report, "Destroy"))
            })
            .await
        }
        Command::Failover { target } => {
            let s = session(&g, &counter).await?;
            s.locked("failover", async {
                let state = s.load_state().await?;
                let find = |kind: &str| state.resources.iter().find(|(_, r)| r.kind == kind);
                let (address, target) = if let Some((a, r)) = find("docdb.cluster") {
                    (a.clone(), FailoverTarget::Docdb { cluster_id: r.id.clone(), target_instance: target })
                } else if let Some((a, r)) = find("rds.instance") {
                    if target.is_some() {
                        bail!("--target names a DocumentDB instance; an RDS Multi-AZ instance fails over to its standby");
                    }
                    (a.clone(), FailoverTarget::Postgres { instance_id: r.id.clone() })
                } else {
                    bail!(
                        "stack `{}` has no database in its state ({}); apply a config with a [database] section first",
                        state.stack,
                        s.store
                    );
                };
                let started = Instant::now();
                errln!("Failing over {address} ...");
                let ctx = s.ctx.for_address(&address);
                let outcome = hactl_aws::failover::failover(&s.sdk, &counter, &ctx, target)
                    .await
                    .with_context(|| format!("failing over {address}"))?;
                let az = outcome.writer_az.map(|z| format!(" in {z}")).unwrap_or_default();
                let was = outcome.previous_writer.map(|w| format!(" (was {w})")).unwrap_or_default();
                errln!(
                    "{} the writer is now {}{az}{was}, after {:.1}s.",
                    s.sink.style.green("Failover complete:"),
                    outcome.writer,
                    started.elapsed().as_secs_f64()
                );
                Ok(Exit(0))
            })
            .await
        }
        Command::Drift { json, publish_metrics, watch, interval } => {
            let s = session(&g, &counter).await?;
            if watch {
                return drift_watch(&s, &counter, json, publish_metrics, interval, &g).await;
            }
            let report = drift_once(&s, &counter, publish_metrics).await?;
            if json {
                outln!("{}", serde_json::to_string_pretty(&report)?)?;
            } else {
                out!("{}", render::drift_text(&s.stdout_style, &report))?;
            }
            Ok(Exit(if report.has_drift() { 2 } else { 0 }))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{is_wire_trace, parse_interval};
    use std::time::Duration;
    use tracing::Level;

    #[test]
    fn intervals_parse_and_overflow_is_an_error() {
        assert_eq!(parse_interval("15m"), Ok(Duration::from_secs(900)));
        assert_eq!(parse_interval("90"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_interval("366d"), Ok(Duration::from_secs(366 * 86_400)));
        for bad in ["367d", "18446744073709551615d", "307445734561825861m", "99999999999999999999999s"] {
            let e = parse_interval(bad).unwrap_err();
            assert!(e.contains("at most 366d"), "{bad}: {e}");
        }
        assert!(parse_interval("0s").unwrap_err().contains("at least 1s"));
        assert!(parse_interval("5x").unwrap_err().contains("unknown unit"));
        assert!(parse_interval("m").unwrap_err().contains("expected a number"));
    }

    #[test]
    fn wire_logs_stop_at_debug() {
        assert!(is_wire_trace(&Level::TRACE, "aws_smithy_runtime::client::orchestrator"));
        assert!(is_wire_trace(&Level::TRACE, "aws_smithy_runtime::client::orchestrator::http"));
        assert!(is_wire_trace(&Level::TRACE, "hyper_util::client::legacy::pool"));
        assert!(is_wire_trace(&Level::TRACE, "h2"));
        assert!(!is_wire_trace(&Level::DEBUG, "aws_smithy_runtime::client::orchestrator"));
        assert!(!is_wire_trace(&Level::TRACE, "hactl_engine::apply"));
        assert!(!is_wire_trace(&Level::TRACE, "aws_smithy_runtime_x"));
    }
}
