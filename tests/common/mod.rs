//! Shared harness of the end-to-end tests: each test gets its own stack name, config
//! file and state directory, drives the real `hactl` binary against the emulator, and
//! verifies the effects with the AWS SDK (never by asking hactl).
#![allow(dead_code)]

pub mod census;
pub mod proxy;
pub mod stackgen;

use aws_config::BehaviorVersion;
use aws_sdk_ec2::types::Filter;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

pub fn endpoint() -> String {
    std::env::var("AWS_ENDPOINT_URL").unwrap_or_else(|_| "http://127.0.0.1:4566".to_string())
}

pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The `hactl` binary cargo built next to this test executable.
pub fn hactl_bin() -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    let dir = exe.parent().and_then(Path::parent).expect("target dir");
    let bin = dir.join(format!("hactl{}", std::env::consts::EXE_SUFFIX));
    assert!(
        bin.exists(),
        "{} not built; run `cargo build -p hactl` first (scripts/test.sh does)",
        bin.display()
    );
    bin
}

/// Fails the test early, with a clear message, when the emulator is not up.
pub fn require_emulator() {
    let url = endpoint();
    let hostport = url.trim_start_matches("http://").trim_end_matches('/').to_string();
    let ok = std::net::TcpStream::connect_timeout(
        &hostport.parse().expect("AWS_ENDPOINT_URL must be http://IP:PORT"),
        Duration::from_secs(2),
    )
    .is_ok();
    assert!(ok, "the emulator is not reachable at {url}: start it with `bash scripts/emulator.sh start`");
}

/// Destroy everything, the protected database too, without a final snapshot, and delete
/// the secrets at once (tests leave nothing behind in the emulator).
pub const DESTROY_ALL: [&str; 5] = [
    "destroy",
    "--auto-approve",
    "--allow-delete-protected",
    "--skip-final-snapshot",
    "--force-delete-secrets",
];

pub struct Stack {
    pub name: String,
    pub dir: tempfile::TempDir,
    pub config: PathBuf,
    pub state_dir: PathBuf,
    pub endpoint: String,
}

impl Stack {
    /// The network tier of config/ha-stack.toml (its services and database left out, so
    /// no compute or data tier), with a unique name.
    pub fn new(test: &str) -> Stack {
        require_emulator();
        let text = std::fs::read_to_string(repo_root().join("config/ha-stack.toml")).expect("read config");
        let start = text.find("# --- Services").expect("services marker in ha-stack.toml");
        let end = text.find("# --- Alarms").expect("alarms marker in ha-stack.toml");
        let text = format!("{}{}", &text[..start], &text[end..]);
        Stack::from_text(test, &text)
    }

    /// A whole config file of the repo (e.g. "config/ha-stack.toml"), with a unique name.
    pub fn from_file(test: &str, path: &str) -> Stack {
        require_emulator();
        let text = std::fs::read_to_string(repo_root().join(path)).expect("read config");
        Stack::from_text(test, &text)
    }

    /// `text` with its stack renamed to a unique name (the first `name = "..."` line, the
    /// one of [stack]).
    pub fn from_text(test: &str, text: &str) -> Stack {
        Stack::named(&format!("t{}-{test}", unique_token()), text)
    }

    /// `text` with its stack named `name` (a second stack of the same name, e.g. in
    /// another region, with a config, a state directory and a cleanup guard of its own).
    pub fn named(name: &str, text: &str) -> Stack {
        let name = name.to_string();
        let line = text.lines().find(|l| l.starts_with("name = \"")).expect("config must name its stack");
        let text = text.replacen(line, &format!("name = \"{name}\""), 1);
        let dir = tempfile::tempdir().expect("tempdir");
        let config = dir.path().join("stack.toml");
        std::fs::write(&config, text).expect("write config");
        let state_dir = dir.path().join("state");
        Stack { name, dir, config, state_dir, endpoint: endpoint() }
    }

    pub fn edit(&self, f: impl FnOnce(String) -> String) {
        let text = std::fs::read_to_string(&self.config).expect("read config");
        std::fs::write(&self.config, f(text)).expect("write config");
    }

    pub fn command(&self, args: &[&str]) -> Command {
        self.command_at(&self.endpoint, args)
    }

    /// `command` against another endpoint than the stack's.
    pub fn command_at(&self, endpoint: &str, args: &[&str]) -> Command {
        let mut c = Command::new(hactl_bin());
        c.arg("--config")
            .arg(&self.config)
            .arg("--state-dir")
            .arg(&self.state_dir)
            .arg("--endpoint-url")
            .arg(endpoint)
            .args(args)
            .env("AWS_ACCESS_KEY_ID", "test")
            .env("AWS_SECRET_ACCESS_KEY", "test")
            .env("NO_COLOR", "1")
            .env_remove("HACTL_FAULT")
            .env_remove("RUST_LOG");
        c
    }

    pub fn run(&self, args: &[&str]) -> Run {
        let out = self.command(args).output().expect("run hactl");
        Run::from(out)
    }

    /// Runs and asserts the exit code.
    pub fn ok(&self, args: &[&str], code: i32) -> Run {
        let r = self.run(args);
        assert_eq!(
            r.code, code,
            "hactl {args:?} exited {} (want {code})\nstdout:\n{}\nstderr:\n{}",
            r.code, r.stdout, r.stderr
        );
        r
    }

    pub fn state(&self) -> serde_json::Value {
        let p = self.state_dir.join(format!("{}.json", self.name));
        serde_json::from_str(&std::fs::read_to_string(p).expect("state file")).expect("state json")
    }

    pub fn state_serial(&self) -> u64 {
        let p = self.state_dir.join(format!("{}.json", self.name));
        std::fs::read_to_string(p)
            .ok()
            .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
            .and_then(|v| v["serial"].as_u64())
            .unwrap_or(0)
    }

    pub fn tag_filter(&self) -> Filter {
        Filter::builder().name("tag:hactl:stack").values(&self.name).build()
    }
}

/// Six base-36 characters, different for every stack of every run: the clock in
/// nanoseconds, the process id and a per-process counter, mixed (splitmix64). A stack name
/// must stay short (28 characters) and the emulator outlives test runs, so the pid alone
/// (or modulo anything) can repeat a name whose objects a failed run left behind.
pub fn unique_token() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or_default();
    let mut z = nanos
        ^ (u64::from(std::process::id()) << 40)
        ^ COUNTER.fetch_add(1, Ordering::Relaxed).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^= z >> 31;
    const DIGITS: &[u8] = b"0123456789abcdefghijklmnopqrstuvwxyz";
    (0..6)
        .map(|_| {
            let d = DIGITS[(z % 36) as usize] as char;
            z /= 36;
            d
        })
        .collect()
}

/// The cleanup guard: a test that fails (or ends with resources still in its state)
/// destroys its stack on the way out, straight against the emulator, so a failed run
/// leaves nothing behind for the next one. `HACTL_TEST_KEEP=1` keeps them for a look.
impl Drop for Stack {
    fn drop(&mut self) {
        if std::env::var_os("HACTL_TEST_KEEP").is_some() {
            return;
        }
        let state = self.state_dir.join(format!("{}.json", self.name));
        let left = std::fs::read_to_string(&state)
            .ok()
            .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
            .and_then(|v| v["resources"].as_object().map(|m| m.len()))
            .unwrap_or(0);
        if !std::thread::panicking() && left == 0 {
            return;
        }
        let mut c = self.command_at(&endpoint(), &DESTROY_ALL);
        c.args(["--retry-timeout", "120"]);
        match c.output() {
            Ok(o) if o.status.success() => {
                eprintln!("cleanup guard: destroyed stack {} ({left} resources in its state)", self.name)
            }
            Ok(o) => eprintln!(
                "cleanup guard: destroy of stack {} failed (exit {:?}); objects may be left:\n{}",
                self.name,
                o.status.code(),
                String::from_utf8_lossy(&o.stderr)
            ),
            Err(e) => eprintln!("cleanup guard: could not run hactl for stack {}: {e}", self.name),
        }
    }
}

pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl From<Output> for Run {
    fn from(o: Output) -> Run {
        Run {
            code: o.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        }
    }
}

/// SDK configuration for the emulator (test credentials, us-east-1).
pub async fn sdk() -> aws_config::SdkConfig {
    sdk_in("us-east-1").await
}

/// SDK configuration for the emulator in `region` (one emulator serves every region).
pub async fn sdk_in(region: &str) -> aws_config::SdkConfig {
    let creds = aws_sdk_ec2::config::Credentials::new("test", "test", None, None, "tests");
    aws_config::defaults(BehaviorVersion::latest())
        .region(aws_config::Region::new(region.to_string()))
        .endpoint_url(endpoint())
        .credentials_provider(creds)
        .load()
        .await
}

pub async fn ec2() -> aws_sdk_ec2::Client {
    aws_sdk_ec2::Client::new(&sdk().await)
}

/// The aws CLI installed into the emulator's venv by scripts/emulator.sh, set up for the
/// emulator. Returns its stdout; panics with its stderr on failure.
pub fn aws_cli(args: &[&str]) -> String {
    aws_cli_in("us-east-1", args)
}

/// [`aws_cli`] in `region`.
pub fn aws_cli_in(region: &str, args: &[&str]) -> String {
    let bin = repo_root().join(".emulator/venv/bin/aws");
    assert!(bin.exists(), "{} missing: run `bash scripts/emulator.sh install`", bin.display());
    let out = Command::new(bin)
        .args(["--endpoint-url", &endpoint(), "--region", region, "--output", "json"])
        .args(args)
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("AWS_DEFAULT_REGION", region)
        .output()
        .expect("run aws");
    assert!(out.status.success(), "aws {args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Counts of every network kind carrying the stack's tag, straight from EC2.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Counts {
    pub vpcs: usize,
    pub subnets: usize,
    pub igws: usize,
    pub eips: usize,
    pub nats: usize,
    pub route_tables: usize,
    pub security_groups: usize,
    pub endpoints: usize,
    pub network_acls: usize,
}

pub async fn counts(c: &aws_sdk_ec2::Client, s: &Stack) -> Counts {
    use aws_sdk_ec2::types::NatGatewayState;
    let f = || s.tag_filter();
    Counts {
        vpcs: c.describe_vpcs().filters(f()).send().await.expect("vpcs").vpcs().len(),
        subnets: c.describe_subnets().filters(f()).send().await.expect("subnets").subnets().len(),
        igws: c
            .describe_internet_gateways()
            .filters(f())
            .send()
            .await
            .expect("igws")
            .internet_gateways()
            .len(),
        eips: c.describe_addresses().filters(f()).send().await.expect("eips").addresses().len(),
        nats: c
            .describe_nat_gateways()
            .filter(f())
            .send()
            .await
            .expect("nats")
            .nat_gateways()
            .iter()
            .filter(|n| !matches!(n.state(), Some(NatGatewayState::Deleted | NatGatewayState::Deleting)))
            .count(),
        route_tables: c.describe_route_tables().filters(f()).send().await.expect("rts").route_tables().len(),
        security_groups: c
            .describe_security_groups()
            .filters(f())
            .send()
            .await
            .expect("sgs")
            .security_groups()
            .len(),
        endpoints: c
            .describe_vpc_endpoints()
            .filters(f())
            .send()
            .await
            .expect("vpces")
            .vpc_endpoints()
            .iter()
            .filter(|e| !e.state().is_some_and(|s| s.as_str().eq_ignore_ascii_case("deleted")))
            .count(),
        network_acls: c
            .describe_network_acls()
            .filters(f())
            .send()
            .await
            .expect("nacls")
            .network_acls()
            .len(),
    }
}

/// What config/ha-stack.toml gives: 1 VPC, 6 subnets, 1 IGW, 2 EIPs + 2 NAT gateways,
/// 3 route tables, 3 security groups, 1 S3 gateway endpoint, 3 network ACLs.
pub fn full_counts() -> Counts {
    Counts {
        vpcs: 1,
        subnets: 6,
        igws: 1,
        eips: 2,
        nats: 2,
        route_tables: 3,
        security_groups: 3,
        endpoints: 1,
        network_acls: 3,
    }
}

/// The id state records for `address`.
pub fn state_id(s: &Stack, address: &str) -> String {
    s.state()["resources"][address]["id"]
        .as_str()
        .unwrap_or_else(|| panic!("{address} not in state"))
        .to_string()
}

/// The actions of `plan --json` (which must have changes), as (address, action) pairs.
pub fn plan_actions(s: &Stack) -> std::collections::BTreeSet<(String, String)> {
    let r = s.ok(&["plan", "--json", "--detailed-exitcode"], 2);
    let plan: serde_json::Value = serde_json::from_str(&r.stdout).expect("plan json");
    plan["actions"]
        .as_array()
        .expect("actions")
        .iter()
        .map(|a| {
            (a["address"].as_str().unwrap_or("").to_string(), a["action"].as_str().unwrap_or("").to_string())
        })
        .collect()
}

pub fn pairs(items: &[(&str, &str)]) -> std::collections::BTreeSet<(String, String)> {
    items.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect()
}

/// URL-decodes an IAM policy document (the emulator answers some of them encoded).
pub fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let Ok(b) = u8::from_str_radix(&s[i + 1..i + 3], 16) {
                out.push(b);
                i += 3;
                continue;
            }
        }
        out.push(if bytes[i] == b'+' { b' ' } else { bytes[i] });
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// An S3 client for the emulator (path-style addressing: the emulator has no
/// `<bucket>.` host names).
pub async fn s3() -> aws_sdk_s3::Client {
    aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(&sdk().await).force_path_style(true).build(),
    )
}

/// An object's body as JSON, `None` when there is no such object.
pub async fn s3_json(c: &aws_sdk_s3::Client, bucket: &str, key: &str) -> Option<serde_json::Value> {
    let out = match c.get_object().bucket(bucket).key(key).send().await {
        Ok(o) => o,
        Err(e) if e.as_service_error().is_some_and(|e| e.is_no_such_key()) => return None,
        Err(e) => panic!("get s3://{bucket}/{key}: {e:?}"),
    };
    let body = out.body.collect().await.expect("object body").into_bytes();
    Some(serde_json::from_slice(&body).unwrap_or_else(|e| panic!("s3://{bucket}/{key} is not JSON: {e}")))
}

/// Deletes every object of `bucket`, then the bucket.
pub async fn delete_bucket(c: &aws_sdk_s3::Client, bucket: &str) {
    let listed = c.list_objects_v2().bucket(bucket).send().await.expect("list objects");
    for o in listed.contents() {
        c.delete_object()
            .bucket(bucket)
            .key(o.key().unwrap_or_default())
            .send()
            .await
            .expect("delete object");
    }
    c.delete_bucket().bucket(bucket).send().await.expect("delete bucket");
}

/// Asserts that `res` failed with one of AWS's not-found error `codes`: a refused
/// connection, a timeout, a throttle or an unrelated error does not prove an object gone.
/// An entry `CODE~TEXT` matches that code only when the message contains TEXT (for a
/// generic code that also says "not found", like the emulator's GetDashboard answer).
pub fn assert_not_found<T, E, R>(
    res: Result<T, aws_sdk_ec2::error::SdkError<E, R>>,
    codes: &[&str],
    what: &str,
) where
    T: std::fmt::Debug,
    E: aws_sdk_ec2::error::ProvideErrorMetadata + std::fmt::Debug,
    R: std::fmt::Debug,
{
    use aws_sdk_ec2::error::ProvideErrorMetadata as _;
    match res {
        Ok(v) => panic!("{what} still exists: {v:?}"),
        Err(e) => {
            let code = e.code().map(str::to_string);
            let message = e.message().unwrap_or_default();
            let matches = |want: &&str| match want.split_once('~') {
                Some((c, text)) => code.as_deref() == Some(c) && message.contains(text),
                None => code.as_deref() == Some(*want),
            };
            assert!(
                codes.iter().any(matches),
                "{what}: expected a not-found error ({codes:?}), got code {code:?}: {e:?}"
            );
        }
    }
}

/// The emulator's account id (STS GetCallerIdentity).
pub async fn account_id() -> String {
    aws_sdk_sts::Client::new(&sdk().await)
        .get_caller_identity()
        .send()
        .await
        .expect("GetCallerIdentity")
        .account()
        .expect("account")
        .to_string()
}
