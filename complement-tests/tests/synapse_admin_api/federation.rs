//! synapse-admin's destinations screen over real federation (two Nexus
//! servers on loopback): a destination this server delivered to, with
//! its acknowledged position and shared rooms; then unreachable, its
//! failure and backoff recorded; an admin's reset makes the sender try at
//! once; back up, the failure clears.

use std::time::Duration;

use nexus_complement::{TestCa, eventually};

use super::*;

async fn destination(root: &Session, name: &str) -> Value {
    let reply = root.get(&format!("/_synapse/admin/v1/federation/destinations/{}", enc(name))).await;
    reply.expect_ok().clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn destinations_show_delivery_and_backoff() {
    let ca = TestCa::new();
    let a = Homeserver::builder(Backend::RocksDb)
        .federation(&ca)
        .env("NEXUS__REGISTRATION__SHARED_SECRET", SECRET)
        .env("NEXUS__BOT_API__ENABLED", "false")
        .env("NEXUS__FEDERATION__MAX_RETRY_INTERVAL_SECS", "60")
        .start()
        .await;
    let mut b = Homeserver::builder(Backend::RocksDb).federation(&ca).start().await;
    let root = admin(&a, "root").await;
    let alice = a.api().register("alice", PASSWORD).await;
    let bob = b.api().register("bob", PASSWORD).await;
    let room = alice.create_room(json!({"preset": "public_chat"})).await;
    let joined = bob.post(&format!("/join/{}?server_name={}", enc(&room), enc(&a.server_name())), json!({})).await;
    joined.expect_ok();
    alice.send_message(&room, "hello bob").await;
    let b_name = b.server_name();

    let delivered = eventually("a delivery to b recorded", Duration::from_secs(20), || async {
        let list =
            root.get("/_synapse/admin/v1/federation/destinations?from=0&limit=10&order_by=destination&dir=f").await;
        let list = list.expect_ok().clone();
        let entry =
            list["destinations"].as_array().unwrap().iter().find(|d| d["destination"] == b_name.as_str()).cloned();
        match entry {
            Some(d) if d["last_successful_stream_ordering"].is_u64() => Ok((list, d)),
            _ => Err(format!("not yet: {list}")),
        }
    })
    .await;
    let (list, entry) = delivered;
    assert_eq!(list["total"], 1, "{list}");
    assert_eq!((entry["retry_last_ts"].as_u64(), entry["retry_interval"].as_u64()), (Some(0), Some(0)), "{entry}");
    assert!(entry["failure_ts"].is_null(), "{entry}");
    assert_eq!(destination(&root, &b_name).await["destination"], b_name.as_str());
    let rooms = root.get(&format!("/_synapse/admin/v1/federation/destinations/{}/rooms", enc(&b_name))).await;
    let rooms = rooms.expect_ok().clone();
    assert_eq!(
        (rooms["total"].as_u64(), rooms["rooms"][0]["room_id"].as_str()),
        (Some(1), Some(room.as_str())),
        "{rooms}"
    );
    assert!(rooms["rooms"][0]["stream_ordering"].as_u64().unwrap() > 0);
    let reset = format!("/_synapse/admin/v1/federation/destinations/{}/reset_connection", enc(&b_name));
    root.post(&reset, json!({})).await.expect_error(400, "M_UNKNOWN");

    // B goes away: failures and a growing backoff are recorded.
    b.stop();
    alice.send_message(&room, "are you there?").await;
    let failing = eventually("a backoff of 4 s or more", Duration::from_secs(30), || async {
        let d = destination(&root, &b_name).await;
        match d["retry_interval"].as_u64() {
            Some(interval) if interval >= 4000 => Ok(d),
            _ => Err(format!("not yet: {d}")),
        }
    })
    .await;
    assert!(failing["failure_ts"].as_u64().is_some() && failing["retry_last_ts"].as_u64().unwrap() > 0, "{failing}");
    // The admin's reset: the sender tries again at once.
    let before = failing["retry_last_ts"].as_u64().unwrap();
    assert_eq!(root.post(&reset, json!({})).await.expect_ok().clone(), json!({}));
    eventually("an immediate retry", Duration::from_millis(1500), || async {
        let d = destination(&root, &b_name).await;
        match d["retry_last_ts"].as_u64() {
            Some(last) if last > before => Ok(()),
            _ => Err(format!("not yet: {d}")),
        }
    })
    .await;

    // Back up: delivered again, the failure forgotten.
    b.restart().await;
    root.post(&reset, json!({})).await;
    eventually("the failure to clear", Duration::from_secs(30), || async {
        let d = destination(&root, &b_name).await;
        if d["failure_ts"].is_null() { Ok(()) } else { Err(format!("not yet: {d}")) }
    })
    .await;

    root.get("/_synapse/admin/v1/federation/destinations/nowhere.example").await.expect_error(404, "M_NOT_FOUND");
    root.get("/_synapse/admin/v1/federation/destinations?order_by=bogus").await.expect_error(400, "M_INVALID_PARAM");
    let none = root.get("/_synapse/admin/v1/federation/destinations?destination=nothing-like-this").await;
    assert_eq!(none.expect_ok()["total"], 0);
    alice.get("/_synapse/admin/v1/federation/destinations").await.expect_error(403, "M_FORBIDDEN");
}
