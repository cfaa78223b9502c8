//! The keys copied lately in the window, which the tray's menu offers to copy again. Names and
//! ids only, never a secret.

use std::sync::Mutex;

/// How many recently copied keys are kept, per profile.
pub const RECENT_KEYS: usize = 5;

/// A key copied from the window.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecentKey {
    pub profile: String,
    pub account_id: String,
    pub key_id: String,
    pub label: String,
}

/// The keys copied lately, newest first, at most [`RECENT_KEYS`] per profile.
#[derive(Default)]
pub struct RecentKeys(Mutex<Vec<RecentKey>>);

impl RecentKeys {
    pub fn note(&self, key: RecentKey) {
        let mut keys = self.0.lock().unwrap_or_else(|p| p.into_inner());
        keys.retain(|k| !(k.account_id == key.account_id && k.key_id == key.key_id));
        keys.insert(0, key);
        let mut per_profile = std::collections::HashMap::<String, usize>::new();
        keys.retain(|k| {
            let seen = per_profile.entry(k.profile.clone()).or_default();
            *seen += 1;
            *seen <= RECENT_KEYS
        });
    }

    /// Forgets a key that is gone (revoked, forgotten).
    pub fn forget(&self, account_id: &str, key_id: &str) {
        let mut keys = self.0.lock().unwrap_or_else(|p| p.into_inner());
        keys.retain(|k| !(k.account_id == account_id && k.key_id == key_id));
    }

    /// The keys of `profile`, newest first.
    pub fn of(&self, profile: &str) -> Vec<RecentKey> {
        let keys = self.0.lock().unwrap_or_else(|p| p.into_inner());
        keys.iter()
            .filter(|k| k.profile == profile)
            .cloned()
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(profile: &str, key_id: &str) -> RecentKey {
        RecentKey {
            profile: profile.into(),
            account_id: "acc_1".into(),
            key_id: key_id.into(),
            label: format!("{key_id} (local)"),
        }
    }

    #[test]
    fn recent_keys_keep_the_newest_five_of_each_profile_once() {
        let recent = RecentKeys::default();
        for i in 0..7 {
            recent.note(key("ann", &format!("k{i}")));
        }
        recent.note(key("bob", "b1"));
        recent.note(key("ann", "k3"));
        let ann: Vec<_> = recent.of("ann").into_iter().map(|k| k.key_id).collect();
        assert_eq!(ann, ["k3", "k6", "k5", "k4", "k2"]);
        assert_eq!(recent.of("bob").len(), 1);
        recent.forget("acc_1", "k6");
        assert_eq!(recent.of("ann").len(), 4);
    }
}
