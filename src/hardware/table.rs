//! Plain-text table rendering and number formatting for `capsim profiles`.

/// Renders `rows` under `headers` as left-aligned columns separated by two spaces, with a dashed
/// rule under the header. Lines carry no trailing spaces.
pub(crate) fn render_table(headers: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (i, cell) in row.iter().enumerate() {
            if i < widths.len() {
                widths[i] = widths[i].max(cell.chars().count());
            }
        }
    }
    let line = |cells: &mut dyn Iterator<Item = &str>| -> String {
        let mut s = String::new();
        for (i, c) in cells.enumerate() {
            if i > 0 {
                s.push_str("  ");
            }
            s.push_str(c);
            let pad = widths[i].saturating_sub(c.chars().count());
            s.extend(std::iter::repeat_n(' ', pad));
        }
        s.trim_end().to_string()
    };
    let mut out = line(&mut headers.iter().copied());
    out.push('\n');
    let rule: Vec<String> = widths.iter().map(|w| "-".repeat(*w)).collect();
    out.push_str(&line(&mut rule.iter().map(String::as_str)));
    out.push('\n');
    for row in rows {
        out.push_str(&line(&mut row.iter().map(String::as_str)));
        out.push('\n');
    }
    out
}

/// A number without needless digits: `312`, `0.518`, `25.6`, `1.19`.
pub(crate) fn fmt_num(v: f64) -> String {
    if v == v.round() && v.abs() < 1e15 {
        return format!("{v:.0}");
    }
    // Three significant digits, trailing zeros dropped.
    let digits = (3 - 1 - v.abs().log10().floor() as i32).max(0) as usize;
    let s = format!("{v:.digits$}");
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    }
}

/// A size in decimal units as the datasheets write them: `25.6MB`, `302MB`, `80GB`, `1.5TB`.
pub(crate) fn fmt_bytes(b: f64) -> String {
    let (v, unit) = if b >= 1e12 {
        (b / 1e12, "TB")
    } else if b >= 1e9 {
        (b / 1e9, "GB")
    } else if b >= 1e6 {
        (b / 1e6, "MB")
    } else if b >= 1e3 {
        (b / 1e3, "KB")
    } else {
        (b, "B")
    };
    format!("{}{unit}", fmt_num(v))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_and_sizes() {
        assert_eq!(fmt_num(312.0), "312");
        assert_eq!(fmt_num(0.5181), "0.518");
        assert_eq!(fmt_num(25.63), "25.6");
        assert_eq!(fmt_num(1.189), "1.19");
        assert_eq!(fmt_bytes(25.6e6), "25.6MB");
        assert_eq!(fmt_bytes(80e9), "80GB");
        assert_eq!(fmt_bytes(1.5e12), "1.5TB");
    }

    #[test]
    fn columns_align() {
        let t = render_table(
            &["a", "bb"],
            &[
                vec!["xxx".into(), "1".into()],
                vec!["y".into(), "22".into()],
            ],
        );
        assert_eq!(t, "a    bb\n---  --\nxxx  1\ny    22\n");
    }
}
