//! Table (default) and JSON output.

use serde::Serialize;

#[derive(Clone, Copy)]
pub enum Format {
    Table,
    Json,
}

type Result = std::result::Result<(), Box<dyn std::error::Error + Send + Sync>>;

pub fn print_list<T: Serialize>(f: Format, items: &[T], headers: &[&str], rows: Vec<Vec<String>>) -> Result {
    match f {
        Format::Json => println!("{}", serde_json::to_string_pretty(items)?),
        Format::Table => print!("{}", table(headers, &rows)),
    }
    Ok(())
}

pub fn print_one<T: Serialize>(f: Format, item: &T, headers: &[&str], row: Vec<String>) -> Result {
    match f {
        Format::Json => println!("{}", serde_json::to_string_pretty(item)?),
        Format::Table => print!("{}", table(headers, &[row])),
    }
    Ok(())
}

/// Left-aligned columns separated by two spaces, padded to the widest cell.
pub fn table(headers: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        let mut s = cells
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect::<Vec<_>>()
            .join("  ");
        s.truncate(s.trim_end().len());
        s.push('\n');
        s
    };
    let mut out = line(headers.to_vec());
    for row in rows {
        out.push_str(&line(row.iter().map(String::as_str).collect()));
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn aligns_columns() {
        let t = super::table(&["A", "LONGER"], &[vec!["xyz".into(), "1".into()]]);
        assert_eq!(t, "A    LONGER\nxyz  1\n");
    }
}
