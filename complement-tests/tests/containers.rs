//! `docker/Dockerfile` kept true to the binary without a Docker engine
//! (there is none here): its settings are ones `nexus check-config`
//! accepts, the ports it exposes and the healthcheck's URL are the
//! listeners those settings give, what it copies exists (from the
//! repository, or from a stage it builds), the server runs as a user of its
//! own, and the build context leaves out what is not needed to build.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use nexus_complement::nexus_binary;

fn repository() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The Dockerfile's instructions, continuation lines joined, comments out.
fn instructions(text: &str) -> Vec<(String, String)> {
    let mut joined = Vec::new();
    let mut current = String::new();
    for line in text.lines() {
        let line = line.trim();
        if line.starts_with('#') || (line.is_empty() && current.is_empty()) {
            continue;
        }
        match line.strip_suffix('\\') {
            Some(head) => current.push_str(head),
            None => {
                current.push_str(line);
                joined.push(std::mem::take(&mut current));
            }
        }
    }
    joined
        .into_iter()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let (word, rest) = l.trim().split_once(char::is_whitespace).unwrap_or((l.trim(), ""));
            (word.to_uppercase(), rest.trim().to_owned())
        })
        .collect()
}

#[tokio::test]
async fn the_dockerfile_matches_the_binary() {
    let root = repository();
    let text = std::fs::read_to_string(root.join("docker/Dockerfile")).expect("docker/Dockerfile");
    let steps = instructions(&text);

    // Stages, and what is copied into them.
    let mut stages = Vec::new();
    let mut env = BTreeMap::new();
    let mut exposed = Vec::new();
    let mut user = None;
    let mut healthcheck = String::new();
    for (word, rest) in &steps {
        match word.as_str() {
            "FROM" => {
                // Only the last stage's settings are the image's.
                env.clear();
                if let Some((_, name)) = rest.split_once(" AS ") {
                    stages.push(name.trim().to_owned());
                }
            }
            "COPY" => {
                let parts: Vec<&str> = rest.split_whitespace().collect();
                match parts[0].strip_prefix("--from=") {
                    Some(stage) => assert!(stages.contains(&stage.to_owned()), "COPY from an unknown stage: {rest}"),
                    None => {
                        for source in &parts[..parts.len() - 1] {
                            assert!(root.join(source).exists(), "COPY of {source}, which is not in the repository");
                        }
                    }
                }
            }
            "ENV" => {
                for pair in rest.split_whitespace() {
                    let (key, value) = pair.split_once('=').unwrap_or_else(|| panic!("ENV without =: {pair}"));
                    env.insert(key.to_owned(), value.to_owned());
                }
            }
            "EXPOSE" => exposed.extend(rest.split_whitespace().map(|p| p.parse::<u16>().expect("a port"))),
            "USER" => user = Some(rest.clone()),
            "HEALTHCHECK" => healthcheck = rest.clone(),
            _ => {}
        }
    }
    assert!(stages.len() >= 2, "a multi-stage build: {stages:?}");

    // The settings are the binary's: check-config accepts them.
    let output = tokio::process::Command::new(nexus_binary())
        .arg("check-config")
        .envs(env.iter().filter(|(k, _)| k.starts_with("NEXUS__")))
        .env_remove("NEXUS__SERVER__SERVER_NAME")
        .output()
        .await
        .expect("run nexus check-config");
    assert!(
        output.status.success(),
        "the image's settings are refused: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );

    // Ports: the client listener's is exposed and is the healthcheck's.
    let client = env.get("NEXUS__LISTENERS__CLIENT").expect("the image sets the client listener");
    let port: u16 = client.rsplit_once(':').and_then(|(_, p)| p.parse().ok()).expect("a port");
    assert!(client.starts_with("0.0.0.0:"), "a container listens on every interface: {client}");
    assert!(exposed.contains(&port), "EXPOSE {exposed:?} lacks the client port {port}");
    assert!(
        healthcheck.contains(&format!("http://127.0.0.1:{port}/_matrix/client/versions")),
        "the healthcheck asks the client listener: {healthcheck}"
    );
    assert!(exposed.contains(&8448), "federation's conventional port");

    // Data and the client where the settings say they are.
    assert_eq!(env.get("NEXUS__STORAGE__PATH").map(String::as_str), Some("/data"));
    assert!(text.contains("VOLUME /data"), "the data outlives the container");
    assert!(text.contains("COPY --from=web /out /usr/share/nexus/web"));
    assert_eq!(env.get("NEXUS__WEB_CLIENT__PATH").map(String::as_str), Some("/usr/share/nexus/web"));

    // Not root.
    let user = user.expect("a USER");
    assert!(user != "root" && user != "0", "the server runs as {user}");

    // The build context: what is copied is not left out, build output is.
    let ignore = std::fs::read_to_string(root.join(".dockerignore")).expect(".dockerignore");
    assert!(ignore.lines().any(|l| l.trim() == "target/"), "{ignore}");
    assert!(!ignore.lines().any(|l| ["homeserver/", "clients/web/", "Cargo.lock"].contains(&l.trim())), "{ignore}");
}
