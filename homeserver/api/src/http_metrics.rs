//! Request metrics under Synapse's names, so operators keep their Grafana
//! panels: `synapse_http_server_requests_received_total` and
//! `synapse_http_server_in_flight_requests_count` by method and servlet,
//! `synapse_http_server_responses_total` by method and code,
//! `synapse_http_server_response_count_total` by method, servlet and tag,
//! and the `synapse_http_server_response_time_seconds` histogram by method,
//! servlet, tag and code. `servlet` is Synapse's servlet name where one
//! route means what a Synapse servlet means (sending, syncing, joining…)
//! and the route's template otherwise; `tag` is empty, as Synapse's is for
//! all but a few requests. Applied as a route layer, after routing, so the
//! route is known and unrouted requests make no new series.

use std::time::Instant;

use axum::extract::{MatchedPath, Request};
use axum::middleware::Next;
use axum::response::Response;

pub const REQUESTS_RECEIVED: &str = "synapse_http_server_requests_received_total";
pub const IN_FLIGHT: &str = "synapse_http_server_in_flight_requests_count";
pub const RESPONSES: &str = "synapse_http_server_responses_total";
pub const RESPONSE_COUNT: &str = "synapse_http_server_response_count_total";
pub const RESPONSE_TIME: &str = "synapse_http_server_response_time_seconds";

/// The route layer: counts the request in, times it, counts it out.
pub async fn record(request: Request, next: Next) -> Response {
    let method = request.method().as_str().to_owned();
    let servlet = request.extensions().get::<MatchedPath>().map_or("unrouted", |p| servlet_of(p.as_str())).to_owned();
    metrics::counter!(REQUESTS_RECEIVED, "method" => method.clone(), "servlet" => servlet.clone()).increment(1);
    let in_flight = InFlight::enter(&method, &servlet);
    let started = Instant::now();
    let response = next.run(request).await;
    drop(in_flight);
    let code = response.status().as_u16().to_string();
    let labels = [("method", method), ("servlet", servlet), ("tag", String::new())];
    metrics::counter!(RESPONSES, "method" => labels[0].1.clone(), "code" => code.clone()).increment(1);
    metrics::counter!(RESPONSE_COUNT, &labels).increment(1);
    let [method, servlet, tag] = labels;
    metrics::histogram!(RESPONSE_TIME, &[method, servlet, tag, ("code", code)]).record(started.elapsed().as_secs_f64());
    response
}

/// One request in flight; leaving (also by cancellation: a client that
/// hangs up on a long-poll) takes it off the gauge.
struct InFlight(metrics::Gauge);

impl InFlight {
    fn enter(method: &str, servlet: &str) -> InFlight {
        let gauge = metrics::gauge!(IN_FLIGHT, "method" => method.to_owned(), "servlet" => servlet.to_owned());
        gauge.increment(1.0);
        InFlight(gauge)
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.decrement(1.0);
    }
}

/// Synapse's servlet for a route template, or the template itself. Only
/// the version segment is ignored: `r0`, `v1` and `v3` are one servlet.
pub fn servlet_of(route: &str) -> &str {
    let unversioned = match route.strip_prefix("/_matrix/client/") {
        Some(rest) => rest.split_once('/').map_or(rest, |(_, tail)| tail),
        None => route,
    };
    match unversioned {
        "sync" => "SyncRestServlet",
        "rooms/{room_id}/send/{event_type}/{txn_id}" => "RoomSendEventRestServlet",
        "rooms/{room_id}/state/{event_type}" | "rooms/{room_id}/state/{event_type}/{state_key}" => {
            "RoomStateEventRestServlet"
        }
        "rooms/{room_id}/messages" => "RoomMessageListRestServlet",
        "rooms/{room_id}/context/{event_id}" => "RoomEventContextServlet",
        "rooms/{room_id}/typing/{user_id}" => "RoomTypingRestServlet",
        "rooms/{room_id}/receipt/{receipt_type}/{event_id}" => "ReceiptRestServlet",
        "rooms/{room_id}/read_markers" => "ReadMarkerRestServlet",
        "rooms/{room_id}/members" => "RoomMemberListRestServlet",
        "rooms/{room_id}/join" | "join/{room_id_or_alias}" => "JoinRoomAliasServlet",
        "createRoom" => "RoomCreateRestServlet",
        "login" => "LoginRestServlet",
        "register" => "RegisterRestServlet",
        "keys/upload" => "KeyUploadServlet",
        "keys/query" => "KeyQueryServlet",
        "keys/claim" => "OneTimeKeyServlet",
        "sendToDevice/{event_type}/{txn_id}" => "SendToDeviceRestServlet",
        "org.matrix.simplified_msc3575/sync" => "SlidingSyncRestServlet",
        "versions" if route == "/_matrix/client/versions" => "VersionsRestServlet",
        _ => match route {
            "/_matrix/federation/v1/send/{txn_id}" => "FederationSendServlet",
            "/_matrix/media/v3/upload" | "/_matrix/client/v1/media/upload" => "UploadServlet",
            _ => route,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::servlet_of;

    #[test]
    fn routes_map_to_synapse_servlets_and_others_keep_their_template() {
        assert_eq!(servlet_of("/_matrix/client/v3/sync"), "SyncRestServlet");
        assert_eq!(servlet_of("/_matrix/client/r0/sync"), "SyncRestServlet");
        assert_eq!(
            servlet_of("/_matrix/client/v3/rooms/{room_id}/send/{event_type}/{txn_id}"),
            "RoomSendEventRestServlet"
        );
        assert_eq!(servlet_of("/_matrix/client/versions"), "VersionsRestServlet");
        assert_eq!(servlet_of("/_matrix/federation/v1/send/{txn_id}"), "FederationSendServlet");
        assert_eq!(servlet_of("/_nexus/client/v1/servers/{server_id}"), "/_nexus/client/v1/servers/{server_id}");
        // Not the client API's `versions` under some other prefix.
        assert_eq!(servlet_of("/_matrix/client/v3/versions"), "/_matrix/client/v3/versions");
    }
}
