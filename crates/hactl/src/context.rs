//! What one run of hactl carries from `main` to its command: the global flags, the API
//! call counter, the signal token, and what is learnt on the way for error messages (where
//! the config came from, the region targeted).

use crate::cli::Global;
use crate::exit::ExitStatus;
use crate::failure;
use crate::render::{self, Style};
use crate::signal::Interrupt;
use anyhow::{bail, Context, Result};
use hactl_core::DesiredGraph;
use std::path::Path;
use std::sync::OnceLock;

/// One run's context, made once in `main`.
pub struct RunContext {
    pub g: Global,
    pub counter: hactl_aws::ApiCounter,
    /// The run's one cancellation token (see [`crate::signal`]).
    pub interrupt: Interrupt,
    /// The config path came from `HACTL_CONFIG` (named in errors about the file).
    config_from_env: bool,
    /// The region this run targets, once known (for hints in error messages).
    region: OnceLock<String>,
}

impl RunContext {
    pub fn new(g: Global, config_from_env: bool) -> RunContext {
        RunContext {
            g,
            counter: hactl_aws::ApiCounter::new(),
            interrupt: Interrupt::new(),
            config_from_env,
            region: OnceLock::new(),
        }
    }

    /// Where a failed command was pointed, for the hint of its error.
    pub fn failure_where(&self, command: String) -> failure::Where {
        let g = &self.g;
        let env = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
        failure::Where {
            command,
            endpoint: g.endpoint_url.clone().or_else(|| env("AWS_ENDPOINT_URL")),
            region: self.region.get().cloned().or_else(|| g.region.clone()),
            profile: g.profile.clone().or_else(|| env("AWS_PROFILE")),
        }
    }

    /// Prints a failed command's error (at most three lines; the full detail with -vv)
    /// and gives its exit status.
    pub fn report_failure(&self, e: &anyhow::Error, command: String) -> ExitStatus {
        let st = Style::detect(self.g.no_color, render::is_stderr_terminal());
        let w = self.failure_where(command);
        for (i, line) in failure::lines(e, &w).iter().enumerate() {
            if i == 0 {
                errln!("{} {line}", st.red("error:"));
            } else {
                errln!("{line}");
            }
        }
        if self.g.verbose >= 2 {
            errln!("\n{}", st.dim("full detail (-vv):"));
            errln!("{}", failure::full_detail(e));
        }
        ExitStatus::Failure
    }

    /// `path`, and where it came from when that was `HACTL_CONFIG`.
    fn config_name(&self, path: &Path) -> String {
        if self.config_from_env {
            format!("{} (from HACTL_CONFIG)", path.display())
        } else {
            path.display().to_string()
        }
    }

    /// Runs the policy checks on the config (validating it first: an invalid config's
    /// errors are printed and refused as by [`RunContext::load_config`]).
    pub fn lint(&self) -> Result<hactl_config::lint::Report> {
        let path = self.g.config.as_path();
        hactl_config::lint::lint_file(path).map_err(|errors| self.refuse_config(path, &errors))
    }

    /// Prints a config's errors and says it is refused.
    fn refuse_config(&self, path: &Path, errors: &hactl_config::ConfigErrors) -> anyhow::Error {
        err!("{errors}");
        let n = errors.len();
        anyhow::anyhow!(
            "{} has {n} error{}; nothing was changed",
            self.config_name(path),
            if n == 1 { "" } else { "s" }
        )
    }

    /// The policy checks plan and apply run before any AWS call: a check at level error
    /// that fails, unallowed, refuses the run (each on one line of stderr); warnings are
    /// counted on one line.
    pub fn lint_gate(&self) -> Result<()> {
        let report = self.lint()?;
        let st = crate::render::Style::detect(self.g.no_color, crate::render::is_stderr_terminal());
        let open: Vec<&hactl_config::lint::Finding> =
            report.findings.iter().filter(|f| f.allowed.is_none()).collect();
        let errors: Vec<&&hactl_config::lint::Finding> =
            open.iter().filter(|f| f.level == hactl_config::lint::Level::Error).collect();
        if !errors.is_empty() {
            for f in &errors {
                errln!("{}[{}] {}:{}: {}", st.red("error"), f.rule, f.file, f.line, f.message);
            }
            bail!(
                "{} fails {} policy check{} (`hactl lint` explains each); nothing was changed\n\
                 hint: fix the config, or allow the rule in [[lint.allow]] with a reason",
                self.config_name(self.g.config.as_path()),
                errors.len(),
                if errors.len() == 1 { "" } else { "s" }
            );
        }
        if !open.is_empty() {
            let mut ids: Vec<&str> = open.iter().map(|f| f.rule).collect();
            ids.sort_unstable();
            ids.dedup();
            errln!(
                "{} {} policy warning{} ({}): `hactl lint` for details",
                st.yellow("Note:"),
                open.len(),
                if open.len() == 1 { "" } else { "s" },
                ids.join(", ")
            );
        }
        Ok(())
    }

    /// Loads and validates the config (no AWS call is made before this succeeds).
    pub fn load_config(&self) -> Result<(hactl_config::StackConfig, DesiredGraph)> {
        let path = self.g.config.as_path();
        let cfg = match hactl_config::load(path) {
            Ok(c) => c,
            Err(errors) => return Err(self.refuse_config(path, &errors)),
        };
        // Offline (validate, graph): no AWS call, so no account id in the policies.
        let desired = hactl_config::expand::expand(&cfg, &hactl_config::expand::ExpandEnv::offline())
            .with_context(|| format!("expanding {}", path.display()))?;
        Ok((cfg, desired))
    }

    /// The region a command targets: the config's `stack.region`. `--region` may only
    /// repeat it: a stack lives in one region (its state, names and plans record it), so
    /// another value is refused before any AWS call.
    pub fn target_region(&self, cfg: &hactl_config::StackConfig) -> Result<String> {
        let g = &self.g;
        let region = cfg.stack.region.clone();
        if let Some(flag) = g.region.as_deref().filter(|r| *r != region) {
            bail!(
                "--region {flag} differs from stack.region = \"{region}\" in {}; a stack lives in one region: \
                 drop --region, or use a config (and stack name) made for {flag}",
                g.config.display()
            );
        }
        let _ = self.region.set(region.clone());
        Ok(region)
    }
}
