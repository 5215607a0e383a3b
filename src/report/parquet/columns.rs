//! The columns of `connections.parquet`: every field of a jsonl line, flattened, by its JSON
//! pointer, and the columns added for engines.

use serde_json::json;

use super::{Column, ConnRecord, Type, col, derived, ip, micros};

/// The connection columns with the endpoint fields written once: `before`, then each field of
/// `endpoint` for the client (`client_NAME` from `/client/NAME`), then for the server, then
/// `after`.
macro_rules! connection_columns {
    (before: [$($before:expr),* $(,)?], endpoint: [$(($field:literal, $ty:ident)),* $(,)?], after: [$($after:expr),* $(,)?] $(,)?) => {
        &[
            $($before,)*
            $(col(concat!("client_", $field), Type::$ty, concat!("/client/", $field)),)*
            $(col(concat!("server_", $field), Type::$ty, concat!("/server/", $field)),)*
            $($after,)*
        ]
    };
}

/// The columns of `connections.parquet`, in order.
pub static CONNECTION_COLUMNS: &[Column<ConnRecord>] = connection_columns!(
    before: [
        col("label", Type::Text, "/label"),
        col("id", Type::Int, "/id"),
        derived("client_ip", Type::Text, |r| ip(r.client.ip())),
        derived("client_port", Type::Int, |r| json!(r.client.port())),
        derived("server_ip", Type::Text, |r| ip(r.server.ip())),
        derived("server_port", Type::Int, |r| json!(r.server.port())),
        derived("start_time", Type::Time, |r| micros(r.first_ts)),
        derived("end_time", Type::Time, |r| micros(r.last_ts)),
        col("client_address", Type::Text, "/client_address"),
        col("server_address", Type::Text, "/server_address"),
        col("role_rule", Type::Text, "/role_rule"),
        col("start_ts", Type::Float, "/start_ts"),
        col("end_ts", Type::Float, "/end_ts"),
        col("duration_s", Type::Float, "/duration_s"),
        col("first_frame", Type::Int, "/first_frame"),
        col("last_frame", Type::Int, "/last_frame"),
        col("outcome", Type::Text, "/outcome"),
        col("history", Type::Text, "/history"),
        col("capture_point", Type::Text, "/capture_point"),
        col("handshake_client_isn", Type::Int, "/handshake/client_isn"),
        col("handshake_server_isn", Type::Int, "/handshake/server_isn"),
        col(
            "handshake_syn_to_synack_ms",
            Type::Float,
            "/handshake/syn_to_synack_ms",
        ),
        col(
            "handshake_synack_to_ack_ms",
            Type::Float,
            "/handshake/synack_to_ack_ms",
        ),
        col("handshake_rtt_ms", Type::Float, "/handshake/rtt_ms"),
        col("handshake_valid", Type::Bool, "/handshake/valid"),
        col(
            "handshake_synack_acks_isn_plus_1",
            Type::Bool,
            "/handshake/synack_acks_isn_plus_1",
        ),
        col(
            "handshake_ack_acks_server_isn_plus_1",
            Type::Bool,
            "/handshake/ack_acks_server_isn_plus_1",
        ),
        col("handshake_syn_count", Type::Int, "/handshake/syn_count"),
        col(
            "handshake_client_options_mss",
            Type::Int,
            "/handshake/client_options/mss",
        ),
        col(
            "handshake_client_options_window_scale",
            Type::Int,
            "/handshake/client_options/window_scale",
        ),
        col(
            "handshake_client_options_sack_permitted",
            Type::Bool,
            "/handshake/client_options/sack_permitted",
        ),
        col(
            "handshake_client_options_timestamps",
            Type::Bool,
            "/handshake/client_options/timestamps",
        ),
        col(
            "handshake_server_options_mss",
            Type::Int,
            "/handshake/server_options/mss",
        ),
        col(
            "handshake_server_options_window_scale",
            Type::Int,
            "/handshake/server_options/window_scale",
        ),
        col(
            "handshake_server_options_sack_permitted",
            Type::Bool,
            "/handshake/server_options/sack_permitted",
        ),
        col(
            "handshake_server_options_timestamps",
            Type::Bool,
            "/handshake/server_options/timestamps",
        ),
        col(
            "handshake_negotiated_mss",
            Type::Int,
            "/handshake/negotiated/mss",
        ),
        col(
            "handshake_negotiated_window_scaling",
            Type::Bool,
            "/handshake/negotiated/window_scaling",
        ),
        col(
            "handshake_negotiated_sack",
            Type::Bool,
            "/handshake/negotiated/sack",
        ),
        col(
            "handshake_negotiated_timestamps",
            Type::Bool,
            "/handshake/negotiated/timestamps",
        ),
        col("close_initiator", Type::Text, "/close/initiator"),
        col("close_time_wait", Type::Text, "/close/time_wait"),
        col("close_reset_by", Type::Text, "/close/reset_by"),
    ],
    // Each endpoint's fields, as `client_…` columns then `server_…` ones.
    endpoint: [
        ("final_state", Text),
        ("states", Json),
        ("packets", Int),
        ("payload_bytes", Int),
        ("retransmissions", Int),
        ("fast_retransmissions", Int),
        ("rto_retransmissions", Int),
        ("after_rto_retransmissions", Int),
        ("tail_loss_probes", Int),
        ("new_data_probes", Int),
        ("spurious_retransmissions", Int),
        ("syn_retransmissions", Int),
        ("fin_retransmissions", Int),
        ("retransmitted_bytes", Int),
        ("out_of_order", Int),
        ("dup_acks", Int),
        ("triple_dup_acks", Int),
        ("zero_window", Int),
        ("zero_window_episodes", Int),
        ("zero_window_probes", Int),
        ("zero_window_probe_acks", Int),
        ("keep_alives", Int),
        ("keep_alive_acks", Int),
        ("window_updates", Int),
        ("window_full", Int),
        ("prev_segment_not_captured", Int),
        ("acked_unseen", Int),
        ("dsacks_sent", Int),
        ("dsacked_retransmissions", Int),
        ("resets", Int),
    ],
    after: [
        col("rtt_samples", Type::Int, "/rtt/samples"),
        col("rtt_min_ms", Type::Float, "/rtt/min_ms"),
        col("rtt_srtt_ms", Type::Float, "/rtt/srtt_ms"),
        col("rtt_rttvar_ms", Type::Float, "/rtt/rttvar_ms"),
        col("rtt_rto_ms", Type::Float, "/rtt/rto_ms"),
        col("rtt_rto_floor_ms", Type::Float, "/rtt/rto_floor_ms"),
        col("rtt_linux_rto_ms", Type::Float, "/rtt/linux_rto_ms"),
        col("rtt_max_ms", Type::Float, "/rtt/max_ms"),
        col("rtt_direction", Type::Text, "/rtt/direction"),
        col("rtt_basis", Type::Text, "/rtt/basis"),
        col(
            "rtt_by_direction_client_samples",
            Type::Int,
            "/rtt_by_direction/client/samples",
        ),
        col(
            "rtt_by_direction_client_min_ms",
            Type::Float,
            "/rtt_by_direction/client/min_ms",
        ),
        col(
            "rtt_by_direction_client_srtt_ms",
            Type::Float,
            "/rtt_by_direction/client/srtt_ms",
        ),
        col(
            "rtt_by_direction_client_rttvar_ms",
            Type::Float,
            "/rtt_by_direction/client/rttvar_ms",
        ),
        col(
            "rtt_by_direction_client_rto_ms",
            Type::Float,
            "/rtt_by_direction/client/rto_ms",
        ),
        col(
            "rtt_by_direction_client_rto_floor_ms",
            Type::Float,
            "/rtt_by_direction/client/rto_floor_ms",
        ),
        col(
            "rtt_by_direction_client_linux_rto_ms",
            Type::Float,
            "/rtt_by_direction/client/linux_rto_ms",
        ),
        col(
            "rtt_by_direction_client_max_ms",
            Type::Float,
            "/rtt_by_direction/client/max_ms",
        ),
        col(
            "rtt_by_direction_server_samples",
            Type::Int,
            "/rtt_by_direction/server/samples",
        ),
        col(
            "rtt_by_direction_server_min_ms",
            Type::Float,
            "/rtt_by_direction/server/min_ms",
        ),
        col(
            "rtt_by_direction_server_srtt_ms",
            Type::Float,
            "/rtt_by_direction/server/srtt_ms",
        ),
        col(
            "rtt_by_direction_server_rttvar_ms",
            Type::Float,
            "/rtt_by_direction/server/rttvar_ms",
        ),
        col(
            "rtt_by_direction_server_rto_ms",
            Type::Float,
            "/rtt_by_direction/server/rto_ms",
        ),
        col(
            "rtt_by_direction_server_rto_floor_ms",
            Type::Float,
            "/rtt_by_direction/server/rto_floor_ms",
        ),
        col(
            "rtt_by_direction_server_linux_rto_ms",
            Type::Float,
            "/rtt_by_direction/server/linux_rto_ms",
        ),
        col(
            "rtt_by_direction_server_max_ms",
            Type::Float,
            "/rtt_by_direction/server/max_ms",
        ),
        col("reuse_previous", Type::Int, "/reuse/previous"),
        col(
            "reuse_time_wait_holder",
            Type::Text,
            "/reuse/time_wait_holder",
        ),
        col("reuse_held_for_s", Type::Float, "/reuse/held_for_s"),
        col("reuse_acceptable", Type::Bool, "/reuse/acceptable"),
        col("reuse_reason", Type::Text, "/reuse/reason"),
        col("reuse_outcome", Type::Text, "/reuse/outcome"),
        col("events", Type::Json, "/events"),
        col("events_dropped", Type::Int, "/events_dropped"),
    ],
);
