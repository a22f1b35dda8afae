//! Tag synchronisation, written once for every service: [`TagChanges`] is what differs
//! between two tag maps, and a service's [`Tagger`] supplies only its two calls (set tag
//! values, remove tag keys). [`Tagger::apply_tags`] makes them in that order, each only
//! when it has something to do, and each once, as the providers always did: a resource
//! carries at most 50 tags (checked before any call, crates/hactl-config/src/limits.rs).

use async_trait::async_trait;
use hactl_core::{PropChange, Props, Value};
use hactl_engine::ProviderError;
use std::collections::BTreeMap;

/// What brings a resource's tags from one map to another.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct TagChanges {
    /// Keys to set, with their values: new keys and keys whose value changes.
    pub set: BTreeMap<String, String>,
    /// Keys to remove.
    pub removed: Vec<String>,
}

impl TagChanges {
    /// An update's `tags` change: from `before` to `after` (both `tags` property values).
    pub(crate) fn between(before: Option<&Value>, after: Option<&Value>) -> Self {
        let before = before.map(Value::string_map).unwrap_or_default();
        let after = after.map(Value::string_map).unwrap_or_default();
        Self::from_to(&before, after, |_| true)
    }

    /// From the live tags of an object (one found at create, adopted) to the desired
    /// `tags` property. AWS-reserved `aws:` keys are never removed.
    pub(crate) fn to_desired(live: &BTreeMap<String, String>, props: &Props) -> Self {
        Self::from_to(live, super::tag_map(props), |k| !k.starts_with("aws:"))
    }

    /// Removes every key of `live` but the AWS-reserved `aws:` ones.
    pub(crate) fn remove_all(live: &BTreeMap<String, String>) -> Self {
        Self::from_to(live, BTreeMap::new(), |k| !k.starts_with("aws:"))
    }

    fn from_to(
        from: &BTreeMap<String, String>,
        to: BTreeMap<String, String>,
        removable: impl Fn(&str) -> bool,
    ) -> Self {
        let removed = from.keys().filter(|k| removable(k) && !to.contains_key(*k)).cloned().collect();
        let set = to.into_iter().filter(|(k, v)| from.get(k) != Some(v)).collect();
        TagChanges { set, removed }
    }
}

/// The two tag calls of one service (or one kind, where a service tags kinds with calls
/// of their own): everything else of tag synchronisation is provided.
#[async_trait]
pub(crate) trait Tagger: Sync {
    /// Sets these tags (new or changed values) on the resource `id` (an ARN, a name, ...).
    async fn set_tag_values(&self, id: &str, tags: BTreeMap<String, String>) -> Result<(), ProviderError>;

    /// Removes these tag keys from the resource `id`.
    async fn remove_tag_keys(&self, id: &str, keys: Vec<String>) -> Result<(), ProviderError>;

    /// Makes `changes` on `id`: the values first, then the removals, each call only when
    /// it has something to do.
    async fn apply_tags(&self, id: &str, changes: TagChanges) -> Result<(), ProviderError> {
        if !changes.set.is_empty() {
            self.set_tag_values(id, changes.set).await?;
        }
        if !changes.removed.is_empty() {
            self.remove_tag_keys(id, changes.removed).await?;
        }
        Ok(())
    }

    /// Brings the tags of `id` from `before` to `after` (an update's `tags` change).
    async fn sync_tags(
        &self,
        id: &str,
        before: Option<&Value>,
        after: Option<&Value>,
    ) -> Result<(), ProviderError> {
        self.apply_tags(id, TagChanges::between(before, after)).await
    }

    /// Brings the tags of `id` from `live` to the desired `tags` of `props` (an adopted
    /// object); AWS-reserved keys stay.
    async fn converge_tags(
        &self,
        id: &str,
        live: &BTreeMap<String, String>,
        props: &Props,
    ) -> Result<(), ProviderError> {
        self.apply_tags(id, TagChanges::to_desired(live, props)).await
    }

    /// The update of a kind whose only in-place property is `tags` (the others force a
    /// replacement, so the planner never asks to update them): syncs the tags of `id`, in
    /// the order of the changes; any other change is refused with `refuse(name)`.
    async fn update_tags_only(
        &self,
        id: &str,
        changes: &[PropChange],
        refuse: for<'n> fn(&'n str) -> ProviderError,
    ) -> Result<(), ProviderError> {
        for c in changes {
            match c.name.as_str() {
                "tags" => self.sync_tags(id, c.before.as_ref(), c.after.as_ref()).await?,
                other => return Err(refuse(other)),
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    fn tags(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn an_update_sets_new_and_changed_values_and_removes_dropped_keys() {
        let before = Value::from_string_map(tags(&[("a", "1"), ("b", "2"), ("c", "3")]));
        let after = Value::from_string_map(tags(&[("a", "1"), ("b", "20"), ("d", "4")]));
        let c = TagChanges::between(Some(&before), Some(&after));
        assert_eq!(c.set, tags(&[("b", "20"), ("d", "4")]));
        assert_eq!(c.removed, vec!["c".to_string()]);
        assert_eq!(TagChanges::between(None, None), TagChanges::default());
    }

    #[test]
    fn converging_keeps_aws_reserved_keys() {
        let live = tags(&[("aws:cloudformation:stack-name", "x"), ("old", "1"), ("keep", "1")]);
        let props = Props::from([("tags".to_string(), Value::from_string_map(tags(&[("keep", "2")])))]);
        let c = TagChanges::to_desired(&live, &props);
        assert_eq!(c.set, tags(&[("keep", "2")]));
        assert_eq!(c.removed, vec!["old".to_string()]);
        assert_eq!(TagChanges::remove_all(&live).removed, vec!["keep".to_string(), "old".to_string()]);
    }

    /// Records the calls a sync makes.
    #[derive(Default)]
    struct Recorder(Mutex<Vec<String>>);

    #[async_trait]
    impl Tagger for Recorder {
        async fn set_tag_values(
            &self,
            id: &str,
            tags: BTreeMap<String, String>,
        ) -> Result<(), ProviderError> {
            self.0.lock().unwrap().push(format!("tag {id} {tags:?}"));
            Ok(())
        }

        async fn remove_tag_keys(&self, id: &str, keys: Vec<String>) -> Result<(), ProviderError> {
            self.0.lock().unwrap().push(format!("untag {id} {keys:?}"));
            Ok(())
        }
    }

    #[tokio::test]
    async fn values_go_first_and_empty_calls_are_never_made() {
        let r = Recorder::default();
        let before = Value::from_string_map(tags(&[("a", "1"), ("b", "2")]));
        let after = Value::from_string_map(tags(&[("b", "3")]));
        r.sync_tags("arn:x", Some(&before), Some(&after)).await.unwrap();
        r.sync_tags("arn:x", Some(&after), Some(&after)).await.unwrap();
        r.apply_tags("arn:y", TagChanges { set: BTreeMap::new(), removed: vec!["z".into()] }).await.unwrap();
        let calls = r.0.lock().unwrap().clone();
        assert_eq!(calls, vec![r#"tag arn:x {"b": "3"}"#, r#"untag arn:x ["a"]"#, r#"untag arn:y ["z"]"#]);
    }
}
