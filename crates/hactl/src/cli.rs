//! The command line: clap's structs (the help and man page are made from their doc
//! comments), the parsers of flag values, and what a command-line mistake prints.

use crate::exit::ExitStatus;
use clap::{Args, CommandFactory, FromArgMatches, Parser, Subcommand};
use hactl_engine::DeleteOptions;
use std::path::PathBuf;
use std::time::Duration;

/// `hactl --version` and `hactl version`: the crate version, the commit, the target.
pub const VERSION: &str =
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
pub struct Cli {
    #[command(flatten)]
    pub global: Global,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Args, Clone)]
pub struct Global {
    /// The stack config file.
    #[arg(long, global = true, default_value = "config/ha-stack.toml", env = "HACTL_CONFIG")]
    pub config: PathBuf,
    /// Where state files live.
    #[arg(long, global = true, default_value = "state", env = "HACTL_STATE_DIR")]
    pub state_dir: PathBuf,
    /// AWS region: the config's stack.region; another value is refused (a stack lives in
    /// one region).
    #[arg(long, global = true)]
    pub region: Option<String>,
    /// AWS endpoint URL, e.g. http://127.0.0.1:4566 for LocalStack (default: AWS_ENDPOINT_URL or AWS).
    #[arg(long, global = true)]
    pub endpoint_url: Option<String>,
    /// AWS shared-config profile.
    #[arg(long, global = true)]
    pub profile: Option<String>,
    /// More logging on stderr (-v info, -vv debug, -vvv trace); RUST_LOG overrides.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// No colours (NO_COLOR is honoured too).
    #[arg(long, global = true)]
    pub no_color: bool,
    /// No progress lines on stderr (failures are still shown).
    #[arg(long, global = true)]
    pub no_progress: bool,
    /// Logs (and `drift --watch` run lines) as text or as JSON lines.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
    /// Print one `hactl-stats {json}` line on stderr at the end: AWS API calls by operation and wall time.
    #[arg(long, global = true)]
    pub stats: bool,
    /// Seconds one AWS call may keep retrying throttling, 5xx and connection errors (reads
    /// too), and one apply or destroy action retryable errors (DependencyViolation, ...).
    #[arg(long, global = true, default_value_t = 300, value_parser = clap::value_parser!(u64).range(1..=86_400))]
    pub retry_timeout: u64,
}

#[derive(Subcommand)]
pub enum Command {
    /// Check the config (and its dependency graph) without calling AWS.
    Validate {
        /// Print the result as JSON on stdout: `valid`, and `errors` with file, line,
        /// column, field, message and hint each.
        #[arg(long)]
        json: bool,
    },
    /// Run the policy checks (rules HL001-HL009) on the config; no AWS call. Exit 1 when
    /// a check at level error fails and the config does not allow its rule in
    /// `[[lint.allow]]` with a reason (plan and apply refuse such a config the same way).
    Lint {
        /// text (for people), json (hactl's report document) or sarif (SARIF 2.1.0, for
        /// code scanning).
        #[arg(long, value_enum, default_value_t = LintFormat::Text)]
        format: LintFormat,
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
        #[arg(long, conflicts_with_all = ["out", "target", "exclude", "replace"])]
        refresh_only: bool,
        #[command(flatten)]
        scope: Scope,
        /// Replace this resource (delete and create it again) even though nothing else
        /// would change it: an address or a glob; repeatable. Not with --destroy.
        #[arg(long, value_name = "ADDRESS", conflicts_with = "destroy")]
        replace: Vec<String>,
    },
    /// Apply the changes (a fresh plan, or a saved plan file exactly).
    Apply {
        /// A plan saved by `hactl plan --out` (it carries its own --target, --exclude and
        /// --replace).
        #[arg(conflicts_with_all = ["target", "exclude", "replace"])]
        planfile: Option<PathBuf>,
        #[command(flatten)]
        run: RunFlags,
        #[command(flatten)]
        scope: Scope,
        /// Replace this resource (delete and create it again) even though nothing else
        /// would change it: an address or a glob; repeatable.
        #[arg(long, value_name = "ADDRESS")]
        replace: Vec<String>,
    },
    /// Delete every resource of the stack, in reverse dependency order.
    Destroy {
        #[command(flatten)]
        run: RunFlags,
        #[command(flatten)]
        scope: Scope,
    },
    /// Record an existing AWS object in state at an address of the config, so the stack
    /// manages it from then on: the next plan shows how it differs from the config, apply
    /// converges it (its ownership tags included), destroy deletes it. Refused when the id
    /// is not of the address's kind, another stack's tags claim it, or state already
    /// records the address or the id. Changes nothing in AWS.
    Import {
        /// The config's address (`hactl graph` lists them), e.g. `vpc.main`.
        #[arg(required_unless_present = "discover", conflicts_with = "discover")]
        address: Option<String>,
        /// The object's id as hactl records ids of its kind (`vpc-...`, `sg-...`, an ARN,
        /// a name: `hactl state list` shows them).
        #[arg(required_unless_present = "discover")]
        id: Option<String>,
        /// Find the objects that match addresses state does not record (by the stack's
        /// ownership tags, or by name without ownership tags), list them, and import them
        /// once confirmed.
        #[arg(long)]
        discover: bool,
        /// With --discover: import without asking.
        #[arg(long, requires = "discover")]
        auto_approve: bool,
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
    /// available again. With --to-region: move the stack's traffic to the other region of
    /// a [dr] stack (a disaster, a drill, or failing back).
    Failover {
        /// The DocumentDB instance identifier to promote (default: the first reader in
        /// another availability zone than the writer).
        #[arg(long, conflicts_with = "to_region")]
        target: Option<String>,
        /// Serve traffic from this region (the stack's region or its [dr] region): its
        /// services scale to their full counts, its DNS record becomes the primary one,
        /// and the other region stands by at the [dr.desired_counts]. Prints each step
        /// with its time; the next plan is empty.
        #[arg(long, value_name = "REGION")]
        to_region: Option<String>,
        /// With --to-region, when the region given up is down: fail the DocumentDB global
        /// cluster over without waiting for it (writes it had not replicated are lost).
        /// Without it, a planned switchover (no data loss) is made.
        #[arg(long, requires = "to_region")]
        allow_data_loss: bool,
        /// How many actions run at once (1 to 256).
        #[arg(long, default_value_t = 10, value_parser = parse_parallelism)]
        parallelism: usize,
    },
    /// Rotate the database's master password now (the database rotates the secret it
    /// manages the password in, unseen by hactl; with [dr], hactl's replicated secret and
    /// the writing database, in Secrets Manager's steps), then give every service a new
    /// deployment so its tasks read the new password. Waits for both.
    RotateCredentials {
        /// Rotate only: running tasks keep the old password until they are next started.
        #[arg(long)]
        no_redeploy: bool,
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

/// Which resources a plan, apply or destroy covers (a saved plan carries its own).
#[derive(Args, Clone, Default)]
pub struct Scope {
    /// Only this resource and what it depends on (destroy: and what depends on it): an
    /// address (`ecs_service.web`) or a glob (`subnet.app.*`); repeatable. What depends on
    /// a changed resource may be left behind: run a full plan afterwards.
    #[arg(long, value_name = "ADDRESS")]
    pub target: Vec<String>,
    /// Leave out this resource and what depends on it (destroy: and what it depends on,
    /// which it needs): an address or a glob; repeatable.
    #[arg(long, value_name = "ADDRESS")]
    pub exclude: Vec<String>,
}

impl Scope {
    /// The engine's targeting, with `replace`.
    pub fn targeting(&self, replace: Vec<String>) -> hactl_core::Targeting {
        hactl_core::Targeting { target: self.target.clone(), exclude: self.exclude.clone(), replace }
    }
}

/// How apply and destroy run.
#[derive(Args)]
pub struct RunFlags {
    /// Do not ask for confirmation.
    #[arg(long)]
    pub auto_approve: bool,
    /// How many actions run at once (1 to 256).
    #[arg(long, default_value_t = 10, value_parser = parse_parallelism)]
    pub parallelism: usize,
    /// Delete databases that have deletion protection on (it is turned off first).
    /// Without it, a plan that deletes a protected database is refused and nothing changes.
    #[arg(long)]
    pub allow_delete_protected: bool,
    /// Delete databases without a final snapshot (by default one named
    /// `<identifier>-final-<UTC timestamp>` is taken and kept).
    #[arg(long)]
    pub skip_final_snapshot: bool,
    /// Delete secrets at once instead of after their recovery window
    /// (`database.secret_recovery_window_days`).
    #[arg(long)]
    pub force_delete_secrets: bool,
}

impl RunFlags {
    pub fn delete_options(&self) -> DeleteOptions {
        DeleteOptions {
            allow_delete_protected: self.allow_delete_protected,
            skip_final_snapshot: self.skip_final_snapshot,
            force_delete_secrets: self.force_delete_secrets,
        }
    }
}

#[derive(Subcommand)]
pub enum StateCommand {
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

/// Parses the command line; also says whether `--config` came from `HACTL_CONFIG` (named
/// in errors about the file).
pub fn parse() -> Result<(Cli, bool), clap::Error> {
    let matches = Cli::command().try_get_matches()?;
    let from_env = matches.value_source("config") == Some(clap::parser::ValueSource::EnvVariable);
    Ok((Cli::from_arg_matches(&matches)?, from_env))
}

/// `--help` and `--version` print on stdout and exit 0; a command-line mistake prints
/// clap's message (at most three lines) and exits [`ExitStatus::Usage`].
pub fn usage_error(e: &clap::Error) -> ExitStatus {
    if !e.use_stderr() {
        // A closed stdout is not an error here either.
        let _ = e.print();
        return ExitStatus::Success;
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
        return ExitStatus::Usage;
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
    ExitStatus::Usage
}

impl Command {
    /// The command as typed (`plan`, `state list`), for error messages.
    pub fn name(&self) -> String {
        match self {
            Command::Validate { .. } => "validate",
            Command::Lint { .. } => "lint",
            Command::Plan { .. } => "plan",
            Command::Apply { .. } => "apply",
            Command::Destroy { .. } => "destroy",
            Command::Drift { .. } => "drift",
            Command::Import { .. } => "import",
            Command::Failover { .. } => "failover",
            Command::RotateCredentials { .. } => "rotate-credentials",
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

/// How `hactl lint` prints its report.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum LintFormat {
    Text,
    Json,
    Sarif,
}

/// How logs are written on stderr.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
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

#[cfg(test)]
mod tests {
    use super::parse_interval;
    use std::time::Duration;

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
}
