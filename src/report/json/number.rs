//! The numbers every connection object holds many of, written without the general machinery:
//! timestamps with the capture's precision ([`Ts`]) and quantities rounded to three decimals
//! ([`N3`]), each formatted on the stack and written under serde_json's number token, as
//! serde_json's own `Number` (arbitrary_precision) is written.

use serde::ser::{Serialize, SerializeStruct, Serializer};

use crate::time::Timestamp;

/// `text`, a valid JSON number, written as is.
fn number_text<S: Serializer>(s: S, text: &str) -> Result<S::Ok, S::Error> {
    const NUMBER: &str = "$serde_json::private::Number";
    let mut st = s.serialize_struct(NUMBER, 1)?;
    st.serialize_field(NUMBER, text)?;
    st.end()
}

/// A timestamp serialized as a JSON number with the capture's full precision (the text of
/// [`super::ts`], not parsed back).
pub struct Ts(pub Timestamp, pub u8);

impl Serialize for Ts {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        number_text(s, self.0.display(self.1).text().as_str())
    }
}

/// A quantity rounded to three decimals (see [`super::num3`]); not finite is `null`.
pub struct N3(pub f64);

/// Below this many thousandths the rounded value is written from its integer: the double
/// nearest k/1000 is then within far less than 0.0005 of it, so the shortest decimal that reads
/// back as that double (what serde_json writes) is k/1000's own digits, in plain notation.
const PLAIN_BELOW: f64 = 1e12;

impl Serialize for N3 {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let k = (self.0 * 1000.0).round();
        // Zero keeps serde_json's own writing: it tells 0.0 from -0.0.
        if k != 0.0 && k.abs() < PLAIN_BELOW {
            return number_text(s, thousandths(k as i64).as_str());
        }
        s.serialize_f64(k / 1000.0)
    }
}

/// `k / 1000` in decimal as serde_json writes a double: "12.5", "0.005", "-3.0".
fn thousandths(k: i64) -> Text {
    let mut t = Text {
        buf: [0; 24],
        start: 24,
        end: 24,
    };
    let abs = k.unsigned_abs();
    let (mut whole, frac) = (abs / 1000, (abs % 1000) as u32);
    // The fraction's digits without trailing zeros, at least one.
    let (frac, digits) = match frac {
        0 => (0, 1),
        f if f % 100 == 0 => (f / 100, 1),
        f if f % 10 == 0 => (f / 10, 2),
        f => (f, 3),
    };
    let mut f = frac;
    for _ in 0..digits {
        t.push(b'0' + (f % 10) as u8);
        f /= 10;
    }
    t.push(b'.');
    loop {
        t.push(b'0' + (whole % 10) as u8);
        whole /= 10;
        if whole == 0 {
            break;
        }
    }
    if k < 0 {
        t.push(b'-');
    }
    t
}

/// Text written from its end in a fixed buffer.
struct Text {
    buf: [u8; 24],
    start: usize,
    end: usize,
}

impl Text {
    fn push(&mut self, b: u8) {
        self.start -= 1;
        self.buf[self.start] = b;
    }

    fn as_str(&self) -> &str {
        std::str::from_utf8(&self.buf[self.start..self.end]).expect("ASCII digits")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::json::{num3, ts};

    #[test]
    fn a_timestamp_is_written_as_the_number_ts_gives() {
        for n in [
            0,
            7,
            -7,
            1_700_000_000_123_456_789,
            -1_000_000_001,
            i64::MAX,
            i64::MIN,
        ] {
            for digits in 0..=9 {
                let (t, want) = (Timestamp(n), ts(Timestamp(n), digits));
                let text = serde_json::to_string(&Ts(t, digits)).unwrap();
                assert_eq!(text, serde_json::to_string(&want).unwrap());
                assert_eq!(serde_json::to_value(Ts(t, digits)).unwrap(), want);
            }
        }
    }

    /// What N3 wrote before: serde_json's own double.
    fn f64_text(v: f64) -> String {
        serde_json::to_string(&((v * 1000.0).round() / 1000.0)).unwrap()
    }

    #[test]
    fn a_quantity_is_written_as_serde_json_writes_the_rounded_double() {
        let check = |v: f64| {
            assert_eq!(serde_json::to_string(&N3(v)).unwrap(), f64_text(v), "{v}");
            assert_eq!(serde_json::to_value(N3(v)).unwrap(), num3(v), "{v}");
        };
        // Every thousandth up to 3000, both signs, and the values around them.
        for k in -3_000_000i64..=3_000_000 {
            check(k as f64 / 1000.0);
        }
        for v in [
            0.0004, -0.0004, 0.0005, 1e-9, 0.0, -0.0, 123.4565, 2.675, 1.0005,
        ] {
            check(v);
        }
        // Large values, up to and past where the integer path stops, and not finite ones.
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        for _ in 0..200_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let mag = 10f64.powi((x % 17) as i32 - 3);
            check((x >> 11) as f64 / (1u64 << 53) as f64 * mag);
            check(-((x >> 11) as f64) / (1u64 << 53) as f64 * mag);
        }
        for v in [999_999_999.999_4, 999_999_999.999_6, 1e9, 1e12, 1e16, 1e300] {
            check(v);
            check(-v);
        }
        for v in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
            assert_eq!(serde_json::to_string(&N3(v)).unwrap(), "null");
        }
    }
}
