//! The names the services record metrics under (the `metrics` facade: a
//! no-op until the binary installs the Prometheus recorder). Synapse's
//! names where the meaning is Synapse's, so its Grafana dashboard's panels
//! work unchanged; `nexus_*` for what only Nexus has.

/// Events written to the store: local, federated, backfilled.
pub const EVENTS_PERSISTED: &str = "synapse_storage_events_persisted_events_total";
/// Federation transactions a destination accepted.
pub const FEDERATION_SENT_TRANSACTIONS: &str = "synapse_federation_client_sent_transactions_total";
/// EDUs in those transactions.
pub const FEDERATION_SENT_EDUS: &str = "synapse_federation_client_sent_edus_total";
/// PDUs and EDUs in transactions received.
pub const FEDERATION_RECEIVED_PDUS: &str = "synapse_federation_server_received_pdus_total";
pub const FEDERATION_RECEIVED_EDUS: &str = "synapse_federation_server_received_edus_total";
/// Notifications a push gateway took, and those given up on.
pub const PUSHES_PROCESSED: &str = "synapse_http_httppusher_http_pushes_processed_total";
pub const PUSHES_FAILED: &str = "synapse_http_httppusher_http_pushes_failed_total";
/// Appservice transactions acknowledged and failed, and their events, by `service` (its id).
pub const APPSERVICE_SENT_TRANSACTIONS: &str = "synapse_appservice_api_sent_transactions_total";
pub const APPSERVICE_FAILED_TRANSACTIONS: &str = "synapse_appservice_api_failed_transactions_total";
pub const APPSERVICE_SENT_EVENTS: &str = "synapse_appservice_api_sent_events_total";
/// Users with a waiting sync (or sliding sync) that a change woke.
pub const BUS_WAKEUPS: &str = "nexus_bus_wakeups_total";
