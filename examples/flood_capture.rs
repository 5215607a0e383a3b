//! Synthetic flood captures for the memory bound (std only).
//!
//!     cargo run --release --example flood_capture -- OUT.pcap KIND N [PER_SECOND]
//!
//! KIND:
//! - `syn`: N SYNs, each from its own source address and port (11.0.0.0 upwards, spoofed), to
//!   10.200.0.1:80, none answered: a SYN flood. Default 100,000 per second.
//! - `short`: N complete short connections from clients 10.0.h.x (ports from 32768 up, as
//!   `synth_capture` numbers them) to 10.200.0.1:80, seven frames each (handshake; the server
//!   closes first, so it holds TIME_WAIT), one millisecond round trip. Default 16,667 per second
//!   (a million within a minute).
//!
//! Writes a little-endian microsecond pcap (Ethernet, IPv4, TCP without options), frames in
//! time order. Totals go to stderr.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::process::ExitCode;

const EPOCH_S: u64 = 1_700_000_000;
const SERVER_IP: [u8; 4] = [10, 200, 0, 1];
const SERVER_PORT: u16 = 80;
const RTT_US: u64 = 1_000;

const FIN: u8 = 0x01;
const SYN: u8 = 0x02;
const ACK: u8 = 0x10;

/// One frame: when, which way, flags, seq, ack.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Pkt {
    t_us: u64,
    /// The connection, to keep frames of equal time in a stable order.
    conn: u64,
    step: u8,
    from_client: bool,
    flags: u8,
    seq: u32,
    ack: u32,
}

fn client_of(kind: &str, c: u64) -> ([u8; 4], u16) {
    if kind == "syn" {
        let a = 0x0b00_0000u32 + c as u32;
        (a.to_be_bytes(), 1024 + (c % 64512) as u16)
    } else {
        let slot = c + (32768 - 1024);
        let host = slot / 64512;
        (
            [10, 0, (host / 250) as u8, (host % 250 + 1) as u8],
            1024 + (slot % 64512) as u16,
        )
    }
}

fn write_pkt(out: &mut impl Write, kind: &str, p: &Pkt) -> std::io::Result<u64> {
    let (cip, cport) = client_of(kind, p.conn);
    let (src, dst, sport, dport) = if p.from_client {
        (cip, SERVER_IP, cport, SERVER_PORT)
    } else {
        (SERVER_IP, cip, SERVER_PORT, cport)
    };
    let mut f = [0u8; 54];
    f[0..6].copy_from_slice(&[2, 0, 0, 0, 0, 0xfe]);
    f[6..12].copy_from_slice(&[2, 0, 0, 0, 0, 1]);
    f[12..14].copy_from_slice(&[0x08, 0x00]);
    f[14..16].copy_from_slice(&[0x45, 0]);
    f[16..18].copy_from_slice(&40u16.to_be_bytes());
    f[20..24].copy_from_slice(&[0x40, 0, 64, 6]);
    f[26..30].copy_from_slice(&src);
    f[30..34].copy_from_slice(&dst);
    f[34..36].copy_from_slice(&sport.to_be_bytes());
    f[36..38].copy_from_slice(&dport.to_be_bytes());
    f[38..42].copy_from_slice(&p.seq.to_be_bytes());
    f[42..46].copy_from_slice(&p.ack.to_be_bytes());
    f[46] = 5 << 4;
    f[47] = p.flags;
    f[48..50].copy_from_slice(&64240u16.to_be_bytes());
    let mut hdr = [0u8; 16];
    hdr[..4].copy_from_slice(&((EPOCH_S + p.t_us / 1_000_000) as u32).to_le_bytes());
    hdr[4..8].copy_from_slice(&((p.t_us % 1_000_000) as u32).to_le_bytes());
    hdr[8..12].copy_from_slice(&54u32.to_le_bytes());
    hdr[12..16].copy_from_slice(&60u32.to_le_bytes());
    out.write_all(&hdr)?;
    out.write_all(&f)?;
    Ok(70)
}

/// The frames of connection `c`, started at `t`.
fn frames(kind: &str, c: u64, t: u64, out: &mut BinaryHeap<Reverse<Pkt>>) {
    let isn_c = (c as u32).wrapping_mul(2_654_435_761);
    let isn_s = isn_c.rotate_left(16) ^ 0x5a5a_5a5a;
    let (c1, s1) = (isn_c.wrapping_add(1), isn_s.wrapping_add(1));
    let mut push = |step: u8, dt: u64, from_client: bool, flags: u8, seq: u32, ack: u32| {
        out.push(Reverse(Pkt {
            t_us: t + dt,
            conn: c,
            step,
            from_client,
            flags,
            seq,
            ack,
        }))
    };
    push(0, 0, true, SYN, isn_c, 0);
    if kind == "syn" {
        return;
    }
    let r = RTT_US;
    push(1, r, false, SYN | ACK, isn_s, c1);
    push(2, r + 20, true, ACK, c1, s1);
    // The server closes first (HTTP/1.0 style); the client answers at once.
    push(3, 2 * r, false, FIN | ACK, s1, c1);
    push(4, 2 * r + 20, true, ACK, c1, s1.wrapping_add(1));
    push(5, 2 * r + 40, true, FIN | ACK, c1, s1.wrapping_add(1));
    push(
        6,
        3 * r + 40,
        false,
        ACK,
        s1.wrapping_add(1),
        c1.wrapping_add(1),
    );
}

fn run(args: &[String]) -> Result<u64, String> {
    let usage = || {
        format!(
            "usage: {} OUT.pcap syn|short N [PER_SECOND]",
            args.first().map_or("flood_capture", |s| s.as_str())
        )
    };
    if !(4..=5).contains(&args.len()) {
        return Err(usage());
    }
    let kind = args[2].as_str();
    if kind != "syn" && kind != "short" {
        return Err(usage());
    }
    let n: u64 = args[3].parse().map_err(|_| usage())?;
    let rate: u64 = match args.get(4) {
        Some(s) => s.parse().map_err(|_| usage())?,
        None if kind == "syn" => 100_000,
        None => 16_667,
    };
    if rate == 0 {
        return Err(usage());
    }
    let file = File::create(&args[1]).map_err(|e| format!("{}: {e}", args[1]))?;
    let mut out = BufWriter::with_capacity(1 << 20, file);
    let io = |e: std::io::Error| e.to_string();
    let mut hdr = [0u8; 24];
    hdr[..4].copy_from_slice(&0xa1b2_c3d4u32.to_le_bytes());
    hdr[4..6].copy_from_slice(&2u16.to_le_bytes());
    hdr[6..8].copy_from_slice(&4u16.to_le_bytes());
    hdr[16..20].copy_from_slice(&65535u32.to_le_bytes());
    hdr[20..24].copy_from_slice(&1u32.to_le_bytes());
    out.write_all(&hdr).map_err(io)?;
    let mut pending = BinaryHeap::new();
    let mut packets = 0u64;
    for c in 0..n {
        let t = c * 1_000_000 / rate;
        while pending
            .peek()
            .is_some_and(|Reverse(p): &Reverse<Pkt>| p.t_us < t)
        {
            let Reverse(p) = pending.pop().unwrap();
            write_pkt(&mut out, kind, &p).map_err(io)?;
            packets += 1;
        }
        frames(kind, c, t, &mut pending);
    }
    while let Some(Reverse(p)) = pending.pop() {
        write_pkt(&mut out, kind, &p).map_err(io)?;
        packets += 1;
    }
    out.flush().map_err(io)?;
    Ok(packets)
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    match run(&args) {
        Ok(packets) => {
            eprintln!("flood_capture: packets={packets}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("flood_capture: {e}");
            ExitCode::from(2)
        }
    }
}
