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

/// A compose service's environment, with `<<` merges applied.
fn environment(service: &serde_yaml::Value) -> BTreeMap<String, String> {
    let Some(map) = service.get("environment").and_then(|e| e.as_mapping()) else { return BTreeMap::new() };
    map.iter()
        .map(|(k, v)| {
            let value = match v {
                serde_yaml::Value::String(s) => s.clone(),
                other => serde_yaml::to_string(other).unwrap().trim().to_owned(),
            };
            (k.as_str().expect("a string key").to_owned(), value)
        })
        .collect()
}

/// `docker/compose.yml` (the scale-out deployment) kept true to the binary:
/// every Nexus process's settings pass `nexus check-config` as a process
/// of a cluster, they name the compose file's own PostgreSQL (with its
/// user, password and database) and Redis, the load balancer sends to
/// every process's client port and Prometheus scrapes every process's
/// metrics port, and every file it mounts exists.
#[tokio::test]
async fn the_compose_file_matches_the_binary() {
    let root = repository();
    let docker = root.join("docker");
    let text = std::fs::read_to_string(docker.join("compose.yml")).expect("docker/compose.yml");
    let mut compose: serde_yaml::Value = serde_yaml::from_str(&text).expect("compose.yml is YAML");
    compose.apply_merge().expect("merge keys apply");
    let services = compose["services"].as_mapping().expect("services").clone();
    let names: Vec<&str> = services.keys().filter_map(|k| k.as_str()).collect();
    for wanted in ["postgres", "redis", "loadbalancer", "prometheus", "grafana"] {
        assert!(names.contains(&wanted), "no {wanted} service in {names:?}");
    }
    let processes: Vec<&str> = names.iter().copied().filter(|n| n.starts_with("nexus")).collect();
    assert!(processes.len() >= 3, "three Nexus processes or more: {processes:?}");

    let database = environment(&services[&serde_yaml::Value::from("postgres")]);
    let dockerfile = std::fs::read_to_string(docker.join("Dockerfile")).unwrap();
    let client_port = dockerfile.split("NEXUS__LISTENERS__CLIENT=0.0.0.0:").nth(1).and_then(|r| r.get(..4)).unwrap();
    let mut instances = Vec::new();
    let mut metrics_port = String::new();
    for process in &processes {
        let service = &services[&serde_yaml::Value::from(*process)];
        assert_eq!(service["build"]["dockerfile"].as_str(), Some("docker/Dockerfile"), "{process} builds the image");
        let env = environment(service);
        let output = tokio::process::Command::new(nexus_binary())
            .arg("check-config")
            .env_clear()
            .envs(env.iter().filter(|(k, _)| k.starts_with("NEXUS__")))
            .env("NEXUS__SERVER__SERVER_NAME", "example.org")
            .output()
            .await
            .expect("run nexus check-config");
        let described = String::from_utf8_lossy(&output.stdout);
        assert!(
            output.status.success(),
            "{process}'s settings are refused: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        assert!(described.contains("clustered over redis"), "{process} is not one of a cluster: {described}");

        let url = &env["NEXUS__STORAGE__POSTGRES_URL"];
        let expected = format!(
            "postgres://{}:{}@postgres:5432/{}",
            database["POSTGRES_USER"], database["POSTGRES_PASSWORD"], database["POSTGRES_DB"]
        );
        assert_eq!(url, &expected, "{process} uses the compose file's PostgreSQL");
        assert_eq!(env["NEXUS__REDIS__URL"], "redis://redis:6379", "{process} uses the compose file's Redis");
        metrics_port = env["NEXUS__LISTENERS__METRICS"].rsplit_once(':').unwrap().1.to_owned();
        instances.push(env["NEXUS__CLUSTER__INSTANCE"].clone());
        let mounts: Vec<&str> = service["volumes"].as_sequence().unwrap().iter().filter_map(|v| v.as_str()).collect();
        for shared in ["NEXUS__MEDIA__PATH", "NEXUS__SEARCH__PATH"] {
            let path = env[shared].as_str();
            assert!(
                mounts.iter().any(|m| m.ends_with(&format!(":{path}"))),
                "{process}'s {shared} is not a shared volume"
            );
        }
    }
    instances.sort();
    instances.dedup();
    assert_eq!(instances.len(), processes.len(), "each process has its own instance name");

    // The load balancer and Prometheus reach every process.
    let nginx = std::fs::read_to_string(docker.join("nginx.conf")).expect("docker/nginx.conf");
    let prometheus = std::fs::read_to_string(docker.join("prometheus.yml")).expect("docker/prometheus.yml");
    for process in &processes {
        assert!(nginx.contains(&format!("server {process}:{client_port}")), "nginx does not send to {process}");
        assert!(prometheus.contains(&format!("\"{process}:{metrics_port}\"")), "Prometheus does not scrape {process}");
    }

    // Every file mounted from the repository exists.
    for service in services.values() {
        for mount in service.get("volumes").and_then(|v| v.as_sequence()).into_iter().flatten() {
            let mount = mount.as_str().unwrap();
            if let Some(path) = mount.strip_prefix("./") {
                let file = path.split(':').next().unwrap();
                assert!(docker.join(file).exists(), "compose mounts docker/{file}, which is missing");
            }
        }
    }
}
