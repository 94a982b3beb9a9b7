//! Push rule management (spec: "Push rules: API"): read-modify-write of a
//! user's ruleset under their lock.

use ruma::UserId;
use ruma::api::client::push::PushRule;
use ruma::push::{Action, InsertPushRuleError, NewPushRule, RemovePushRuleError, RuleKind, Ruleset};

use crate::push::Push;
use crate::{Error, Result};

fn not_found() -> Error {
    Error::NotFound("no such push rule".to_owned())
}

impl Push {
    /// Read-modify-write of the user's rules under their lock (also how
    /// `guilds::notification_levels` expresses its settings).
    pub(crate) async fn modify(&self, user: &UserId, change: impl FnOnce(&mut Ruleset) -> Result<()>) -> Result<()> {
        let _guard = self.lock_rules(user).await?;
        let mut ruleset = (*self.ruleset(user).await?).clone();
        change(&mut ruleset)?;
        self.save_ruleset(user, ruleset).await
    }

    pub async fn rule(&self, user: &UserId, kind: RuleKind, rule_id: &str) -> Result<PushRule> {
        let ruleset = self.ruleset(user).await?;
        ruleset.get(kind, rule_id).map(|rule| rule.to_owned().into()).ok_or_else(not_found)
    }

    pub async fn set_rule(
        &self,
        user: &UserId,
        rule: NewPushRule,
        after: Option<&str>,
        before: Option<&str>,
    ) -> Result<()> {
        self.modify(user, |ruleset| {
            // With both, the rule goes next to `before` (spec).
            let after = if before.is_some() { None } else { after };
            ruleset.insert(rule, after, before).map_err(|e| match e {
                InsertPushRuleError::UnknownRuleId => {
                    Error::NotFound("the before or after rule does not exist".to_owned())
                }
                other => Error::InvalidParam(other.to_string()),
            })
        })
        .await
    }

    pub async fn delete_rule(&self, user: &UserId, kind: RuleKind, rule_id: &str) -> Result<()> {
        self.modify(user, |ruleset| {
            ruleset.remove(kind, rule_id).map_err(|e| match e {
                RemovePushRuleError::NotFound => not_found(),
                other => Error::InvalidParam(other.to_string()),
            })
        })
        .await
    }

    pub async fn set_enabled(&self, user: &UserId, kind: RuleKind, rule_id: &str, enabled: bool) -> Result<()> {
        self.modify(user, |ruleset| ruleset.set_enabled(kind, rule_id, enabled).map_err(|_| not_found())).await
    }

    pub async fn set_actions(&self, user: &UserId, kind: RuleKind, rule_id: &str, actions: Vec<Action>) -> Result<()> {
        self.modify(user, |ruleset| ruleset.set_actions(kind, rule_id, actions).map_err(|_| not_found())).await
    }
}
