//! `[ci]`: the AWS side of a GitHub Actions pipeline (OIDC identity provider, plan and
//! deploy roles). A child module of `validate`.

use crate::error::Collector;
use crate::model::{CiConfig, StateBackend, StateConfig, GITHUB_THUMBPRINTS};
use crate::raw::RawCi;

/// Characters GitHub allows in an owner (user or organisation) name, at most 39.
fn is_owner(s: &str) -> bool {
    (1..=39).contains(&s.len())
        && !s.starts_with('-')
        && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
}

/// Characters GitHub allows in a repository name, at most 100 (`.` and `..` are not names).
fn is_repo(s: &str) -> bool {
    (1..=100).contains(&s.len())
        && s != "."
        && s != ".."
        && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
}

/// A branch name as git allows it, without what would be a wildcard or a variable in the
/// trust policy's `sub` condition (`*`, `?`, `$`) and at most 255 characters.
fn branch_problem(s: &str) -> Option<&'static str> {
    if s.is_empty() || s.len() > 255 {
        return Some("a branch name has 1 to 255 characters");
    }
    if s.starts_with(['-', '/', '.']) || s.ends_with(['/', '.']) || s.ends_with(".lock") {
        return Some("git does not allow this name");
    }
    if s.contains("..") || s.contains("//") || s.contains("@{") {
        return Some("git does not allow \"..\", \"//\" or \"@{\" in a branch name");
    }
    if s.chars().any(|ch| ch.is_whitespace() || ch.is_control() || "~^:\\[*?$".contains(ch)) {
        return Some(
            "it holds a character git or the trust condition does not allow (whitespace ~ ^ : \\ [ * ? $)",
        );
    }
    None
}

/// A GitHub environment name: letters, digits, ` `, `-`, `_` and `.`, at most 255.
fn is_environment(s: &str) -> bool {
    (1..=255).contains(&s.len())
        && !s.starts_with(' ')
        && !s.ends_with(' ')
        && s.bytes().all(|b| b.is_ascii_alphanumeric() || b" -_.".contains(&b))
}

/// `arn:<partition>:iam::<account>:oidc-provider/token.actions.githubusercontent.com`.
fn is_github_provider_arn(s: &str) -> bool {
    let parts: Vec<&str> = s.splitn(6, ':').collect();
    matches!(parts.as_slice(), ["arn", p, "iam", "", account, "oidc-provider/token.actions.githubusercontent.com"]
        if p.starts_with("aws") && account.len() == 12 && account.bytes().all(|b| b.is_ascii_digit()))
}

pub(super) fn ci(r: &RawCi, state: Option<&StateConfig>, c: &mut Collector<'_>) -> Option<CiConfig> {
    let errors_before = c.errors.len();
    let repo = r.github_repository.get_ref();
    let repo_ok = match repo.split_once('/') {
        Some((owner, name)) => is_owner(owner) && is_repo(name),
        None => false,
    };
    if !repo_ok {
        let msg = format!("\"{repo}\" is not a GitHub repository");
        let hint = "write \"<owner>/<name>\", e.g. \"acme/shop-infra\": the owner (letters, digits, '-', at most 39) \
                    and the repository (letters, digits, '-', '_', '.', at most 100), no wildcards";
        c.push(r.github_repository.span(), "ci.github_repository", msg, hint);
    }
    let deploy_branch = match &r.deploy_branch {
        None => "main".to_string(),
        Some(v) => {
            if let Some(problem) = branch_problem(v.get_ref()) {
                let msg = format!("invalid branch \"{}\": {problem}", v.get_ref());
                let hint = "the one branch whose workflow runs may apply, e.g. \"main\"";
                c.push(v.span(), "ci.deploy_branch", msg, hint);
            }
            v.get_ref().clone()
        }
    };
    if let Some(v) = r.deploy_environment.as_ref().filter(|v| !is_environment(v.get_ref())) {
        let msg = format!("invalid GitHub environment name \"{}\"", v.get_ref());
        let hint = "letters, digits, spaces, '-', '_' and '.', at most 255 characters (the deploy job's `environment:`)";
        c.push(v.span(), "ci.deploy_environment", msg, hint);
    }
    if let Some(v) = r.oidc_provider_arn.as_ref().filter(|v| !is_github_provider_arn(v.get_ref())) {
        let msg = format!("\"{}\" is not the ARN of GitHub's OIDC provider", v.get_ref());
        let hint = "write \"arn:aws:iam::<account>:oidc-provider/token.actions.githubusercontent.com\" \
                    (`aws iam list-open-id-connect-providers`), or leave it out to create the provider";
        c.push(v.span(), "ci.oidc_provider_arn", msg, hint);
    }
    let thumbprints = match &r.thumbprints {
        None => GITHUB_THUMBPRINTS.iter().map(|t| t.to_string()).collect(),
        Some(list) => {
            if let Some(v) = &r.oidc_provider_arn {
                let msg = "thumbprints is set but oidc_provider_arn names an existing provider";
                let hint = "thumbprints apply to a provider the stack creates: remove one of the two";
                c.push(v.span(), "ci.thumbprints", msg, hint);
            }
            if list.get_ref().is_empty() || list.get_ref().len() > 5 {
                let msg = format!("{} thumbprints: IAM takes 1 to 5", list.get_ref().len());
                c.push(list.span(), "ci.thumbprints", msg, "leave it out for GitHub's published thumbprints");
            }
            for t in list.get_ref() {
                let s = t.get_ref();
                if s.len() != 40 || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
                    let msg = format!("\"{s}\" is not a certificate thumbprint");
                    let hint = "40 hexadecimal digits (the SHA-1 of the issuer's top certificate)";
                    c.push(t.span(), "ci.thumbprints", msg, hint);
                }
            }
            list.get_ref().iter().map(|t| t.get_ref().to_ascii_lowercase()).collect()
        }
    };
    if matches!(state.map(|s| &s.backend), Some(StateBackend::Local)) {
        let msg = "the CI roles run hactl on GitHub's runners, which cannot read local state files";
        let hint = "keep the state in S3: add [state] with backend = \"s3\" and bucket = \"<your bucket>\"";
        c.push(r.github_repository.span(), "ci.github_repository", msg, hint);
    }
    (c.errors.len() == errors_before).then(|| CiConfig {
        github_repository: repo.clone(),
        deploy_branch,
        deploy_environment: r.deploy_environment.as_ref().map(|v| v.get_ref().clone()),
        oidc_provider_arn: r.oidc_provider_arn.as_ref().map(|v| v.get_ref().clone()),
        thumbprints,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_github_accepts_and_what_it_does_not() {
        assert!(is_owner("acme") && is_owner("a-b1") && !is_owner("-a") && !is_owner(&"a".repeat(40)));
        assert!(is_repo("shop.infra_2-x") && !is_repo("..") && !is_repo("a*b") && !is_repo(""));
        assert_eq!(branch_problem("main"), None);
        assert_eq!(branch_problem("release/1.x"), None);
        for bad in ["", "a b", "feat/*", "x..y", "-x", "x.lock", "a?b", "x/"] {
            assert!(branch_problem(bad).is_some(), "{bad:?} accepted");
        }
        assert!(is_environment("production") && !is_environment(" prod") && !is_environment("a*"));
        assert!(is_github_provider_arn(
            "arn:aws:iam::123456789012:oidc-provider/token.actions.githubusercontent.com"
        ));
        assert!(!is_github_provider_arn("arn:aws:iam::123456789012:oidc-provider/example.com"));
        assert!(!is_github_provider_arn(
            "arn:aws:iam::12345:oidc-provider/token.actions.githubusercontent.com"
        ));
    }
}
