//! Finding other servers through DNS (server-server API, "Resolving server
//! names"): a DNS server started here (Debian's dnsmasq, on loopback)
//! serves SRV and A records for invented names, and a Nexus pointed at it
//! (`federation.nameservers`) reaches another Nexus known only by such a
//! name — through `_matrix-fed._tcp`, through the deprecated `_matrix._tcp`
//! — checking the certificate against the server name rather than the SRV
//! target, and failing cleanly and quickly when the records lead nowhere.

use std::time::{Duration, Instant};

use nexus_complement::dns::{DnsServer, Record};
use nexus_complement::well_known_server::{WellKnownAnswer, WellKnownServer};
use nexus_complement::{Backend, Homeserver, Session, TestCa, enc};
use serde_json::{Value, json};

const PASSWORD: &str = "sUp3r-secret";

/// A name no other scenario uses (the DNS server is per scenario anyway).
fn name(prefix: &str) -> String {
    format!("{prefix}{:x}.test", rand::random::<u32>())
}

fn srv(service: &str, name: &str, target: &str, port: u16) -> Record {
    Record::Srv { service: service.to_owned(), name: name.to_owned(), target: target.to_owned(), port }
}

fn a(name: &str) -> Record {
    a_at(name, "127.0.0.1")
}

fn a_at(name: &str, ip: &str) -> Record {
    Record::A { name: name.to_owned(), ip: ip.to_owned() }
}

async fn resolving_server(ca: &TestCa, dns: &DnsServer) -> Homeserver {
    Homeserver::builder(Backend::RocksDb)
        .federation(ca)
        .env("NEXUS__FEDERATION__NAMESERVERS", format!("[\"{}\"]", dns.address()))
        .env("NEXUS__FEDERATION__DNS_TIMEOUT_SECS", "2")
        .start()
        .await
}

/// A remote profile: a server that cannot be reached is a 502, outside the
/// harness's no-5xx rule.
async fn profile_of(viewer: &Session, user_id: &str) -> (u16, Value) {
    viewer.get_allowing_bad_gateway(&format!("/profile/{}", enc(user_id))).await
}

/// Asserts `viewer`'s server reached `user`'s (registered with their
/// localpart as display name) and read the profile.
async fn expect_profile_reached(viewer: &Session, user: &Session) {
    let (status, profile) = profile_of(viewer, &user.user_id).await;
    assert_eq!((status, &profile["displayname"]), (200, &json!(user.localpart())), "{profile}");
}

macro_rules! dns_or_skip {
    ($records:expr) => {
        match DnsServer::start(&$records).await {
            Some(dns) => dns,
            None => {
                eprintln!("SKIP: dnsmasq is not installed");
                return;
            }
        }
    };
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_found_only_through_srv_federates() {
    let ca = TestCa::new();
    let b_name = name("b");
    let target = name("target");
    let b = Homeserver::builder(Backend::RocksDb).federation_named(&ca, &b_name).start().await;
    // b's name has no address of its own: only the SRV record leads to it,
    // at a target whose name its certificate does not carry.
    let dns = dns_or_skip!([srv("_matrix-fed", &b_name, &target, b.federation_port()), a(&target)]);
    let a = resolving_server(&ca, &dns).await;
    let alice = a.api().register("alice", PASSWORD).await;
    let bob = b.api().register("bob", PASSWORD).await;

    expect_profile_reached(&alice, &bob).await;

    // And a room: alice joins bob's public room through b.
    let room_id = bob.create_room(json!({"preset": "public_chat", "name": "Found by SRV"})).await;
    assert_eq!(alice.join_via(&room_id, &[&b_name]).await, room_id);
    alice.await_joined_room(&room_id).await;
    assert_eq!(alice.state_content(&room_id, "m.room.name", "").await["name"], "Found by SRV");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_deprecated_matrix_tcp_record_is_still_followed() {
    let ca = TestCa::new();
    let c_name = name("c");
    let target = name("legacy");
    let c = Homeserver::builder(Backend::RocksDb).federation_named(&ca, &c_name).start().await;
    let dns = dns_or_skip!([srv("_matrix", &c_name, &target, c.federation_port()), a(&target)]);
    let a = resolving_server(&ca, &dns).await;
    let alice = a.api().register("alice", PASSWORD).await;
    let carol = c.api().register("carol", PASSWORD).await;

    expect_profile_reached(&alice, &carol).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_certificate_must_name_the_server_not_the_srv_target() {
    let ca = TestCa::new();
    let b_name = name("b");
    let impostor = name("impostor");
    let target = name("target");
    let b = Homeserver::builder(Backend::RocksDb).federation_named(&ca, &b_name).start().await;
    // The impostor's SRV record leads to b, whose certificate is for b's
    // name only: the connection must be refused.
    let dns = dns_or_skip!([srv("_matrix-fed", &impostor, &target, b.federation_port()), a(&target)]);
    let a = resolving_server(&ca, &dns).await;
    let alice = a.api().register("alice", PASSWORD).await;

    let (status, body) = profile_of(&alice, &format!("@bob:{impostor}")).await;
    assert_eq!(status, 502, "a certificate for another name was accepted: {body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_that_lead_nowhere_fail_quickly_and_cleanly() {
    let ca = TestCa::new();
    let nowhere = name("nowhere");
    let dangling = name("dangling");
    let closed_port = nexus_complement::homeserver::free_port();
    let dns = dns_or_skip!([
        // A target without an address, and a target whose port is closed.
        srv("_matrix-fed", &nowhere, &name("void"), 8448),
        srv("_matrix-fed", &dangling, "localhost.test", closed_port),
        a("localhost.test"),
    ]);
    let a = resolving_server(&ca, &dns).await;
    let alice = a.api().register("alice", PASSWORD).await;

    for server in [nowhere, dangling, name("unknown")] {
        let started = Instant::now();
        let (status, body) = profile_of(&alice, &format!("@x:{server}")).await;
        assert_eq!(status, 502, "{server}: {body}");
        assert!(started.elapsed() < Duration::from_secs(20), "{server} took {:?}", started.elapsed());
        assert_eq!(body["errcode"], "M_UNKNOWN");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_well_known_delegation_to_a_name_with_an_srv_record_is_followed_and_cached() {
    let ca = TestCa::new();
    let server = name("server");
    let delegated = name("deleg");
    let target = name("target");
    // b is known as `server`, delegates to `delegated` (which only an SRV
    // record leads to) and holds a certificate for both names.
    let b =
        Homeserver::builder(Backend::RocksDb).federation_named(&ca, &server).certified_for(&delegated).start().await;
    let well_known = WellKnownServer::start(&ca, &server, WellKnownAnswer::delegating_to(&delegated)).await;
    let dns = dns_or_skip!([
        a_at(&server, &well_known.ip()),
        srv("_matrix-fed", &delegated, &target, b.federation_port()),
        a(&target),
    ]);
    let a = resolving_server(&ca, &dns).await;
    let alice = a.api().register("alice", PASSWORD).await;
    let bob = b.api().register("bob", PASSWORD).await;

    for _ in 0..3 {
        expect_profile_reached(&alice, &bob).await;
    }
    // Cached for its default lifetime: one fetch for three requests.
    assert_eq!(well_known.requests(), 1, "the well-known answer was not cached");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_well_known_answer_expires_as_its_cache_control_says() {
    let ca = TestCa::new();
    let server = name("server");
    let b = Homeserver::builder(Backend::RocksDb).federation_named(&ca, &server).start().await;
    let answer = WellKnownAnswer {
        headers: vec!["Cache-Control: max-age=1".to_owned()],
        ..WellKnownAnswer::delegating_to(&format!("127.0.0.1:{}", b.federation_port()))
    };
    let well_known = WellKnownServer::start(&ca, &server, answer).await;
    let dns = dns_or_skip!([a_at(&server, &well_known.ip())]);
    let a = resolving_server(&ca, &dns).await;
    let alice = a.api().register("alice", PASSWORD).await;
    let bob = b.api().register("bob", PASSWORD).await;

    assert_eq!(profile_of(&alice, &bob.user_id).await.0, 200);
    assert_eq!(profile_of(&alice, &bob.user_id).await.0, 200);
    assert_eq!(well_known.requests(), 1, "fetched again within max-age");
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(profile_of(&alice, &bob.user_id).await.0, 200);
    assert_eq!(well_known.requests(), 2, "not fetched again after max-age");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_or_looping_well_known_answers_fall_back_to_srv() {
    let ca = TestCa::new();
    for answer in [
        WellKnownAnswer { status: 200, headers: Vec::new(), body: "this is not json".to_owned() },
        WellKnownAnswer { status: 200, headers: Vec::new(), body: r#"{"m.server": "not a server name!"}"#.to_owned() },
        // Redirects to itself, for ever.
        WellKnownAnswer {
            status: 302,
            headers: vec!["Location: /.well-known/matrix/server".to_owned()],
            body: String::new(),
        },
    ] {
        let server = name("server");
        let target = name("target");
        let b = Homeserver::builder(Backend::RocksDb).federation_named(&ca, &server).start().await;
        let well_known = WellKnownServer::start(&ca, &server, answer).await;
        let dns = dns_or_skip!([
            a_at(&server, &well_known.ip()),
            srv("_matrix-fed", &server, &target, b.federation_port()),
            a(&target),
        ]);
        let a = resolving_server(&ca, &dns).await;
        let alice = a.api().register("alice", PASSWORD).await;
        let bob = b.api().register("bob", PASSWORD).await;

        expect_profile_reached(&alice, &bob).await;
        assert!(well_known.requests() >= 1, "the well-known was not asked");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nexus_reaches_synapse_through_a_well_known_delegation() {
    let ca = TestCa::new();
    let synapse_name = name("synapse");
    let Some(synapse) = nexus_complement::Synapse::start_named(&ca, Some(&synapse_name)).await else { return };
    let delegation = WellKnownAnswer::delegating_to(&format!("127.0.0.1:{}", synapse.federation_port()));
    let well_known = WellKnownServer::start(&ca, &synapse_name, delegation).await;
    let dns = dns_or_skip!([a_at(&synapse_name, &well_known.ip())]);
    let nexus = resolving_server(&ca, &dns).await;
    let alice = nexus.api().register("alice", PASSWORD).await;
    let bob = synapse.register("bob", PASSWORD).await;
    assert!(bob.user_id.ends_with(&format!(":{synapse_name}")), "{}", bob.user_id);

    expect_profile_reached(&alice, &bob).await;
    let room_id = bob.create_room(json!({"preset": "public_chat", "name": "On Synapse"})).await;
    assert_eq!(alice.join_via(&room_id, &[&synapse_name]).await, room_id);
    alice.await_joined_room(&room_id).await;
    assert_eq!(alice.state_content(&room_id, "m.room.name", "").await["name"], "On Synapse");
}

/// A loopback address of its own whose port 8448 is free (127.0.0.0/8 is
/// all loopback): a server there is reached on the spec's default port.
fn address_with_free_8448() -> String {
    loop {
        let ip = std::net::Ipv4Addr::new(127, rand::random::<u8>() | 1, rand::random(), rand::random::<u8>().max(2));
        if std::net::TcpListener::bind((ip, 8448)).is_ok() {
            return ip.to_string();
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_host_name_with_an_explicit_port_is_reached_at_its_address() {
    let ca = TestCa::new();
    let host = name("host");
    let b = Homeserver::builder(Backend::RocksDb).federation_named(&ca, &format!("{host}:{{port}}")).start().await;
    let dns = dns_or_skip!([a(&host)]);
    let a = resolving_server(&ca, &dns).await;
    let alice = a.api().register("alice", PASSWORD).await;
    let bob = b.api().register("bob", PASSWORD).await;
    assert_eq!(bob.user_id, format!("@bob:{host}:{}", b.federation_port()));

    expect_profile_reached(&alice, &bob).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delegation_to_a_name_with_a_port_is_reached_at_that_port() {
    let ca = TestCa::new();
    let server = name("server");
    let delegated = name("deleg");
    let b =
        Homeserver::builder(Backend::RocksDb).federation_named(&ca, &server).certified_for(&delegated).start().await;
    let delegation = WellKnownAnswer::delegating_to(&format!("{delegated}:{}", b.federation_port()));
    let well_known = WellKnownServer::start(&ca, &server, delegation).await;
    let dns = dns_or_skip!([a_at(&server, &well_known.ip()), a(&delegated)]);
    let a = resolving_server(&ca, &dns).await;
    let alice = a.api().register("alice", PASSWORD).await;
    let bob = b.api().register("bob", PASSWORD).await;

    expect_profile_reached(&alice, &bob).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_name_without_delegation_or_srv_is_reached_on_port_8448() {
    let ca = TestCa::new();
    let server = name("plain");
    let ip = address_with_free_8448();
    let b = Homeserver::builder(Backend::RocksDb)
        .federation_named(&ca, &server)
        .federation_listening_on(&ip, 8448)
        .start()
        .await;
    // Nothing answers on port 443 there: no well-known; no SRV record.
    let dns = dns_or_skip!([a_at(&server, &ip)]);
    let a = resolving_server(&ca, &dns).await;
    let alice = a.api().register("alice", PASSWORD).await;
    let bob = b.api().register("bob", PASSWORD).await;

    expect_profile_reached(&alice, &bob).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delegated_name_without_srv_is_reached_on_port_8448() {
    let ca = TestCa::new();
    let server = name("server");
    let delegated = name("deleg");
    let ip = address_with_free_8448();
    let b = Homeserver::builder(Backend::RocksDb)
        .federation_named(&ca, &server)
        .certified_for(&delegated)
        .federation_listening_on(&ip, 8448)
        .start()
        .await;
    let well_known = WellKnownServer::start(&ca, &server, WellKnownAnswer::delegating_to(&delegated)).await;
    let dns = dns_or_skip!([a_at(&server, &well_known.ip()), a_at(&delegated, &ip)]);
    let a = resolving_server(&ca, &dns).await;
    let alice = a.api().register("alice", PASSWORD).await;
    let bob = b.api().register("bob", PASSWORD).await;

    expect_profile_reached(&alice, &bob).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ip_literal_without_a_port_is_reached_on_port_8448() {
    let ca = TestCa::new();
    let ip = address_with_free_8448();
    let b = Homeserver::builder(Backend::RocksDb)
        .federation_named(&ca, &ip)
        .federation_listening_on(&ip, 8448)
        .start()
        .await;
    // No DNS at all is involved.
    let dns = dns_or_skip!([]);
    let a = resolving_server(&ca, &dns).await;
    let alice = a.api().register("alice", PASSWORD).await;
    let bob = b.api().register("bob", PASSWORD).await;
    assert_eq!(bob.user_id, format!("@bob:{ip}"));

    expect_profile_reached(&alice, &bob).await;
}
