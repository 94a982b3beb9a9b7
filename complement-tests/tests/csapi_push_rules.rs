//! Push rules — mirrors Complement's `push_test` (`TestPushSync`,
//! `TestPushRuleCacheHealth`); spec: client-server API "Push Rules",
//! "Predefined Rules", "Push Rules: API" (`GET /pushrules/`,
//! `GET /pushrules/global/`, `GET`/`PUT`/`DELETE
//! /pushrules/global/{kind}/{ruleId}` with `before`/`after`, `.../enabled`,
//! `.../actions`) and "Push Rules: Events" (`m.push_rules` account data).
//! How rules change what notifies is in `csapi_notifications.rs`.

use std::time::{Duration, Instant};

use nexus_complement::push_gateway::normalize_actions;
use nexus_complement::{Backend, Homeserver, Session, Synced, both_backends};
use serde_json::{Value, json};

const PASSWORD: &str = "sUp3r-secret";

const KINDS: [&str; 5] = ["override", "content", "room", "sender", "underride"];

/// The rules of `kind` in a ruleset (an absent kind reads as none: the
/// ruleset's properties are not required).
#[track_caller]
fn rules_of(ruleset: &Value, kind: &str) -> Vec<Value> {
    match ruleset.get(kind) {
        None => Vec::new(),
        Some(rules) => rules.as_array().unwrap_or_else(|| panic!("{kind} is not an array: {ruleset:#}")).clone(),
    }
}

fn rule_ids(ruleset: &Value, kind: &str) -> Vec<String> {
    rules_of(ruleset, kind).iter().map(|r| r["rule_id"].as_str().unwrap_or_default().to_owned()).collect()
}

#[track_caller]
fn find_rule(ruleset: &Value, kind: &str, rule_id: &str) -> Option<Value> {
    rules_of(ruleset, kind).into_iter().find(|r| r["rule_id"] == rule_id)
}

/// Asserts the required PushRule fields (`actions`, `default`, `enabled`,
/// `rule_id`), `pattern` on content rules, and that server-default rules
/// and only they have ids starting with a dot.
#[track_caller]
fn assert_rule_shape(kind: &str, rule: &Value) {
    assert!(rule["actions"].is_array(), "actions must be an array: {rule:#}");
    assert!(rule["default"].is_boolean(), "default must be a boolean: {rule:#}");
    assert!(rule["enabled"].is_boolean(), "enabled must be a boolean: {rule:#}");
    let id = rule["rule_id"].as_str().unwrap_or_else(|| panic!("rule_id must be a string: {rule:#}"));
    // "The rule_id for all server-default rules MUST start with a dot", and
    // ids that start with one are "reserved for server-default rules".
    assert_eq!(rule["default"] == true, id.starts_with('.'), "default vs a leading dot in the rule_id: {rule:#}");
    if kind == "content" && rule["default"] == false {
        assert!(rule["pattern"].is_string(), "a content rule has a pattern: {rule:#}");
    }
    if let Some(conditions) = rule.get("conditions") {
        let conditions = conditions.as_array().unwrap_or_else(|| panic!("conditions must be an array: {rule:#}"));
        assert!(conditions.iter().all(|c| c["kind"].is_string()), "every condition has a kind: {rule:#}");
    }
}

#[track_caller]
fn assert_ruleset_shape(ruleset: &Value) {
    assert!(ruleset.is_object(), "a ruleset is an object: {ruleset:#}");
    for kind in KINDS {
        for rule in rules_of(ruleset, kind) {
            assert_rule_shape(kind, &rule);
        }
    }
}

/// The spec's server-default rules ("Predefined Rules"), as (kind, rule)
/// with the user's id filled in.
fn spec_default_rules(user_id: &str) -> Vec<(&'static str, Value)> {
    let sound = |s: &str| json!({"set_tweak": "sound", "value": s});
    let highlight = json!({"set_tweak": "highlight"});
    let rule = |id: &str, enabled: bool, conditions: Value, actions: Value| json!({"rule_id": id, "default": true, "enabled": enabled, "conditions": conditions, "actions": actions});
    let event_match = |key: &str, pattern: &str| json!({"kind": "event_match", "key": key, "pattern": pattern});
    vec![
        ("override", rule(".m.rule.master", false, json!([]), json!([]))),
        (
            "override",
            rule(".m.rule.suppress_notices", true, json!([event_match("content.msgtype", "m.notice")]), json!([])),
        ),
        (
            "override",
            rule(
                ".m.rule.invite_for_me",
                true,
                json!([
                    event_match("type", "m.room.member"),
                    event_match("content.membership", "invite"),
                    event_match("state_key", user_id),
                ]),
                json!(["notify", sound("default")]),
            ),
        ),
        ("override", rule(".m.rule.member_event", true, json!([event_match("type", "m.room.member")]), json!([]))),
        (
            "override",
            rule(
                ".m.rule.is_user_mention",
                true,
                json!([{"kind": "event_property_contains", "key": "content.m\\.mentions.user_ids", "value": user_id}]),
                json!(["notify", sound("default"), highlight]),
            ),
        ),
        (
            "override",
            rule(
                ".m.rule.is_room_mention",
                true,
                json!([
                    {"kind": "event_property_is", "key": "content.m\\.mentions.room", "value": true},
                    {"kind": "sender_notification_permission", "key": "room"},
                ]),
                json!(["notify", highlight]),
            ),
        ),
        (
            "override",
            rule(
                ".m.rule.tombstone",
                true,
                json!([event_match("type", "m.room.tombstone"), event_match("state_key", "")]),
                json!(["notify", highlight]),
            ),
        ),
        ("override", rule(".m.rule.reaction", true, json!([event_match("type", "m.reaction")]), json!([]))),
        (
            "override",
            rule(
                ".m.rule.room.server_acl",
                true,
                json!([event_match("type", "m.room.server_acl"), event_match("state_key", "")]),
                json!([]),
            ),
        ),
        (
            "override",
            rule(
                ".m.rule.suppress_edits",
                true,
                json!([{"kind": "event_property_is", "key": "content.m\\.relates_to.rel_type", "value": "m.replace"}]),
                json!([]),
            ),
        ),
        (
            "underride",
            rule(".m.rule.call", true, json!([event_match("type", "m.call.invite")]), json!(["notify", sound("ring")])),
        ),
        (
            "underride",
            rule(
                ".m.rule.encrypted_room_one_to_one",
                true,
                json!([{"kind": "room_member_count", "is": "2"}, event_match("type", "m.room.encrypted")]),
                json!(["notify", sound("default")]),
            ),
        ),
        (
            "underride",
            rule(
                ".m.rule.room_one_to_one",
                true,
                json!([{"kind": "room_member_count", "is": "2"}, event_match("type", "m.room.message")]),
                json!(["notify", sound("default")]),
            ),
        ),
        ("underride", rule(".m.rule.message", true, json!([event_match("type", "m.room.message")]), json!(["notify"]))),
        (
            "underride",
            rule(".m.rule.encrypted", true, json!([event_match("type", "m.room.encrypted")]), json!(["notify"])),
        ),
    ]
}

/// Asserts that `actual` is `expected` up to the meaning of its actions.
#[track_caller]
fn assert_same_rule(actual: &Value, expected: &Value) {
    for field in ["rule_id", "default", "enabled", "conditions"] {
        assert_eq!(actual[field], expected[field], "{field} of {}: {actual:#}", expected["rule_id"]);
    }
    assert_eq!(
        normalize_actions(&actual["actions"]),
        normalize_actions(&expected["actions"]),
        "actions of {}: {actual:#}",
        expected["rule_id"]
    );
}

async fn default_push_rules_are_the_spec_server_default_rules(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let alice = hs.api().register("alice", PASSWORD).await;

    let global = alice.push_rules().await;

    assert_ruleset_shape(&global);
    for (kind, expected) in spec_default_rules(&alice.user_id) {
        let id = expected["rule_id"].as_str().unwrap();
        let actual = find_rule(&global, kind, id).unwrap_or_else(|| panic!("no {kind} rule {id}: {global:#}"));
        assert_same_rule(&actual, &expected);
    }
    // ".m.rule.master ... has always a higher priority than any other rule."
    assert_eq!(rule_ids(&global, "override").first().map(String::as_str), Some(".m.rule.master"), "{global:#}");
    // A user who set nothing has only server-default rules.
    for kind in KINDS {
        for rule in rules_of(&global, kind) {
            assert_eq!(rule["default"], true, "a rule the user never set: {rule:#}");
        }
    }
}
both_backends!(default_push_rules_are_the_spec_server_default_rules);

async fn push_rules_can_be_read_per_ruleset_and_per_rule(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let alice = hs.api().register("alice", PASSWORD).await;
    alice.put_push_rule("room", "!some:example.org", "", json!({"actions": []})).await.expect_ok();

    let global = alice.push_rules().await;
    let reply = alice.get("/pushrules/global/").await;
    assert_eq!(reply.expect_ok(), &global, "GET /pushrules/global/ is the global ruleset: {reply:?}");

    for kind in KINDS {
        for rule in rules_of(&global, kind) {
            let id = rule["rule_id"].as_str().unwrap();
            let reply = alice.get_push_rule(kind, id).await;
            assert_eq!(reply.expect_ok(), &rule, "GET of one rule matches the ruleset: {reply:?}");
        }
    }
}
both_backends!(push_rules_can_be_read_per_ruleset_and_per_rule);

async fn can_add_and_delete_a_push_rule(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let alice = hs.api().register("alice", PASSWORD).await;
    let actions = json!(["notify", {"set_tweak": "sound", "value": "cakealarm.wav"}]);

    let reply = alice.put_push_rule("content", "cake", "", json!({"pattern": "cake", "actions": actions})).await;
    assert_eq!(reply.expect_ok(), &json!({}), "{reply:?}");

    let reply = alice.get_push_rule("content", "cake").await;
    let rule = reply.expect_ok();
    assert_eq!(rule["rule_id"], "cake", "{reply:?}");
    assert_eq!(rule["pattern"], "cake", "{reply:?}");
    assert_eq!(rule["default"], false, "{reply:?}");
    // "When creating push rules, they MUST be enabled by default."
    assert_eq!(rule["enabled"], true, "{reply:?}");
    assert_eq!(normalize_actions(&rule["actions"]), normalize_actions(&actions), "{reply:?}");
    assert_eq!(find_rule(&alice.push_rules().await, "content", "cake").as_ref(), Some(rule));

    // Changing a rule that exists updates it in place of adding another.
    alice.put_push_rule("content", "cake", "", json!({"pattern": "cake*lie", "actions": []})).await.expect_ok();
    let global = alice.push_rules().await;
    assert_eq!(rule_ids(&global, "content").iter().filter(|id| *id == "cake").count(), 1, "{global:#}");
    let rule = find_rule(&global, "content", "cake").unwrap();
    assert_eq!(rule["pattern"], "cake*lie", "{rule:#}");
    assert!(normalize_actions(&rule["actions"]).is_empty(), "{rule:#}");

    let reply = alice.delete_push_rule("content", "cake").await;
    assert_eq!(reply.expect_ok(), &json!({}), "{reply:?}");
    alice.get_push_rule("content", "cake").await.expect_error(404, "M_NOT_FOUND");
    assert!(find_rule(&alice.push_rules().await, "content", "cake").is_none());
    alice.delete_push_rule("content", "cake").await.expect_error(404, "M_NOT_FOUND");
}
both_backends!(can_add_and_delete_a_push_rule);

async fn push_rules_of_every_kind_can_be_added(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let alice = hs.api().register("alice", PASSWORD).await;
    let room = "!dj234r78wl45Gh4D:example.org";
    let sender = "@spambot:example.org";
    let conditions = json!([
        {"kind": "event_match", "key": "content.body", "pattern": "beer"},
        {"kind": "room_member_count", "is": "<=10"},
    ]);

    alice.put_push_rule("room", room, "", json!({"actions": []})).await.expect_ok();
    alice.put_push_rule("sender", sender, "", json!({"actions": []})).await.expect_ok();
    alice
        .put_push_rule("override", "beer", "", json!({"conditions": conditions, "actions": ["notify"]}))
        .await
        .expect_ok();
    alice
        .put_push_rule("underride", "anything", "", json!({"conditions": [], "actions": ["notify"]}))
        .await
        .expect_ok();

    let global = alice.push_rules().await;
    assert_ruleset_shape(&global);
    assert!(find_rule(&global, "room", room).is_some(), "{global:#}");
    assert!(find_rule(&global, "sender", sender).is_some(), "{global:#}");
    let beer = find_rule(&global, "override", "beer").unwrap_or_else(|| panic!("{global:#}"));
    assert_eq!(beer["conditions"], conditions, "{beer:#}");
    let anything = find_rule(&global, "underride", "anything").unwrap_or_else(|| panic!("{global:#}"));
    assert_eq!(anything.get("conditions").cloned().unwrap_or(json!([])), json!([]), "{anything:#}");

    // User-defined rules outrank the server-default ones of their kind,
    // except .m.rule.master, which outranks everything.
    let overrides = rule_ids(&global, "override");
    assert_eq!(overrides[..2], [".m.rule.master".to_owned(), "beer".to_owned()], "{overrides:?}");
    let underrides = rule_ids(&global, "underride");
    assert_eq!(underrides.first().map(String::as_str), Some("anything"), "{underrides:?}");
}
both_backends!(push_rules_of_every_kind_can_be_added);

async fn add_content_rule(alice: &Session, id: &str, query: &str) {
    alice.put_push_rule("content", id, query, json!({"pattern": id, "actions": ["notify"]})).await.expect_ok();
}

/// The ids of the user-defined content rules, in priority order.
async fn user_content_rules(alice: &Session) -> Vec<String> {
    rule_ids(&alice.push_rules().await, "content").into_iter().filter(|id| !id.starts_with('.')).collect()
}

async fn new_push_rules_are_placed_by_before_and_after(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let alice = hs.api().register("alice", PASSWORD).await;
    add_content_rule(&alice, "a", "").await;
    // "If neither after nor before are provided and the rule is created, it
    // should be added as the most important user defined rule".
    add_content_rule(&alice, "b", "").await;
    assert_eq!(user_content_rules(&alice).await, ["b", "a"]);
    // after: "the next-less important rule relative to the given rule".
    add_content_rule(&alice, "c", "after=b").await;
    assert_eq!(user_content_rules(&alice).await, ["b", "c", "a"]);
    // before: "the next-most important rule with respect to the given rule".
    add_content_rule(&alice, "d", "before=a").await;
    assert_eq!(user_content_rules(&alice).await, ["b", "c", "d", "a"]);
    // Both, agreeing: between d and a.
    add_content_rule(&alice, "e", "before=a&after=d").await;
    assert_eq!(user_content_rules(&alice).await, ["b", "c", "d", "e", "a"]);
    // Both, disagreeing: "If both after and before are provided, the new or
    // updated rule must be the next most important rule with respect to the
    // rule identified by before."
    add_content_rule(&alice, "f", "before=b&after=a").await;
    assert_eq!(user_content_rules(&alice).await, ["f", "b", "c", "d", "e", "a"]);
}
both_backends!(new_push_rules_are_placed_by_before_and_after);

async fn push_rules_cannot_be_placed_relative_to_unknown_or_server_default_rules(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let alice = hs.api().register("alice", PASSWORD).await;
    alice.put_push_rule("override", "mine", "", json!({"conditions": [], "actions": []})).await.expect_ok();
    let before = alice.push_rules().await;

    for query in ["before=nosuchrule", "after=nosuchrule", "before=.m.rule.master", "after=.m.rule.suppress_notices"] {
        let reply = alice.put_push_rule("override", "placed", query, json!({"conditions": [], "actions": []})).await;
        // 400 "There was a problem configuring this push rule" (example:
        // "before/after rule not found"); "It is not possible to add a rule
        // relative to a predefined server rule." A 404 for the unknown
        // rule is accepted too.
        assert!(reply.status == 400 || reply.status == 404, "{reply:?}");
        reply.expect_standard_error();
    }
    assert_eq!(alice.push_rules().await, before, "a refused PUT changes nothing");
}
both_backends!(push_rules_cannot_be_placed_relative_to_unknown_or_server_default_rules);

async fn reserved_rule_ids_cannot_be_created(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let alice = hs.api().register("alice", PASSWORD).await;
    let before = alice.push_rules().await;
    let body = json!({"conditions": [], "actions": ["notify"]});

    // "If the string starts with a dot ("."), the request MUST be rejected
    // as this is reserved for server-default rules."
    for id in [".my.rule", ".m.rule.master", ".m.rule.message"] {
        let reply = alice.put_push_rule("override", id, "", body.clone()).await;
        assert_eq!(reply.status, 400, "{reply:?}");
        reply.expect_standard_error();
    }
    // "Slashes ("/") and backslashes ("\") are also not allowed."
    for id in ["back\\slash", "a/b"] {
        let reply = alice.put_push_rule("override", id, "", body.clone()).await;
        assert!((400..500).contains(&reply.status), "{reply:?}");
        reply.expect_standard_error();
    }
    assert_eq!(alice.push_rules().await, before, "a refused PUT changes nothing");
}
both_backends!(reserved_rule_ids_cannot_be_created);

async fn server_default_rules_cannot_be_deleted(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let alice = hs.api().register("alice", PASSWORD).await;
    let before = alice.push_rules().await;

    for (kind, id) in [("override", ".m.rule.master"), ("underride", ".m.rule.message")] {
        let reply = alice.delete_push_rule(kind, id).await;
        assert!((400..500).contains(&reply.status) && reply.status != 404, "{reply:?}");
        reply.expect_standard_error();
    }
    assert_eq!(alice.push_rules().await, before, "the server-default rules are still there");
}
both_backends!(server_default_rules_cannot_be_deleted);

async fn unknown_push_rules_are_not_found(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let alice = hs.api().register("alice", PASSWORD).await;
    // A rule of another kind is not this rule.
    alice.put_push_rule("sender", "@x:example.org", "", json!({"actions": []})).await.expect_ok();

    for (kind, id) in [("override", "nosuchrule"), ("room", "@x:example.org"), ("content", ".m.rule.master")] {
        alice.get_push_rule(kind, id).await.expect_error(404, "M_NOT_FOUND");
        alice.delete_push_rule(kind, id).await.expect_error(404, "M_NOT_FOUND");
        alice.get(&Session::push_rule_path(kind, id, "/enabled")).await.expect_error(404, "M_NOT_FOUND");
        alice.set_push_rule_enabled(kind, id, false).await.expect_error(404, "M_NOT_FOUND");
        alice.get(&Session::push_rule_path(kind, id, "/actions")).await.expect_error(404, "M_NOT_FOUND");
        alice.set_push_rule_actions(kind, id, json!([])).await.expect_error(404, "M_NOT_FOUND");
    }
}
both_backends!(unknown_push_rules_are_not_found);

async fn push_rules_can_be_enabled_and_disabled(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let alice = hs.api().register("alice", PASSWORD).await;
    alice.put_push_rule("sender", "@spambot:example.org", "", json!({"actions": []})).await.expect_ok();

    for (kind, id, initially) in [("override", ".m.rule.master", false), ("sender", "@spambot:example.org", true)] {
        let path = Session::push_rule_path(kind, id, "/enabled");
        let reply = alice.get(&path).await;
        assert_eq!(reply.expect_ok(), &json!({"enabled": initially}), "{reply:?}");

        for enabled in [!initially, initially] {
            let reply = alice.set_push_rule_enabled(kind, id, enabled).await;
            assert_eq!(reply.expect_ok(), &json!({}), "{reply:?}");
            let reply = alice.get(&path).await;
            assert_eq!(reply.expect_ok()["enabled"], enabled, "{reply:?}");
            let rule = find_rule(&alice.push_rules().await, kind, id).unwrap();
            assert_eq!(rule["enabled"], enabled, "{rule:#}");
        }
    }

    let reply =
        alice.put(&Session::push_rule_path("override", ".m.rule.master", "/enabled"), json!({"enabled": "yes"})).await;
    reply.expect_error_in(400, &["M_BAD_JSON", "M_INVALID_PARAM", "M_NOT_JSON"]);
    let reply = alice.put(&Session::push_rule_path("override", ".m.rule.master", "/enabled"), json!({})).await;
    reply.expect_error_in(400, &["M_BAD_JSON", "M_MISSING_PARAM", "M_INVALID_PARAM", "M_NOT_JSON"]);
}
both_backends!(push_rules_can_be_enabled_and_disabled);

async fn push_rule_actions_can_be_read_and_set(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let alice = hs.api().register("alice", PASSWORD).await;
    alice.put_push_rule("room", "!r:example.org", "", json!({"actions": ["notify"]})).await.expect_ok();
    let bing = json!(["notify", {"set_tweak": "sound", "value": "bing"}, {"set_tweak": "highlight"}]);

    let reply = alice.get(&Session::push_rule_path("underride", ".m.rule.message", "/actions")).await;
    assert_eq!(normalize_actions(&reply.expect_ok()["actions"]), [json!("notify")], "{reply:?}");

    // "This can be used to change the actions of builtin rules."
    for (kind, id) in [("underride", ".m.rule.message"), ("room", "!r:example.org")] {
        let reply = alice.set_push_rule_actions(kind, id, bing.clone()).await;
        assert_eq!(reply.expect_ok(), &json!({}), "{reply:?}");
        let reply = alice.get(&Session::push_rule_path(kind, id, "/actions")).await;
        assert_eq!(normalize_actions(&reply.expect_ok()["actions"]), normalize_actions(&bing), "{reply:?}");
        let rule = find_rule(&alice.push_rules().await, kind, id).unwrap();
        assert_eq!(normalize_actions(&rule["actions"]), normalize_actions(&bing), "{rule:#}");
    }

    let reply = alice.put(&Session::push_rule_path("underride", ".m.rule.message", "/actions"), json!({})).await;
    reply.expect_error_in(400, &["M_BAD_JSON", "M_MISSING_PARAM", "M_INVALID_PARAM", "M_NOT_JSON"]);
}
both_backends!(push_rule_actions_can_be_read_and_set);

async fn push_rule_without_actions_is_rejected(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let alice = hs.api().register("alice", PASSWORD).await;
    let before = alice.push_rules().await;

    // `actions` is required.
    let reply = alice.put_push_rule("override", "noactions", "", json!({"conditions": []})).await;
    reply.expect_error_in(400, &["M_BAD_JSON", "M_MISSING_PARAM", "M_INVALID_PARAM", "M_NOT_JSON"]);
    let reply = alice.put_push_rule("override", "badactions", "", json!({"conditions": [], "actions": "notify"})).await;
    reply.expect_error_in(400, &["M_BAD_JSON", "M_INVALID_PARAM", "M_NOT_JSON"]);
    assert_eq!(alice.push_rules().await, before, "a refused PUT changes nothing");
}
both_backends!(push_rule_without_actions_is_rejected);

async fn push_rules_account_data_cannot_be_set_directly(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let alice = hs.api().register("alice", PASSWORD).await;
    let before = alice.push_rules().await;

    // Account data: 405 "This type of account data is controlled by the
    // server; it cannot be modified by clients. Errcode: M_BAD_JSON."
    let reply = alice.put_account_data("m.push_rules", json!({"global": {}})).await;
    reply.expect_error(405, "M_BAD_JSON");
    assert_eq!(alice.push_rules().await, before);
}
both_backends!(push_rules_account_data_cannot_be_set_directly);

async fn push_rules_come_down_in_an_initial_sync(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let alice = hs.api().register("alice", PASSWORD).await;

    // "Push Rules: Events": the content of m.push_rules "is the current push
    // rules for the user" — the server-default ones for a new user, whose
    // clients learn their notification settings from their first /sync.
    let synced = alice.initial_sync().await;
    let content =
        synced.account_data_content("m.push_rules").unwrap_or_else(|| panic!("no m.push_rules: {:#}", synced.body));
    assert_eq!(content["global"], alice.push_rules().await, "{content:#}");
}
both_backends!(push_rules_come_down_in_an_initial_sync);

async fn changed_push_rules_come_down_in_an_initial_sync(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let alice = hs.api().register("alice", PASSWORD).await;

    alice.put_push_rule("room", "!r:example.org", "", json!({"actions": []})).await.expect_ok();

    let synced = alice.initial_sync().await;
    let content =
        synced.account_data_content("m.push_rules").unwrap_or_else(|| panic!("no m.push_rules: {:#}", synced.body));
    assert_eq!(content["global"], alice.push_rules().await, "{content:#}");
    assert!(find_rule(&content["global"], "room", "!r:example.org").is_some(), "{content:#}");
}
both_backends!(changed_push_rules_come_down_in_an_initial_sync);

/// Long-polls `/sync` from `since` (30 s timeout) while `change` runs,
/// asserts that the sync wakes up well before its timeout with an
/// `m.push_rules` event, and returns that event's content.
async fn sync_woken_by(session: &Session, since: &str, change: impl std::future::Future<Output = ()>) -> Value {
    let poller = session.clone();
    let since = since.to_owned();
    let started = Instant::now();
    let poll = tokio::spawn(async move { poller.sync_with(Some(&since), "timeout=30000").await });
    tokio::time::sleep(Duration::from_millis(300)).await;
    change.await;
    let synced: Synced = tokio::time::timeout(Duration::from_secs(15), poll)
        .await
        .unwrap_or_else(|_| panic!("a push rule change did not wake up /sync within 15 s"))
        .expect("the sync task");
    assert!(started.elapsed() < Duration::from_secs(15), "{:?}", started.elapsed());
    synced
        .account_data_content("m.push_rules")
        .unwrap_or_else(|| panic!("the woken /sync has no m.push_rules: {:#}", synced.body))
}

fn mine() -> Value {
    json!({"conditions": [{"kind": "event_match", "key": "content.body", "pattern": "mine"}], "actions": ["notify"]})
}

async fn adding_a_push_rule_wakes_up_an_incremental_sync(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let alice = hs.api().register("alice", PASSWORD).await;
    let since = alice.sync_token().await;

    let content = sync_woken_by(&alice, &since, async {
        alice.put_push_rule("override", "mine", "", mine()).await.expect_ok();
    })
    .await;
    let rule = find_rule(&content["global"], "override", "mine").unwrap_or_else(|| panic!("{content:#}"));
    assert_eq!(rule["enabled"], true, "{rule:#}");
}
both_backends!(adding_a_push_rule_wakes_up_an_incremental_sync);

async fn disabling_a_push_rule_wakes_up_an_incremental_sync(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let alice = hs.api().register("alice", PASSWORD).await;
    alice.put_push_rule("override", "mine", "", mine()).await.expect_ok();
    let since = alice.sync_token().await;

    let content = sync_woken_by(&alice, &since, async {
        alice.set_push_rule_enabled("override", "mine", false).await.expect_ok();
    })
    .await;
    assert_eq!(find_rule(&content["global"], "override", "mine").unwrap()["enabled"], false, "{content:#}");
}
both_backends!(disabling_a_push_rule_wakes_up_an_incremental_sync);

async fn enabling_a_push_rule_wakes_up_an_incremental_sync(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let alice = hs.api().register("alice", PASSWORD).await;
    alice.put_push_rule("override", "mine", "", mine()).await.expect_ok();
    alice.set_push_rule_enabled("override", "mine", false).await.expect_ok();
    let since = alice.sync_token().await;

    let content = sync_woken_by(&alice, &since, async {
        alice.set_push_rule_enabled("override", "mine", true).await.expect_ok();
    })
    .await;
    assert_eq!(find_rule(&content["global"], "override", "mine").unwrap()["enabled"], true, "{content:#}");
}
both_backends!(enabling_a_push_rule_wakes_up_an_incremental_sync);

async fn setting_actions_for_a_push_rule_wakes_up_an_incremental_sync(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let alice = hs.api().register("alice", PASSWORD).await;
    alice.put_push_rule("override", "mine", "", mine()).await.expect_ok();
    let since = alice.sync_token().await;
    let actions = json!(["notify", {"set_tweak": "sound", "value": "bing"}]);

    let content = sync_woken_by(&alice, &since, async {
        alice.set_push_rule_actions("override", "mine", actions.clone()).await.expect_ok();
    })
    .await;
    let rule = find_rule(&content["global"], "override", "mine").unwrap();
    assert_eq!(normalize_actions(&rule["actions"]), normalize_actions(&actions), "{content:#}");
}
both_backends!(setting_actions_for_a_push_rule_wakes_up_an_incremental_sync);

async fn push_rule_cache_health(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let alice = hs.api().register("alice", PASSWORD).await;
    let other_device = alice.login_again().await;
    let before = alice.push_rules().await;
    assert_eq!(other_device.push_rules().await, before);

    // Push rules belong to the user, not the device: a change through one
    // device is what the other sees next.
    other_device.put_push_rule("override", "mine", "", mine()).await.expect_ok();
    assert!(find_rule(&alice.push_rules().await, "override", "mine").is_some());
    alice.set_push_rule_enabled("override", "mine", false).await.expect_ok();
    assert_eq!(other_device.get_push_rule("override", "mine").await.expect_ok()["enabled"], false);
    alice.delete_push_rule("override", "mine").await.expect_ok();
    other_device.get_push_rule("override", "mine").await.expect_error(404, "M_NOT_FOUND");
    assert_eq!(other_device.push_rules().await, before);

    // And they are the user's own: bob's are untouched.
    let bob = hs.api().register("bob", PASSWORD).await;
    other_device.put_push_rule("override", "mine", "", mine()).await.expect_ok();
    bob.get_push_rule("override", "mine").await.expect_error(404, "M_NOT_FOUND");
}
both_backends!(push_rule_cache_health);
