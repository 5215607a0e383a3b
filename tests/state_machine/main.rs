//! The per-endpoint TCP state machine (SPEC.md §2, §3, §6, §7), driven through the public
//! `Tracker` with crafted segments, in the style of smoltcp's `socket/tcp.rs` tests: one const
//! segment template per direction changed with struct-update syntax, fixtures that bring a
//! connection to a state, and sequence numbers that sit just below the 2^32 wrap so that every
//! comparison the code makes is exercised across it.
//!
//! A capture sees segments, not sockets, so every transition is asserted together with the frame
//! that proves it. Frames are numbered from 1 in the order segments are fed.

mod classes;
mod closing;
mod established;
mod handshake;
mod harness;
mod linux_timers;
mod time_wait;
