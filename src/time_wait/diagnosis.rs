//! The plain-words diagnosis of a TIME_WAIT report: what a rate of TIME_WAIT entries means in
//! steady state, and how close it comes to the limits Linux applies.

use super::{EndpointTimeWait, HostTimeWait, LINUX_EPHEMERAL_PORTS, LINUX_MAX_TW_BUCKETS};

/// Hosts with fewer TIME_WAIT entries than this get no diagnosis: a handful is normal.
pub const HOST_DIAGNOSIS_MIN_ENTRIES: u32 = 10;

/// The steady state a rate implies and the kernel limit it approaches.
pub(super) fn diagnose_host(h: &HostTimeWait, duration_s: f64) -> Vec<String> {
    let mut out = Vec::new();
    if h.entered < HOST_DIAGNOSIS_MIN_ENTRIES {
        return out;
    }
    out.push(format!(
        "{} ({}) closed {} of its {} connections first, from {} port(s), and entered TIME_WAIT {} times: {:.1} per second.",
        h.host, h.role, h.closed_actively, h.connections, h.ports, h.entered, h.rate_per_s
    ));
    out.extend(steady_state(
        h.rate_per_s,
        duration_s,
        h.peak,
        LINUX_MAX_TW_BUCKETS,
        "tcp_max_tw_buckets",
    ));
    if let Some((peer, n)) = h.busiest_peer {
        let share = f64::from(n) / f64::from(h.entered.max(1));
        let rate = h.rate_per_s * share;
        out.push(format!(
            "Toward {peer} ({n} of its entries) each TIME_WAIT socket keeps one of its ephemeral ports busy: at {rate:.1}/s it needs about {} ports, {:.1}% of the {} of Linux's default ip_local_port_range{}.",
            group((rate * duration_s).round() as u32),
            100.0 * rate * duration_s / f64::from(LINUX_EPHEMERAL_PORTS),
            group(LINUX_EPHEMERAL_PORTS),
            verdict(rate * duration_s, LINUX_EPHEMERAL_PORTS),
        ));
        out.push(
            "Remedies: keep connections alive and pool them, let the server close first, widen net.ipv4.ip_local_port_range, or enable net.ipv4.tcp_tw_reuse (outgoing connections, needs TCP timestamps)."
                .into(),
        );
    }
    out
}

/// What R connections/s mean with a T s TIME_WAIT: about R·T sockets held in steady state,
/// compared with `limit`.
fn steady_state(rate: f64, duration_s: f64, peak: u32, limit: u32, what: &str) -> Vec<String> {
    let held = rate * duration_s;
    vec![format!(
        "At {rate:.1}/s and a {duration_s:.0} s TIME_WAIT it holds about {} sockets in TIME_WAIT in steady state (the most seen at once here: {peak}); {:.1}% of the {} of {what}{}.",
        group(held.round() as u32),
        100.0 * held / f64::from(limit),
        group(limit),
        verdict(held, limit),
    )]
}

fn verdict(held: f64, limit: u32) -> &'static str {
    let share = held / f64::from(limit);
    if share >= 1.0 {
        ": it exceeds the limit"
    } else if share >= 0.5 {
        ": it is approaching the limit"
    } else {
        ""
    }
}

/// 262144 as 262,144.
pub fn group(n: u32) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, ch) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(ch);
    }
    out
}

/// Plain-words findings, only from what the trace supports.
pub(super) fn diagnose(e: &EndpointTimeWait, duration_s: f64, rate: f64) -> Vec<String> {
    let mut out = Vec::new();
    if e.role != "server" || e.entered == 0 {
        return out;
    }
    out.push(format!(
        "The server closed {} of its {} connections first and entered TIME_WAIT {} times: TIME_WAIT builds up on the server's own port.",
        e.closed_actively, e.connections, e.entered
    ));
    out.push(format!(
        "With a {duration_s:.0} s TIME_WAIT it held at most {} sockets in TIME_WAIT at once, {} still at the end of the capture.",
        e.peak, e.held_at_end
    ));
    out.extend(steady_state(
        rate,
        duration_s,
        e.peak,
        LINUX_MAX_TW_BUCKETS,
        "tcp_max_tw_buckets (all of the host's TIME_WAIT sockets)",
    ));
    if e.reused > 0 {
        out.push(format!(
            "{} new connections reused a 4-tuple the server still held in TIME_WAIT ({} of them acceptable by RFC 6191): clients are cycling through their ephemeral ports faster than TIME_WAIT expires.",
            e.reused, e.reused_acceptable
        ));
    }
    out.push(
        "Usual causes: HTTP/1.0 or `Connection: close` responses, or an idle timeout that makes the server close. Remedies: let the clients close first, keep connections alive and pool them on the client side."
            .into(),
    );
    out
}
