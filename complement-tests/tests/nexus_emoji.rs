//! Custom emoji and stickers (extensions-spec §13, §16, §22, custom emoji): MSC2545
//! image packs in a server's space are usable in every channel, a channel's
//! own pack in that channel, the user's own pack everywhere; packs of rooms
//! outside the server need USE_EXTERNAL_EMOJIS / USE_EXTERNAL_STICKERS, both
//! in the one-call listing and when a local user sends them; malformed packs
//! are refused with the field named.

use nexus_complement::nexus_servers::{
    CreatedServer, create_channel, create_server, invite_code, join_by_code, path, put_role,
};
use nexus_complement::{Backend, Homeserver, Session, both_backends, enc, relates_to};
use serde_json::{Value, json};

const PASSWORD: &str = "sUp3r-secret";
const PACK: &str = "im.ponies.room_emotes";
const USE_EXTERNAL_EMOJIS: u64 = 1 << 18;
const USE_EXTERNAL_STICKERS: u64 = 1 << 37;

fn garden_pack() -> Value {
    json!({
        "images": {
            "happy_cactus": {"url": "mxc://example.org/HappyCactus", "body": "A smiling cactus", "usage": ["emoticon"]},
            "watering_can": {"url": "mxc://example.org/WateringCan", "body": "A watering can", "usage": ["sticker"]}
        },
        "pack": {"display_name": "Garden emoji", "usage": ["emoticon", "sticker"]}
    })
}

async fn usable(user: &Session, room: &str) -> Value {
    let reply = user.get(&path(&format!("/channels/{}/emoji", enc(room)))).await;
    reply.expect_ok().clone()
}

fn shortcodes(listing: &Value, kind: &str) -> Vec<(String, String)> {
    let mut list: Vec<(String, String)> = listing[kind]
        .as_array()
        .unwrap_or_else(|| panic!("no {kind}: {listing:#}"))
        .iter()
        .map(|e| (e["shortcode"].as_str().unwrap().to_owned(), e["source"].as_str().unwrap().to_owned()))
        .collect();
    list.sort();
    list
}

fn pair(shortcode: &str, source: &str) -> (String, String) {
    (shortcode.to_owned(), source.to_owned())
}

fn emoticon_message(url: &str) -> Value {
    json!({
        "msgtype": "m.text",
        "body": ":emoji:",
        "format": "org.matrix.custom.html",
        "formatted_body": format!("<img data-mx-emoticon src=\"{url}\" alt=\":emoji:\" title=\":emoji:\" height=\"32\">")
    })
}

async fn server_with_bob(hs: &Homeserver) -> (CreatedServer, Session, Session) {
    let alice = hs.api().register("alice", PASSWORD).await;
    let server = create_server(&alice, "Gardening").await;
    let bob = hs.api().register("bob", PASSWORD).await;
    let code = invite_code(&alice, &server.space, json!({})).await;
    join_by_code(&bob, &code).await;
    (server, alice, bob)
}

async fn server_packs_are_usable_in_every_channel(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let (server, alice, bob) = server_with_bob(&hs).await;
    alice.set_state(&server.space, PACK, "server-emoji", garden_pack()).await;
    let channel_pack = json!({"images": {"seedling": {"url": "mxc://example.org/Seedling"}}});
    alice.set_state(&server.general, PACK, "general-only", channel_pack).await;
    let patch = create_channel(&alice, &server.space, json!({"name": "vegetable-patch"})).await;
    bob.join(&patch).await;
    // Bob's own pack (account data) comes along everywhere.
    let own = json!({"images": {"my_cat": {"url": "mxc://example.org/MyCat", "usage": ["emoticon"]}}});
    bob.put(&bob.account_data_path("im.ponies.user_emotes"), own).await.expect_ok();

    let general = usable(&bob, &server.general).await;
    assert_eq!(
        shortcodes(&general, "emoticons"),
        [pair("happy_cactus", "server"), pair("my_cat", "user"), pair("seedling", "channel")],
        "{general:#}"
    );
    // No usage on the image or the pack: both an emoticon and a sticker.
    assert_eq!(shortcodes(&general, "stickers"), [pair("seedling", "channel"), pair("watering_can", "server")]);
    let cactus = general["emoticons"].as_array().unwrap().iter().find(|e| e["shortcode"] == "happy_cactus").unwrap();
    assert_eq!(cactus["url"], "mxc://example.org/HappyCactus");
    assert_eq!(cactus["pack"]["room_id"], server.space.as_str());
    assert_eq!(cactus["pack"]["state_key"], "server-emoji");
    assert_eq!(cactus["pack"]["display_name"], "Garden emoji");

    let elsewhere = usable(&bob, &patch).await;
    assert_eq!(shortcodes(&elsewhere, "emoticons"), [pair("happy_cactus", "server"), pair("my_cat", "user")]);

    // The server's emoji are always usable in its channels.
    bob.send_event(&patch, "m.room.message", emoticon_message("mxc://example.org/HappyCactus")).await;
    bob.send_event(&patch, "m.sticker", json!({"body": "can", "url": "mxc://example.org/WateringCan", "info": {}}))
        .await;

    // Only members list a channel's emoji.
    let mallory = hs.api().register("mallory", PASSWORD).await;
    mallory.get(&path(&format!("/channels/{}/emoji", enc(&server.general)))).await.expect_error(403, "M_FORBIDDEN");
}

async fn other_servers_emoji_need_use_external_emojis(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let (server, alice, bob) = server_with_bob(&hs).await;
    alice.set_state(&server.space, PACK, "server-emoji", garden_pack()).await;
    // A pack in a room outside the server, enabled by bob (MSC2545).
    let elsewhere = alice.create_room(json!({"preset": "public_chat", "name": "Cat lovers"})).await;
    let cats = json!({"images": {
        "blob_cat": {"url": "mxc://example.org/BlobCat", "usage": ["emoticon"]},
        "cat_sticker": {"url": "mxc://example.org/CatSticker", "usage": ["sticker"]}
    }});
    alice.set_state(&elsewhere, PACK, "cats", cats).await;
    bob.join(&elsewhere).await;
    let enabled = json!({"rooms": {elsewhere.as_str(): {"cats": {}}}});
    bob.put(&bob.account_data_path("im.ponies.emote_rooms"), enabled).await.expect_ok();

    // @everyone holds USE_EXTERNAL_EMOJIS and USE_EXTERNAL_STICKERS by default.
    let listing = usable(&bob, &server.general).await;
    assert_eq!(listing["use_external_emojis"], true);
    assert!(shortcodes(&listing, "emoticons").contains(&pair("blob_cat", "external")), "{listing:#}");
    assert!(shortcodes(&listing, "stickers").contains(&pair("cat_sticker", "external")), "{listing:#}");
    bob.send_event(&server.general, "m.room.message", emoticon_message("mxc://example.org/BlobCat")).await;

    // Without them, the listing leaves the external packs out and the
    // server refuses bob's use of them.
    let mut everyone = alice.state_content(&server.space, "nexus.role", "everyone").await;
    let bits: u64 = everyone["permissions"].as_str().unwrap().parse().unwrap();
    everyone["permissions"] = json!((bits & !USE_EXTERNAL_EMOJIS & !USE_EXTERNAL_STICKERS).to_string());
    put_role(&alice, &server.space, "everyone", everyone).await;

    let own = json!({"images": {"my_cat": {"url": "mxc://example.org/MyCat", "usage": ["emoticon"]}}});
    bob.put(&bob.account_data_path("im.ponies.user_emotes"), own).await.expect_ok();
    let listing = usable(&bob, &server.general).await;
    assert_eq!(listing["use_external_emojis"], false, "{listing:#}");
    assert_eq!(shortcodes(&listing, "emoticons"), [pair("happy_cactus", "server")], "{listing:#}");
    assert_eq!(shortcodes(&listing, "stickers"), [pair("watering_can", "server")], "{listing:#}");

    let refused =
        bob.send_event_reply(&server.general, "m.room.message", emoticon_message("mxc://example.org/BlobCat")).await;
    refused.expect_error(403, "M_FORBIDDEN");
    assert!(refused.json["error"].as_str().unwrap().contains("USE_EXTERNAL_EMOJIS"), "{refused:?}");
    // A personal pack is not the server's either.
    let personal =
        bob.send_event_reply(&server.general, "m.room.message", emoticon_message("mxc://example.org/MyCat")).await;
    personal.expect_error(403, "M_FORBIDDEN");
    let target = alice.send_message(&server.general, "react to me").await;
    let reaction =
        json!({"m.relates_to": {"rel_type": "m.annotation", "event_id": target, "key": "mxc://example.org/BlobCat"}});
    bob.send_event_reply(&server.general, "m.reaction", reaction).await.expect_error(403, "M_FORBIDDEN");
    let sticker = json!({"body": "cat", "url": "mxc://example.org/CatSticker", "info": {}});
    let refused = bob.send_event_reply(&server.general, "m.sticker", sticker).await;
    refused.expect_error(403, "M_FORBIDDEN");
    assert!(refused.json["error"].as_str().unwrap().contains("USE_EXTERNAL_STICKERS"), "{refused:?}");

    // The server's own emoji stay usable, as reactions too.
    bob.send_event(&server.general, "m.room.message", emoticon_message("mxc://example.org/HappyCactus")).await;
    let own = json!({"m.relates_to": relates_to("m.annotation", &target), "shortcode": "happy_cactus"});
    let mut own = own;
    own["m.relates_to"]["key"] = json!("mxc://example.org/HappyCactus");
    bob.send_event(&server.general, "m.reaction", own).await;
    // Outside any server nothing is external.
    bob.send_event(&elsewhere, "m.room.message", emoticon_message("mxc://example.org/Anything")).await;
}

async fn malformed_packs_are_refused_with_the_field_named(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let (server, alice, _bob) = server_with_bob(&hs).await;
    let bad_shortcode = json!({"images": {"bad:code": {"url": "mxc://example.org/X"}}});
    let reply = alice.set_state_reply(&server.space, PACK, "bad", bad_shortcode).await;
    reply.expect_error(400, "M_BAD_JSON");
    assert!(reply.json["error"].as_str().unwrap().contains("images"), "{reply:?}");
    let bad_url = json!({"images": {"fine": {"url": "https://example.org/X"}}});
    let reply = alice.set_state_reply(&server.general, PACK, "bad", bad_url).await;
    reply.expect_error(400, "M_BAD_JSON");
    assert!(reply.json["error"].as_str().unwrap().contains("url"), "{reply:?}");
    let images: serde_json::Map<String, Value> =
        (0..251).map(|i| (format!("e{i}"), json!({"url": format!("mxc://example.org/E{i}")}))).collect();
    let reply = alice.set_state_reply(&server.space, PACK, "big", json!({ "images": images })).await;
    reply.expect_error(400, "M_BAD_JSON");
    assert!(reply.json["error"].as_str().unwrap().contains("images"), "{reply:?}");
    // An empty content removes a pack.
    alice.set_state(&server.space, PACK, "gone", json!({})).await;
}

both_backends!(
    server_packs_are_usable_in_every_channel,
    other_servers_emoji_need_use_external_emojis,
    malformed_packs_are_refused_with_the_field_named,
);
