//! "Did you mean" suggestions by edit distance.

/// Levenshtein distance between two strings, counted in characters.
pub fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    let mut cur = vec![0; b.len() + 1];
    for (i, ca) in a.chars().enumerate() {
        cur[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let substitution = prev[j] + usize::from(ca != *cb);
            cur[j + 1] = substitution.min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        std::mem::swap(&mut prev, &mut cur);
    }
    prev[b.len()]
}

/// The candidate closest to `word`, if it is close enough to be a plausible typo: at most
/// a third of the word's length (at least 1, at most 3) edits away, ignoring case and the
/// `-` / `_` difference; ties go to the earlier candidate. Failing that, a candidate that
/// is a whole `_`-separated part at the start of the word or the other way round
/// (`nat_mode` → `nat`, `vpc` → `vpc_cidr`).
pub fn closest<'a>(word: &str, candidates: &[&'a str]) -> Option<&'a str> {
    let norm = |s: &str| s.to_ascii_lowercase().replace('-', "_");
    let w = norm(word);
    let limit = (w.chars().count() / 3).clamp(1, 3);
    let by_distance = candidates
        .iter()
        .map(|c| (edit_distance(&w, &norm(c)), *c))
        .filter(|(d, _)| *d <= limit)
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c);
    by_distance.or_else(|| {
        let is_part = |long: &str, short: &str| short.len() >= 3 && long.starts_with(&format!("{short}_"));
        candidates.iter().copied().find(|c| {
            let c = norm(c);
            is_part(&w, &c) || is_part(&c, &w)
        })
    })
}

/// `"did you mean `x`? "` or an empty string.
pub fn did_you_mean(word: &str, candidates: &[&str]) -> String {
    closest(word, candidates).map(|c| format!("did you mean `{c}`? ")).unwrap_or_default()
}

/// `"a", "b" or "c"` style listing of allowed values.
pub fn list_quoted(values: &[&str]) -> String {
    let quoted: Vec<String> = values.iter().map(|v| format!("\"{v}\"")).collect();
    match quoted.split_last() {
        None => String::new(),
        Some((last, [])) => last.clone(),
        Some((last, rest)) => format!("{} or {last}", rest.join(", ")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distances() {
        assert_eq!(edit_distance("", ""), 0);
        assert_eq!(edit_distance("abc", ""), 3);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        assert_eq!(edit_distance("vpc_cidr", "vpc_cidr"), 0);
        assert_eq!(edit_distance("vpc_cdir", "vpc_cidr"), 2);
    }

    #[test]
    fn suggests_the_closest_plausible_name() {
        let keys = ["vpc_cidr", "availability_zones", "public_subnets", "app_subnets", "nat"];
        assert_eq!(closest("vpc_cdir", &keys), Some("vpc_cidr"));
        assert_eq!(closest("app_subnet", &keys), Some("app_subnets"));
        assert_eq!(closest("availability-zones", &keys), Some("availability_zones"));
        assert_eq!(closest("nats", &keys), Some("nat"));
        assert_eq!(closest("nat_mode", &keys), Some("nat"));
        assert_eq!(closest("vpc", &keys), Some("vpc_cidr"));
        assert_eq!(closest("subnets", &keys), None);
        assert_eq!(closest("endpoints_foo", &keys), None);
        assert_eq!(closest("x", &keys), None);
        assert_eq!(did_you_mean("per_az", &["per-az", "single", "none"]), "did you mean `per-az`? ");
        assert_eq!(did_you_mean("zzz", &["per-az", "single", "none"]), "");
    }

    #[test]
    fn lists_values() {
        assert_eq!(list_quoted(&["a"]), "\"a\"");
        assert_eq!(list_quoted(&["a", "b", "c"]), "\"a\", \"b\" or \"c\"");
    }
}
