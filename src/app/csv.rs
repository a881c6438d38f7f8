//! CSV exports (cases, the scorecard): one writer, so every export quotes the same way, starts
//! with a BOM for spreadsheet programs, and never lets untrusted text become a formula.

/// One CSV cell: quoted when needed, and a cell that a spreadsheet would read as a formula
/// (customer text is untrusted) starts with `'`.
fn cell(value: &str) -> String {
    let value = if value.starts_with(['=', '+', '-', '@', '\t', '\r']) { format!("'{value}") } else { value.to_string() };
    if value.contains([',', '"', '\n', '\r']) { format!("\"{}\"", value.replace('"', "\"\"")) } else { value }
}

/// CSV rows (with a header and a BOM so spreadsheet programs read the Chinese).
pub(crate) fn csv<const N: usize>(header: [&str; N], rows: impl Iterator<Item = [String; N]>) -> String {
    let mut out = String::from("\u{feff}");
    out.push_str(&header.join(","));
    out.push_str("\r\n");
    for row in rows {
        out.push_str(&row.iter().map(|v| cell(v)).collect::<Vec<_>>().join(","));
        out.push_str("\r\n");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::cell;

    #[test]
    fn csv_cells_are_quoted_and_never_formulas() {
        assert_eq!(cell("精华 ×1"), "精华 ×1");
        assert_eq!(cell("a,b"), "\"a,b\"");
        assert_eq!(cell("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(cell("=HYPERLINK(\"x\")"), "\"'=HYPERLINK(\"\"x\"\")\"");
        assert_eq!(cell("-3"), "'-3");
        assert_eq!(cell("line\nbreak"), "\"line\nbreak\"");
    }
}
