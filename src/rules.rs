//! `--fail-on` rules: `<field><op><value>` over a connection's facts or the capture's, for CI.
//!
//! Per-connection fields are the registry's ([`crate::report::columns::FIELDS`]): counts such as
//! `retransmissions` or `dup_acks` are summed over both endpoints, or one endpoint's with a
//! `client.`/`server.` prefix; text fields such as `outcome` take `=` and `!=`. Capture fields
//! are listed in `CAPTURE_FIELDS`, each TIME_WAIT one stated per endpoint, per host or summed.

use std::fmt;

use crate::audit::Audit;
use crate::conn::Connection;
use crate::report::columns::{self, Row, Scope};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    Gt,
    Ge,
    Lt,
    Le,
    Eq,
    Ne,
}

impl Op {
    fn symbol(self) -> &'static str {
        match self {
            Op::Gt => ">",
            Op::Ge => ">=",
            Op::Lt => "<",
            Op::Le => "<=",
            Op::Eq => "=",
            Op::Ne => "!=",
        }
    }

    fn holds_num(self, a: f64, b: f64) -> bool {
        match self {
            Op::Gt => a > b,
            Op::Ge => a >= b,
            Op::Lt => a < b,
            Op::Le => a <= b,
            Op::Eq => a == b,
            Op::Ne => a != b,
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    Num(f64),
    Text(String),
}

#[derive(Clone, Debug, PartialEq)]
pub struct Rule {
    pub text: String,
    field: String,
    scope: Scope,
    op: Op,
    value: Value,
}

#[derive(Debug, PartialEq, Eq)]
pub struct RuleError(pub String);

impl fmt::Display for RuleError {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for RuleError {}

/// Capture-wide fields and what each means; a TIME_WAIT field says whether it is per endpoint
/// (an address:port), per host (an IP address, all its ports) or summed over the capture.
const CAPTURE_FIELDS: &[(&str, &str)] = &[
    ("connections", "connections in the capture"),
    ("skipped", "frames that are not TCP segments"),
    (
        "server_time_wait_peak",
        "per endpoint: the most TIME_WAIT sockets one server endpoint held at once",
    ),
    (
        "time_wait_peak",
        "per endpoint: the most TIME_WAIT sockets one endpoint (address:port) held at once",
    ),
    (
        "host_time_wait_peak",
        "per host: the most TIME_WAIT sockets one IP address held at once, over all its ports",
    ),
    (
        "time_wait_held_at_end",
        "summed: TIME_WAIT sockets held by every endpoint when the capture ends",
    ),
];

fn capture_field(name: &str) -> bool {
    CAPTURE_FIELDS.iter().any(|(n, _)| *n == name)
}

impl Rule {
    pub fn parse(text: &str) -> Result<Rule, RuleError> {
        let ops = [
            (">=", Op::Ge),
            ("<=", Op::Le),
            ("!=", Op::Ne),
            (">", Op::Gt),
            ("<", Op::Lt),
            ("=", Op::Eq),
        ];
        let (pos, sym, op) = ops
            .iter()
            .filter_map(|&(sym, op)| text.find(sym).map(|p| (p, sym, op)))
            .min_by_key(|&(p, sym, _)| (p, usize::MAX - sym.len()))
            .ok_or_else(|| {
                RuleError(format!(
                    "rule '{text}': no comparison (use >, >=, <, <=, = or !=)"
                ))
            })?;
        let lhs = text[..pos].trim();
        let rhs = text[pos + sym.len()..].trim();
        let (scope, field) = match lhs.split_once('.') {
            Some(("client", f)) => (Scope::Client, f),
            Some(("server", f)) => (Scope::Server, f),
            Some((prefix, _)) => {
                return Err(RuleError(format!(
                    "rule '{text}': unknown prefix '{prefix}' (use client. or server.)"
                )));
            }
            None => (Scope::Both, lhs),
        };
        let per_connection = columns::field(field)
            .filter(|f| scope == Scope::Both || f.kind == columns::Kind::PerSide);
        let capture_wide = scope == Scope::Both && capture_field(field);
        if per_connection.is_none() && !capture_wide {
            return Err(RuleError(format!(
                "rule '{text}': unknown field '{lhs}'. Per connection (counts take a client. or server. prefix, else both endpoints are summed): {}. Capture-wide: {}",
                columns::FIELDS
                    .iter()
                    .map(|f| if f.kind == columns::Kind::PerSide {
                        format!("{}*", f.name)
                    } else {
                        f.name.to_string()
                    })
                    .collect::<Vec<_>>()
                    .join(" "),
                CAPTURE_FIELDS
                    .iter()
                    .map(|(n, _)| *n)
                    .collect::<Vec<_>>()
                    .join(" ")
            )));
        }
        if rhs.is_empty() {
            return Err(RuleError(format!(
                "rule '{text}': missing value after '{sym}'"
            )));
        }
        let value = if per_connection.is_some_and(|f| f.is_text()) {
            if !matches!(op, Op::Eq | Op::Ne) {
                return Err(RuleError(format!("rule '{text}': '{field}' takes = or !=")));
            }
            Value::Text(rhs.to_string())
        } else {
            Value::Num(
                rhs.parse()
                    .map_err(|_| RuleError(format!("rule '{text}': '{rhs}' is not a number")))?,
            )
        };
        Ok(Rule {
            text: text.to_string(),
            field: field.to_string(),
            scope,
            op,
            value,
        })
    }

    pub fn is_capture_wide(&self) -> bool {
        capture_field(&self.field)
    }

    /// Every field a rule can name, with its meaning, one a line (for `--help` and the man
    /// page), from the registry.
    pub fn fields_help() -> String {
        let mut s = String::from(
            "Per-connection fields (a count marked * is summed over both endpoints, or one endpoint's with client. or server.):\n",
        );
        for f in columns::FIELDS {
            let star = if f.kind == columns::Kind::PerSide {
                "*"
            } else {
                ""
            };
            s.push_str(&format!("  {}{star}: {}\n", f.name, f.help));
        }
        s.push_str("Capture-wide fields:\n");
        for (name, help) in CAPTURE_FIELDS {
            s.push_str(&format!("  {name}: {help}\n"));
        }
        s
    }

    fn compare(&self, actual: Option<Value>) -> bool {
        match (actual, &self.value) {
            (Some(Value::Num(a)), Value::Num(b)) => self.op.holds_num(a, *b),
            (Some(Value::Text(a)), Value::Text(b)) => {
                (a.eq_ignore_ascii_case(b)) == (self.op == Op::Eq)
            }
            (None, Value::Text(_)) => self.op == Op::Ne,
            _ => false,
        }
    }

    pub fn matches_connection(&self, c: &Connection) -> bool {
        let Some(f) = columns::field(&self.field) else {
            return false;
        };
        let v = f.value(&Row::new(c), self.scope);
        let actual = if f.is_text() {
            v.text().map(Value::Text)
        } else {
            v.number().map(Value::Num)
        };
        self.compare(actual)
    }

    pub fn matches_capture(&self, a: &Audit) -> bool {
        let tw = &a.time_wait.by_endpoint;
        let n = match self.field.as_str() {
            "connections" => a.connection_count as f64,
            "skipped" => a.skipped_total() as f64,
            "server_time_wait_peak" => tw
                .iter()
                .filter(|e| e.role == "server")
                .map(|e| e.peak)
                .max()
                .unwrap_or(0)
                .into(),
            "time_wait_peak" => tw.iter().map(|e| e.peak).max().unwrap_or(0).into(),
            "host_time_wait_peak" => a
                .time_wait
                .by_host
                .iter()
                .map(|h| h.peak)
                .max()
                .unwrap_or(0)
                .into(),
            "time_wait_held_at_end" => tw.iter().map(|e| e.held_at_end).sum::<u32>().into(),
            _ => return false,
        };
        self.compare(Some(Value::Num(n)))
    }
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        let prefix = self.scope.prefix();
        let value = match &self.value {
            Value::Num(n) => n.to_string(),
            Value::Text(t) => t.clone(),
        };
        write!(f, "{prefix}{}{}{value}", self.field, self.op.symbol())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_operators_and_scopes() {
        let r = Rule::parse("retransmissions>0").unwrap();
        assert_eq!((r.op, r.scope), (Op::Gt, Scope::Both));
        assert_eq!(
            Rule::parse("client.dup_acks >= 10").unwrap().to_string(),
            "client.dup_acks>=10"
        );
        assert_eq!(
            Rule::parse("outcome=REJ").unwrap().value,
            Value::Text("REJ".into())
        );
        assert!(
            Rule::parse("server_time_wait_peak>=1000")
                .unwrap()
                .is_capture_wide()
        );
    }

    #[test]
    fn errors_name_the_bad_token() {
        assert!(
            Rule::parse("retrans>0")
                .unwrap_err()
                .0
                .contains("'retrans'")
        );
        assert!(Rule::parse("dup_acks>ten").unwrap_err().0.contains("'ten'"));
        assert!(
            Rule::parse("dup_acks")
                .unwrap_err()
                .0
                .contains("no comparison")
        );
        assert!(
            Rule::parse("outcome>REJ")
                .unwrap_err()
                .0
                .contains("= or !=")
        );
        assert!(
            Rule::parse("peer.resets>0")
                .unwrap_err()
                .0
                .contains("'peer'")
        );
    }
}
