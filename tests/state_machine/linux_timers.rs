//! Issue #14: what Linux's timers send, told apart from the capture. A tail loss probe at RTO
//! time (cause 1), a byte resent at SND.NXT-1 that is not a keep-alive (2), what the sender
//! knew when it resent (4), and Linux's RTO formula (5).
//!
//! Capture near the client: SYN→SYN-ACK 50 ms, so the client's SRTT starts at 50 ms; both SYNs
//! offer SACK (`SYN_OPTIONS`) unless a test says otherwise.

use tcpflow_audit::analysis::{RetransKind, SegClass};

use crate::harness::*;

fn client_data(rel: u32, len: u32) -> Segment {
    Segment {
        seq: c(rel),
        flags: PSH_ACK,
        payload_len: len,
        ..CLIENT_SEG
    }
}

fn server_ack(rel: u32) -> Segment {
    Segment {
        ack: c(rel),
        ..SERVER_SEG
    }
}

fn from_port(seg: Segment, port: u16) -> Segment {
    let mut seg = seg;
    if seg.src == CLIENT {
        seg.src.set_port(port);
    } else {
        seg.dst.set_port(port);
    }
    seg
}

/// Handshake, three 100-byte segments at 100 ms, the first two acknowledged at 150 ms: the
/// last one (201..301) is alone in flight. Linux's RTO is then 50 + max(4·RTTVAR, 200) = 250 ms.
fn tail_alone_in_flight(port: u16, sack: bool) -> Capture {
    let mut cap = Capture::with_timeline();
    let mut opts = SYN_OPTIONS;
    opts.sack_permitted = sack;
    cap.at(
        0,
        from_port(
            Segment {
                options: opts,
                ..C_SYN
            },
            port,
        ),
    );
    cap.at(
        50,
        from_port(
            Segment {
                options: opts,
                ..S_SYN_ACK
            },
            port,
        ),
    );
    cap.at(51, from_port(C_ACK, port));
    for rel in [1, 101, 201] {
        cap.at(100, from_port(client_data(rel, 100), port));
    }
    cap.at(150, from_port(server_ack(201), port));
    cap
}

fn kind(k: RetransKind) -> SegClass {
    SegClass::Retransmission(k)
}

#[test]
fn first_timer_resend_of_a_lone_tail_is_a_probe_and_the_next_one_the_rto() {
    // Probe ~RTO after the last ACK; the RTO follows it by one RTO (not doubled): Linux re-arms
    // the timer from the probe.
    let mut cap = tail_alone_in_flight(40000, true);
    let probe = cap.at(400, client_data(201, 100));
    let rto = cap.at(650, client_data(201, 100));
    let conn = cap.finish_one(1000);
    assert_eq!(class_of(&conn, probe), kind(RetransKind::TailLossProbe));
    assert_eq!(class_of(&conn, rto), kind(RetransKind::Rto));
    let st = conn.dirs[C].stats;
    assert_eq!((st.tail_loss_probes, st.rto_retransmissions), (1, 1));
}

#[test]
fn a_doubling_series_has_no_probe_in_it() {
    // 250 ms, then 500 ms: the stack backed off after its first resend, which was a timeout.
    let mut cap = tail_alone_in_flight(40000, true);
    let first = cap.at(400, client_data(201, 100));
    let second = cap.at(900, client_data(201, 100));
    let conn = cap.finish_one(2000);
    assert_eq!(class_of(&conn, first), kind(RetransKind::Rto));
    assert_eq!(class_of(&conn, second), kind(RetransKind::Rto));
    let st = conn.dirs[C].stats;
    assert_eq!((st.tail_loss_probes, st.rto_retransmissions), (0, 2));
    let details: Vec<&str> = conn
        .events
        .iter()
        .filter(|e| e.kind == EventKind::Retransmission)
        .map(|e| e.detail.as_str())
        .collect();
    assert!(
        details[0].contains("resent by RTO (timeout #1"),
        "{details:?}"
    );
    assert!(details[1].contains("timeout #2"), "{details:?}");
}

#[test]
fn without_sack_there_is_no_probe() {
    let mut cap = tail_alone_in_flight(40000, false);
    let resend = cap.at(400, client_data(201, 100));
    let conn = cap.finish_one(1000);
    assert_eq!(class_of(&conn, resend), kind(RetransKind::Rto));
}

#[test]
fn a_host_that_showed_it_sends_no_probes_sends_none_in_its_other_connections() {
    // Connection 1: a lone resend at RTO time (alone, it reads as a probe). Connection 2, from
    // the same host: a doubling series. Settled when connection 1 is retired.
    let mut cap = tail_alone_in_flight(40001, true);
    let lone = cap.at(400, from_port(client_data(201, 100), 40001));
    cap.at(420, from_port(server_ack(301), 40001));
    // The second connection's frames, 1 s after the first's.
    let mut all = cap;
    let second_frames = [
        (0, from_port(C_SYN, 40002)),
        (50, from_port(S_SYN_ACK, 40002)),
        (51, from_port(C_ACK, 40002)),
        (100, from_port(client_data(1, 100), 40002)),
        (100, from_port(client_data(101, 100), 40002)),
        (100, from_port(client_data(201, 100), 40002)),
        (150, from_port(server_ack(201), 40002)),
        (400, from_port(client_data(201, 100), 40002)),
        (900, from_port(client_data(201, 100), 40002)),
        (950, from_port(server_ack(301), 40002)),
    ];
    for (ms, seg) in second_frames {
        all.at(ms + 1000, seg);
    }
    let conns = all.finish(5000);
    assert_eq!(conns.len(), 2);
    let first = &conns[0];
    assert_eq!(class_of(first, lone), kind(RetransKind::Rto));
    let st = first.dirs[C].stats;
    assert_eq!((st.tail_loss_probes, st.rto_retransmissions), (0, 1));
    let st = conns[1].dirs[C].stats;
    assert_eq!((st.tail_loss_probes, st.rto_retransmissions), (0, 2));
}

#[test]
fn a_byte_resent_at_snd_nxt_minus_1_while_unacknowledged_is_not_a_keep_alive() {
    // After an idle time a 1-byte message is sent and lost: its resend sits at SND.NXT-1 with
    // 1 byte, a keep-alive's shape, but SND.UNA < SND.NXT: Linux is resending it.
    let mut cap = Capture::with_timeline();
    cap.at(0, C_SYN);
    cap.at(50, S_SYN_ACK);
    cap.at(51, C_ACK);
    cap.at(100, client_data(1, 100));
    cap.at(150, server_ack(101));
    let keep_alive = cap.at(
        1150,
        Segment {
            seq: c(100),
            ..CLIENT_SEG
        },
    );
    cap.at(1200, server_ack(101));
    cap.at(2000, client_data(101, 1));
    let resent = cap.at(2250, client_data(101, 1));
    cap.at(2300, server_ack(102));
    let conn = cap.finish_one(3000);
    assert_eq!(class_of(&conn, keep_alive), SegClass::KeepAlive);
    assert_eq!(class_of(&conn, resent), kind(RetransKind::TailLossProbe));
    let st = conn.dirs[C].stats;
    assert_eq!((st.keep_alives, st.retransmissions), (1, 1));
}

#[test]
fn linux_rto_floors_the_variance_so_an_ack_clocked_resend_is_not_a_timeout() {
    // Four 53 ms samples: SRTT 53 ms, 4·RTTVAR below 200 ms. Linux's RTO is 253 ms; RFC 6298's
    // formula with a 200 ms floor would say 200 ms. A head resend 180 ms after the last ACK,
    // with SACK showing the loss, is fast (0.8·253 > 180), not RTO (0.8·200 < 180).
    let mut cap = Capture::with_timeline();
    cap.at(0, C_SYN);
    cap.at(53, S_SYN_ACK);
    cap.at(54, C_ACK);
    let mut rel = 1;
    for t in [100, 200, 300] {
        cap.at(t, client_data(rel, 100));
        rel += 100;
        cap.at(t + 53, server_ack(rel));
    }
    // 301..601 sent; the first is lost, the peer SACKs the others.
    for r in [301, 401, 501] {
        cap.at(400, client_data(r, 100));
    }
    let sack = |right: u32| Segment {
        ack: c(301),
        options: TcpOptions {
            sack: [
                SackBlock {
                    left: c(401),
                    right: c(right),
                },
                NO_SACK,
                NO_SACK,
                NO_SACK,
            ],
            sack_count: 1,
            ..NO_OPTIONS
        },
        ..SERVER_SEG
    };
    cap.at(453, sack(501));
    cap.at(453, sack(601));
    let resend = cap.at(533, client_data(301, 100));
    let conn = cap.finish_one(1000);
    let est = conn.dirs[C].rtt.estimator;
    assert!((est.srtt_ms - 53.0).abs() < 1.0, "{est:?}");
    assert!(est.linux_rto_ms().unwrap() > 250.0);
    assert_eq!(class_of(&conn, resend), kind(RetransKind::Fast));
}

/// The client's ACK-clocked sends leave 2 ms after each ACK reaches the capture; 201..301 is
/// lost and SACK shows it; the ACK covering everything reaches the capture at 300 ms, and the
/// client resends 201..301 `resend_ms` later.
fn resend_after_covering_ack(resend_ms: u64) -> (Connection, u64) {
    let mut cap = Capture::with_timeline();
    cap.at(0, C_SYN);
    cap.at(50, S_SYN_ACK);
    cap.at(51, C_ACK);
    cap.at(100, client_data(1, 100));
    cap.at(150, server_ack(101));
    cap.at(152, client_data(101, 100));
    cap.at(202, server_ack(201));
    cap.at(204, client_data(201, 100));
    cap.at(204, client_data(301, 100));
    cap.at(
        254,
        Segment {
            ack: c(201),
            options: TcpOptions {
                sack: [
                    SackBlock {
                        left: c(301),
                        right: c(401),
                    },
                    NO_SACK,
                    NO_SACK,
                    NO_SACK,
                ],
                sack_count: 1,
                ..NO_OPTIONS
            },
            ..SERVER_SEG
        },
    );
    cap.at(300, server_ack(401));
    let resend = cap.at(300 + resend_ms, client_data(201, 100));
    (cap.finish_one(1000), resend)
}

#[test]
fn data_acknowledged_within_the_senders_reaction_lag_was_not_known_to_it() {
    let (conn, resend) = resend_after_covering_ack(1);
    assert!((conn.dirs[C].reaction_lag_ms - 2.0).abs() < 0.01);
    assert_eq!(class_of(&conn, resend), kind(RetransKind::Fast));
    assert_eq!(conn.dirs[C].stats.spurious_retransmissions, 0);
}

#[test]
fn data_acknowledged_well_before_the_resend_makes_it_spurious() {
    let (conn, resend) = resend_after_covering_ack(20);
    assert_eq!(class_of(&conn, resend), kind(RetransKind::Spurious));
}

// ---------------------------------------------------------------------------------------------
// New data sent by the probe timer (RFC 8985 §7.3, Linux `tcp_send_loss_probe`): a tail loss
// probe that is not a retransmission. SRTT 50 ms (the handshake), Linux RTO 250 ms.
// ---------------------------------------------------------------------------------------------

/// Handshake, then `segments` 100-byte segments at 100 ms (from relative seq 1), nothing heard:
/// with more than one segment in flight the probe timer fires 2·SRTT + 2 ms = 102 ms later, with
/// one 2·SRTT + 200 ms capped at the RTO, 250 ms later.
fn flight_unanswered(segments: u32, sack: bool) -> Capture {
    let mut cap = Capture::with_timeline();
    let mut opts = SYN_OPTIONS;
    opts.sack_permitted = sack;
    cap.at(
        0,
        Segment {
            options: opts,
            ..C_SYN
        },
    );
    cap.at(
        50,
        Segment {
            options: opts,
            ..S_SYN_ACK
        },
    );
    cap.at(51, C_ACK);
    for i in 0..segments {
        cap.at(100, client_data(1 + 100 * i, 100));
    }
    cap
}

fn probe_events(conn: &Connection) -> Vec<(Option<u64>, Option<Side>)> {
    events(conn, EventKind::NewDataProbe)
}

#[test]
fn new_data_at_the_probe_timeout_is_a_probe_not_a_retransmission() {
    let mut cap = flight_unanswered(10, true);
    let probe = cap.at(205, client_data(1001, 100));
    cap.at(260, server_ack(1101));
    let conn = cap.finish_one(1000);
    let st = conn.dirs[C].stats;
    assert_eq!((st.new_data_probes, st.tail_loss_probes), (1, 0));
    assert_eq!(st.retransmissions, 0);
    assert_eq!(class_of(&conn, probe), SegClass::Normal);
    assert_eq!(probe_events(&conn), [(Some(probe), Some(C))]);
    let detail = &conn
        .events
        .iter()
        .find(|e| e.kind == EventKind::NewDataProbe)
        .unwrap()
        .detail;
    assert!(detail.contains("probe timeout 102.0 ms"), "{detail}");
}

#[test]
fn new_data_well_before_or_after_the_probe_timeout_is_not_a_probe() {
    for at in [160, 180, 240] {
        let mut cap = flight_unanswered(10, true);
        cap.at(at, client_data(1001, 100));
        let conn = cap.finish_one(1000);
        assert_eq!(conn.dirs[C].stats.new_data_probes, 0, "new data at {at} ms");
        assert!(probe_events(&conn).is_empty());
    }
}

#[test]
fn with_one_segment_in_flight_the_probe_waits_for_a_delayed_ack_up_to_the_rto() {
    // 2·SRTT + 200 ms = 300 ms, capped by the RTO 250 ms after the segment.
    let mut cap = flight_unanswered(1, true);
    let probe = cap.at(352, client_data(101, 100));
    let conn = cap.finish_one(1000);
    assert_eq!(probe_events(&conn), [(Some(probe), Some(C))]);
    // At 2·SRTT + 2 ms it would be the multi-segment timeout: too early with one in flight.
    let mut cap = flight_unanswered(1, true);
    cap.at(205, client_data(101, 100));
    assert_eq!(cap.finish_one(1000).dirs[C].stats.new_data_probes, 0);
}

#[test]
fn new_data_after_the_peer_spoke_is_not_a_probe() {
    // A partial ACK at 150 ms re-arms the timers; what follows is ACK-clocked or the
    // application's, not the silence a probe ends.
    let mut cap = flight_unanswered(10, true);
    cap.at(150, server_ack(201));
    cap.at(205, client_data(1001, 100));
    let conn = cap.finish_one(1000);
    assert_eq!(conn.dirs[C].stats.new_data_probes, 0);
}

#[test]
fn nothing_outstanding_or_no_sack_means_no_probe() {
    // Everything acknowledged: the next data is the application's.
    let mut cap = flight_unanswered(10, true);
    cap.at(150, server_ack(1001));
    cap.at(151, client_data(1001, 100));
    cap.at(253, client_data(1101, 100));
    assert_eq!(cap.finish_one(1000).dirs[C].stats.new_data_probes, 0);
    // Linux schedules probes only where SACK was negotiated.
    let mut cap = flight_unanswered(10, false);
    cap.at(205, client_data(1001, 100));
    assert_eq!(cap.finish_one(1000).dirs[C].stats.new_data_probes, 0);
}

#[test]
fn a_burst_of_new_data_after_the_silence_is_the_senders_own_not_a_probe() {
    // A probe sends one segment; two back to back, with nothing heard, are a burst.
    let mut cap = flight_unanswered(10, true);
    cap.at(205, client_data(1001, 100));
    cap.at(205, client_data(1101, 100));
    cap.at(260, server_ack(1201));
    let conn = cap.finish_one(1000);
    assert_eq!(conn.dirs[C].stats.new_data_probes, 0);
    assert!(probe_events(&conn).is_empty());
    assert!(conn.dirs[C].tlp_high.is_none());
}

#[test]
fn after_a_probe_of_new_data_the_next_timer_resend_is_the_rto() {
    // One probe at a time (`tlp_high_seq`); the RTO timer restarts from the probe. The RTO
    // following it by one RTO does not make the probe a timeout (it resent nothing).
    let mut cap = flight_unanswered(10, true);
    cap.at(205, client_data(1001, 100));
    let rto = cap.at(455, client_data(1, 100));
    cap.at(510, server_ack(1101));
    let conn = cap.finish_one(1000);
    assert_eq!(class_of(&conn, rto), kind(RetransKind::Rto));
    let st = conn.dirs[C].stats;
    assert_eq!(
        (
            st.new_data_probes,
            st.tail_loss_probes,
            st.rto_retransmissions
        ),
        (1, 0, 1)
    );
    assert!(!conn.dirs[C].sends_no_probes);
}

#[test]
fn away_from_the_sender_new_data_is_never_read_as_a_probe() {
    // Seen near the server (SYN→SYN-ACK 1 ms, SYN-ACK→ACK 50 ms), the client's SRTT by the
    // capture's clock is 1 ms, and new data 5 ms after its flight fits that probe timeout
    // (2·1 + 2 ms); but away from the sender the capture does not see its silence as it did.
    let mut cap = Capture::with_timeline();
    cap.at(0, C_SYN);
    cap.at(1, S_SYN_ACK);
    cap.at(51, C_ACK);
    for i in 0..10 {
        cap.at(100, client_data(1 + 100 * i, 100));
    }
    cap.at(105, client_data(1001, 100));
    let conn = cap.finish_one(1000);
    assert_eq!(conn.dirs[C].stats.new_data_probes, 0);
}

#[test]
fn a_host_that_sends_no_probes_sent_no_probe_of_new_data_either() {
    // Connection 1: new data at the probe timeout. Connection 2, from the same host: a doubling
    // series, so the host sends no probes; connection 1's "probe" was ordinary new data.
    let mut cap = Capture::with_timeline();
    let port = 40011;
    cap.at(0, from_port(C_SYN, port));
    cap.at(50, from_port(S_SYN_ACK, port));
    cap.at(51, from_port(C_ACK, port));
    for i in 0..10 {
        cap.at(100, from_port(client_data(1 + 100 * i, 100), port));
    }
    cap.at(205, from_port(client_data(1001, 100), port));
    cap.at(260, from_port(server_ack(1101), port));
    let second_frames = [
        (0, from_port(C_SYN, 40012)),
        (50, from_port(S_SYN_ACK, 40012)),
        (51, from_port(C_ACK, 40012)),
        (100, from_port(client_data(1, 100), 40012)),
        (100, from_port(client_data(101, 100), 40012)),
        (100, from_port(client_data(201, 100), 40012)),
        (150, from_port(server_ack(201), 40012)),
        (400, from_port(client_data(201, 100), 40012)),
        (900, from_port(client_data(201, 100), 40012)),
        (950, from_port(server_ack(301), 40012)),
    ];
    for (ms, seg) in second_frames {
        cap.at(ms + 1000, seg);
    }
    let conns = cap.finish(5000);
    assert_eq!(conns.len(), 2);
    assert!(conns[1].dirs[C].sends_no_probes);
    assert_eq!(conns[0].dirs[C].stats.new_data_probes, 0);
    assert!(probe_events(&conns[0]).is_empty());
}
