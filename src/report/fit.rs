//! Plain-text tables that fit a width: one line per row, no rules between rows. Columns are
//! narrowed or dropped in the order their ranks give until the table fits; what still does
//! not fit is cut with a `…`, at the end of a free-text column or in the middle of an address
//! (so its port stays), and the caller is told what was done so that it can say so.

/// One column: its heading, its cells, and what may be done to it to save width.
pub struct Column {
    pub head: String,
    pub cells: Vec<String>,
    /// Numbers are aligned right.
    pub right: bool,
    /// A narrower form (heading and cells) used at this rank.
    pub narrow: Option<(u8, String, Vec<String>)>,
    /// Dropped at this rank; `None`: never dropped.
    pub drop: Option<u8>,
    /// The last resort: cut to at least this many characters (`None`: never cut).
    pub min: Option<usize>,
    /// Cut in the middle (an address keeps its port), else at the end.
    pub middle: bool,
}

impl Column {
    pub fn new(head: &str, cells: Vec<String>) -> Column {
        Column {
            head: head.to_string(),
            cells,
            right: false,
            narrow: None,
            drop: None,
            min: None,
            middle: false,
        }
    }

    pub fn right(mut self) -> Column {
        self.right = true;
        self
    }

    pub fn narrow(mut self, rank: u8, head: &str, cells: Vec<String>) -> Column {
        self.narrow = Some((rank, head.to_string(), cells));
        self
    }

    pub fn drop_at(mut self, rank: u8) -> Column {
        self.drop = Some(rank);
        self
    }

    pub fn cut_to(mut self, min: usize, middle: bool) -> Column {
        self.min = Some(min);
        self.middle = middle;
        self
    }

    fn width(&self) -> usize {
        self.cells
            .iter()
            .map(|c| c.chars().count())
            .chain([self.head.chars().count()])
            .max()
            .unwrap_or(0)
    }
}

/// What [`fit`] did to make the table fit.
#[derive(Default, Debug, PartialEq)]
pub struct Fitted {
    pub lines: Vec<String>,
    /// Headings of the columns shown in a narrower form, then of those dropped.
    pub narrowed: Vec<String>,
    pub dropped: Vec<String>,
    /// Headings of the columns whose cells were cut with `…`.
    pub cut: Vec<String>,
}

const GAP: usize = 2;

fn total(cols: &[Column], widths: &[usize]) -> usize {
    widths.iter().sum::<usize>() + GAP * cols.len().saturating_sub(1)
}

/// Lay `cols` out in at most `width` characters a line: heading first, then one line per row.
pub fn fit(mut cols: Vec<Column>, width: usize) -> Fitted {
    let mut out = Fitted::default();
    let mut widths: Vec<usize> = cols.iter().map(Column::width).collect();
    // Narrow and drop by rank until it fits.
    let mut ranks: Vec<u8> = cols
        .iter()
        .flat_map(|c| c.narrow.as_ref().map(|n| n.0).into_iter().chain(c.drop))
        .collect();
    ranks.sort_unstable();
    ranks.dedup();
    for rank in ranks {
        if total(&cols, &widths) <= width {
            break;
        }
        for c in cols.iter_mut() {
            if c.narrow.as_ref().is_some_and(|n| n.0 == rank)
                && let Some((_, head, cells)) = c.narrow.take()
            {
                out.narrowed.push(c.head.clone());
                c.head = head;
                c.cells = cells;
            }
        }
        let (kept, gone): (Vec<Column>, Vec<Column>) =
            cols.into_iter().partition(|c| c.drop != Some(rank));
        out.dropped.extend(gone.into_iter().map(|c| c.head));
        cols = kept;
        widths = cols.iter().map(Column::width).collect();
    }
    // Then cut: free text before addresses, each only as far as needed.
    for middle in [false, true] {
        for i in 0..cols.len() {
            let over = total(&cols, &widths).saturating_sub(width);
            if over == 0 {
                break;
            }
            let Some(min) = cols[i].min.filter(|_| cols[i].middle == middle) else {
                continue;
            };
            let target = widths[i].saturating_sub(over).max(min);
            if target < widths[i] {
                widths[i] = target;
                out.cut.push(cols[i].head.clone());
            }
        }
    }
    let rows = cols.first().map_or(0, |c| c.cells.len());
    let line = |cells: Vec<&str>| -> String {
        let mut l = String::new();
        for (i, (cell, c)) in cells.into_iter().zip(&cols).enumerate() {
            if i > 0 {
                l.push_str("  ");
            }
            let text = if c.middle {
                cut_middle(cell, widths[i])
            } else {
                cut_end(cell, widths[i])
            };
            let pad = widths[i].saturating_sub(text.chars().count());
            if c.right {
                l.extend(std::iter::repeat_n(' ', pad));
                l.push_str(&text);
            } else {
                l.push_str(&text);
                l.extend(std::iter::repeat_n(' ', pad));
            }
        }
        // Whatever still does not fit (a width below every minimum) is cut, never wrapped.
        cut_end(l.trim_end(), width)
    };
    out.lines
        .push(line(cols.iter().map(|c| c.head.as_str()).collect()));
    for r in 0..rows {
        out.lines
            .push(line(cols.iter().map(|c| c.cells[r].as_str()).collect()));
    }
    out
}

/// `text` in at most `width` characters, ending in `…` when cut.
pub fn cut_end(text: &str, width: usize) -> String {
    if text.chars().count() <= width {
        return text.to_string();
    }
    let mut out: String = text.chars().take(width.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// `text` in at most `width` characters with a `…` in the middle when cut, so both ends (an
/// address's first digits and its port) stay.
pub fn cut_middle(text: &str, width: usize) -> String {
    let n = text.chars().count();
    if n <= width {
        return text.to_string();
    }
    if width < 3 {
        return cut_end(text, width);
    }
    let tail = (width - 1) / 2;
    let head = width - 1 - tail;
    let mut out: String = text.chars().take(head).collect();
    out.push('…');
    out.extend(text.chars().skip(n - tail));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cells(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn narrows_then_drops_then_cuts_by_rank() {
        let cols = || {
            vec![
                Column::new("id", cells(&["1", "22"])).right(),
                Column::new("address", cells(&["192.168.100.200:443", "10.0.0.1:80"]))
                    .cut_to(9, true),
                Column::new("pkts c/s", cells(&["10/12", "3/4"]))
                    .narrow(1, "pkts", cells(&["22", "7"]))
                    .drop_at(3),
                Column::new("start", cells(&["0.000", "1.500"])).drop_at(2),
                Column::new("notes", cells(&["3 fast, 1 rto", "-"])).cut_to(5, false),
            ]
        };
        let wide = fit(cols(), 200);
        assert_eq!(
            wide.lines[0],
            "id  address              pkts c/s  start  notes"
        );
        assert!(wide.dropped.is_empty() && wide.cut.is_empty());
        let narrow = fit(cols(), 40);
        assert!(narrow.lines.iter().all(|l| l.chars().count() <= 40));
        assert_eq!(narrow.narrowed, vec!["pkts c/s"]);
        assert_eq!(narrow.dropped, vec!["start", "pkts"]);
        let tiny = fit(cols(), 24);
        assert!(
            tiny.lines.iter().all(|l| l.chars().count() <= 24),
            "{tiny:?}"
        );
        assert!(tiny.cut.contains(&"address".to_string()));
        assert!(
            tiny.lines[1].contains('…') && tiny.lines[1].contains(":443"),
            "{tiny:?}"
        );
    }

    #[test]
    fn cutting_keeps_both_ends() {
        assert_eq!(cut_middle("[2001:db8::1]:443", 9), "[200…:443");
        assert_eq!(cut_end("3 fast, 1 rto", 6), "3 fas…");
        assert_eq!(cut_middle("short", 9), "short");
    }
}
