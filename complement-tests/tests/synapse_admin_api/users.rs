//! Users: synapse-admin's users list and user edit page.

use super::*;

async fn users_list_and_edit_page(backend: Backend) {
    let hs = server(backend).await;
    let api = hs.api();
    let version = api.get("/_synapse/admin/v1/server_version").await;
    assert!(version.expect_ok()["server_version"].is_string(), "{version:?}");
    let root = admin(&hs, "root").await;
    let alice = api.register("alice", PASSWORD).await;
    for name in ["bob", "carol", "dave"] {
        api.register(name, PASSWORD).await;
    }
    let room = alice.create_room(json!({"name": "Alice's room"})).await;

    // A non-admin is refused, as Synapse refuses (synapse-admin logs out).
    let refused = alice.get("/_synapse/admin/v2/users").await;
    assert_eq!((refused.status, refused.json["errcode"].as_str()), (403, Some("M_FORBIDDEN")), "{refused:?}");
    assert_eq!(refused.json["error"], "You are not a server admin");

    // The users list as synapse-admin asks for it, and its paging.
    let list = root
        .get("/_synapse/admin/v2/users?deactivated=false&dir=f&from=0&guests=true&limit=2&locked=false&order_by=name")
        .await;
    let list = list.expect_ok().clone();
    assert_eq!(list["total"], 5, "{list}");
    assert_eq!(list["next_token"], "2", "{list}");
    let names: Vec<&str> = list["users"].as_array().unwrap().iter().filter_map(|u| u["name"].as_str()).collect();
    assert_eq!(names, [hs.user_id("alice"), hs.user_id("bob")]);
    let first = &list["users"][0];
    for field in ["admin", "deactivated", "is_guest", "erased", "locked", "shadow_banned"] {
        assert!(first[field].is_boolean(), "{field}: {first}");
    }
    assert!(first["creation_ts"].as_u64().unwrap() > 1_000_000_000_000, "milliseconds in the list: {first}");
    let last = root.get("/_synapse/admin/v2/users?from=4&limit=2").await;
    assert!(last.expect_ok().get("next_token").is_none(), "{last:?}");
    let admins = root.get("/_synapse/admin/v2/users?admins=true").await;
    assert_eq!(admins.expect_ok()["users"][0]["name"], hs.user_id("root"));
    let by_name = root.get("/_synapse/admin/v2/users?name=CAR").await;
    assert_eq!(by_name.expect_ok()["total"], 1);
    let backwards = root.get("/_synapse/admin/v2/users?dir=b&order_by=name&limit=1").await;
    assert_eq!(backwards.expect_ok()["users"][0]["name"], hs.user_id("root"));
    for bad in ["from=x", "limit=-1", "guests=maybe", "dir=sideways"] {
        let reply = root.get(&format!("/_synapse/admin/v2/users?{bad}")).await;
        assert_eq!((reply.status, reply.json["errcode"].as_str()), (400, Some("M_INVALID_PARAM")), "{bad}: {reply:?}");
    }

    // The edit page's requests.
    let user = root.get(&user_path(&alice.user_id)).await;
    let user = user.expect_ok().clone();
    assert_eq!((user["name"].as_str(), user["displayname"].as_str()), (Some(alice.user_id.as_str()), Some("alice")));
    assert!(user["creation_ts"].as_u64().unwrap() < 10_000_000_000, "seconds here, as Synapse: {user}");
    assert_eq!((user["threepids"].clone(), user["external_ids"].clone()), (json!([]), json!([])));
    let devices = root.get(&format!("{}/devices?from=0&limit=25&order_by=id&dir=b", user_path(&alice.user_id))).await;
    let devices = devices.expect_ok().clone();
    assert_eq!(devices["total"], 1, "{devices}");
    assert_eq!(devices["devices"][0]["device_id"], alice.device_id.as_str());
    let whois = root.get(&format!("/_synapse/admin/v1/whois/{}", enc(&alice.user_id))).await;
    assert!(whois.expect_ok()["devices"][alice.device_id.as_str()].is_object(), "{whois:?}");
    let joined = root.get(&format!("/_synapse/admin/v1/users/{}/joined_rooms", enc(&alice.user_id))).await;
    assert_eq!(joined.expect_ok().clone(), json!({"joined_rooms": [room], "total": 1}));
    let memberships = root.get(&format!("/_synapse/admin/v1/users/{}/memberships", enc(&alice.user_id))).await;
    assert_eq!(memberships.expect_ok()["memberships"][room.as_str()], "join");
    let pushers = root.get(&format!("/_synapse/admin/v1/users/{}/pushers", enc(&alice.user_id))).await;
    assert_eq!(pushers.expect_ok().clone(), json!({"pushers": [], "total": 0}));
    let unknown = root.get(&user_path(&hs.user_id("nobody"))).await;
    assert_eq!((unknown.status, unknown.json["errcode"].as_str()), (404, Some("M_NOT_FOUND")), "{unknown:?}");
    let remote = root.get(&user_path("@someone:elsewhere.example")).await;
    assert_eq!(remote.status, 400, "{remote:?}");

    // Saves: synapse-admin sends its whole record (unknown fields ignored).
    let mut record = user.clone();
    record["id"] = json!(alice.user_id);
    record["avatar_src"] = json!("whatever");
    record["creation_ts_ms"] = json!(1);
    record["displayname"] = json!("Alice A.");
    record["admin"] = json!(true);
    let saved = root.put(&user_path(&alice.user_id), record).await;
    assert_eq!(saved.status, 200, "{saved:?}");
    assert_eq!((saved.json["displayname"].as_str(), saved.json["admin"].as_bool()), (Some("Alice A."), Some(true)));
    let profile = alice.get(&format!("/profile/{}/displayname", enc(&alice.user_id))).await;
    assert_eq!(profile.expect_ok()["displayname"], "Alice A.");
    let demote_self = root.put(&user_path(&root.user_id), json!({"admin": false})).await;
    assert_eq!(demote_self.status, 400, "{demote_self:?}");

    // Create: 201 and the user, who can then log in.
    let erin = hs.user_id("erin");
    let created = root.put(&user_path(&erin), json!({"id": "erin", "password": PASSWORD, "displayname": "Erin"})).await;
    assert_eq!((created.status, created.json["name"].as_str()), (201, Some(erin.as_str())), "{created:?}");
    let erin_session = api.login("erin", PASSWORD).await;
    assert_eq!(erin_session.user_id, erin);
    assert_eq!(root.get(&user_path(&erin)).await.expect_ok()["displayname"], "Erin");

    // A password reset ends the user's sessions; the new password works.
    let reset = root
        .post(&format!("/_synapse/admin/v1/reset_password/{}", enc(&erin)), json!({"new_password": "n3w-Passw0rd"}))
        .await;
    reset.expect_ok();
    erin_session.expect_token_rejected().await;
    api.login("erin", "n3w-Passw0rd").await;
    let missing = root.post(&format!("/_synapse/admin/v1/reset_password/{}", enc(&erin)), json!({})).await;
    assert_eq!((missing.status, missing.json["errcode"].as_str()), (400, Some("M_MISSING_PARAM")), "{missing:?}");

    // Deleting a device, then deactivating with erase.
    let bob = api.login("bob", PASSWORD).await;
    let device = format!("{}/devices/{}", user_path(&bob.user_id), enc(&bob.device_id));
    assert_eq!(root.get(&device).await.expect_ok()["device_id"], bob.device_id.as_str());
    root.request(reqwest::Method::DELETE, &device, Some(&json!({}))).await.expect_ok();
    bob.expect_token_rejected().await;
    let gone = root.get(&device).await;
    assert_eq!(gone.status, 404, "{gone:?}");
    let deactivated =
        root.post(&format!("/_synapse/admin/v1/deactivate/{}", enc(&hs.user_id("dave"))), json!({"erase": true})).await;
    assert_eq!(deactivated.expect_ok()["id_server_unbind_result"], "success");
    let dave = root.get(&user_path(&hs.user_id("dave"))).await;
    let dave = dave.expect_ok().clone();
    assert_eq!((dave["deactivated"].as_bool(), dave["erased"].as_bool()), (Some(true), Some(true)), "{dave}");
    let refused = api.login_with(json!({"type": "m.login.password", "identifier": {"type": "m.id.user", "user": "dave"}, "password": PASSWORD})).await;
    assert_eq!(refused.status, 403, "{refused:?}");

    // v2 hides deactivated users unless asked; v3 filters both ways.
    let v2 = root.get("/_synapse/admin/v2/users").await;
    assert_eq!(v2.expect_ok()["total"], 5);
    let v2_all = root.get("/_synapse/admin/v2/users?deactivated=true").await;
    assert_eq!(v2_all.expect_ok()["total"], 6);
    let v3_only = root.get("/_synapse/admin/v3/users?deactivated=true").await;
    assert_eq!(v3_only.expect_ok()["users"][0]["name"], hs.user_id("dave"));
    let v3_all = root.get("/_synapse/admin/v3/users").await;
    assert_eq!(v3_all.expect_ok()["total"], 6);

    // No token: 401.
    let anonymous = api.get("/_synapse/admin/v2/users").await;
    assert_eq!(anonymous.status, 401, "{anonymous:?}");
    let _ = Value::Null;
}
both_backends!(users_list_and_edit_page);
